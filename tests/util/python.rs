//! The Python interpreter the tests run: the virtual environment that
//! `tests/tools/install-deps.sh` creates in the build area (`target/venv`, or `$SLUICE_VENV`),
//! so the packages the tests need never go into the system's Python. `$SLUICE_PYTHON` names
//! another interpreter; without either, `python3` from `PATH`.

use std::path::{Path, PathBuf};

/// The interpreter to run Python helpers with.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SLUICE_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = std::env::var_os("SLUICE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv"));
    let py = venv.join("bin/python3");
    if py.exists() {
        py
    } else {
        PathBuf::from("python3")
    }
}
