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

/// A node driver script from [`browser_dir`], spoken to line by line: commands on its stdin,
/// answers on its stdout (stderr is passed through). Killed when dropped.
pub struct Driver {
    pub child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Driver {
    /// Start `node <browser_dir>/<script> <args…>`.
    pub fn start(script: &str, args: &[&str]) -> Driver {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = Command::new("node")
            .arg(browser_dir().join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Driver { child, stdin, lines }
    }

    /// Send one command line.
    pub fn send(&mut self, line: &str) {
        use std::io::Write;
        writeln!(self.stdin, "{line}").expect("write to the driver");
    }

    /// Wait (up to `timeout`) for a line starting with `prefix` and return the rest of it; a
    /// `FAIL` line first fails the test with everything the driver said.
    pub fn expect(&self, prefix: &str, timeout: std::time::Duration) -> String {
        let mut said = Vec::new();
        loop {
            let line = self.lines.recv_timeout(timeout).unwrap_or_else(|_| {
                panic!("the browser driver never said {prefix}; it said: {said:#?}")
            });
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_string();
            }
            assert!(!line.starts_with("FAIL"), "the driver failed: {line}\n{said:#?}");
            said.push(line);
        }
    }

    /// Wait for the driver to exit; panics unless it succeeded.
    pub fn finish(mut self) {
        let status = self.child.wait().expect("wait for the driver");
        assert!(status.success(), "the driver exited with {status}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
