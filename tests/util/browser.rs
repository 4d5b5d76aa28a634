//! Headless Chromium for the browser tests: Debian's `chromium`, driven by `playwright-core`
//! from `tests/browser/` (both installed by `tests/tools/install-deps.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory of the node drivers and their `node_modules`.
pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Whether Chromium, node and playwright-core are present. Under `CI=true` a missing one fails
/// the test; otherwise the test is skipped with a message.
pub fn prerequisites() -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing: Vec<String> = [
        (Path::new(&chromium).exists(), format!("{chromium} (apt-get install chromium)")),
        (
            Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success()),
            "node".into(),
        ),
        (
            browser_dir().join("node_modules/playwright-core").exists(),
            "tests/browser/node_modules/playwright-core (npm ci in tests/browser)".into(),
        ),
    ]
    .into_iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, what)| what)
    .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("missing {}; tests/run.sh installs them", missing.join(", "));
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("skipping the browser test: {why}");
    false
}
