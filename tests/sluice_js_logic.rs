//! The logic of the browser client `sluice.js` in Node, without a browser or a relay: positions,
//! resumes, duplicates, the refill after an epoch change, backoff, run-time subscriptions
//! (`tests/browser/sluice_js.test.mjs`, with a fake WebSocket and a manual clock). The same
//! client in real Chromium against a real relay: `tests/sluice_js_browser.rs`.
//!
//! Needs `node` (installed by `tests/run.sh`); without it the test fails under `CI=true` and is
//! skipped (with a message) otherwise.

mod util;

use std::process::Command;

use util::browser::browser_dir;
use util::watchdog;

#[test]
fn the_client_logic_passes_its_node_tests() {
    if Command::new("node").arg("--version").output().is_err() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "node is missing");
        eprintln!("skipping: node is missing; tests/run.sh installs it");
        return;
    }
    watchdog(120, || {
        let run = Command::new("node")
            .args(["--test", "--test-reporter=tap"])
            .arg(browser_dir().join("sluice_js.test.mjs"))
            .output()
            .expect("run node");
        let said = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "node --test failed ({}):\n{said}{}",
            run.status,
            String::from_utf8_lossy(&run.stderr)
        );
        let passed = said.lines().find_map(|l| l.strip_prefix("# pass ")).expect("a TAP summary");
        assert!(passed.trim().parse::<u32>().unwrap() >= 15, "{said}");
        assert!(said.contains("# fail 0"), "{said}");
    });
}
