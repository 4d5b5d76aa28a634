//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by
//! `playwright-core` from `tests/browser/`) opens the page served by the real `sluice` binary,
//! subscribes to a topic in the topic viewer, a Rust client publishes, and the page must show
//! the message and move its counters; then the page publishes and a Rust subscriber must get it.
//! The relay runs a pipeline on the topic, so the page must also show it: its counters, its
//! output topic marked as produced by it, and a queue gauge per worker. A screenshot is saved
//! under the test's output directory.
//!
//! `tests/run.sh` installs Chromium and the npm package. Without them the test fails under
//! `CI=true` and is skipped (with a message) otherwise.

mod util;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tungstenite::Message;
use util::browser::{browser_dir, prerequisites};
use util::{connect, next_data, watchdog, Binary};

const STEP_TIMEOUT: Duration = Duration::from_secs(90);

#[test]
fn the_dashboard_shows_live_messages_and_counters_in_chromium() {
    if !prerequisites() {
        return;
    }
    watchdog(300, || {
        let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard_browser");
        std::fs::create_dir_all(&out_dir).unwrap();
        let config = out_dir.join("relay.toml");
        std::fs::write(
            &config,
            "listen = \"127.0.0.1:0\"\n[[pipeline]]\nname = \"shout\"\nfrom = \"demo\"\n\
             to = \"demo.loud\"\nsteps = [{ text = \"upper\" }]\n",
        )
        .unwrap();
        let relay =
            Binary::start(&["--config", config.to_str().unwrap(), "--workers", "2", "--no-pin"]);
        let base = format!("http://{}", relay.addr);
        let shot = out_dir.join("dashboard.png");
        let _ = std::fs::remove_file(&shot);

        let mut driver = Command::new("node")
            .arg(browser_dir().join("dashboard.mjs"))
            .args([base.as_str(), "demo", shot.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node");
        let mut to_driver = driver.stdin.take().unwrap();
        let (tx, from_driver) = mpsc::channel();
        let stdout = driver.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let expect = |prefix: &str| -> String {
            let line = from_driver
                .recv_timeout(STEP_TIMEOUT)
                .unwrap_or_else(|_| panic!("the browser driver never said {prefix}"));
            assert!(line.starts_with(prefix), "expected {prefix}, the driver said: {line}");
            line[prefix.len()..].trim().to_string()
        };

        expect("READY");
        let mut publisher = connect(&format!("ws://{}/pub/demo", relay.addr));
        let mut subscriber = connect(&format!("ws://{}/sub/demo", relay.addr));
        let text = "hello from a Rust client ✓";
        publisher.send(Message::text(text)).unwrap();
        // Our own subscriber sees it first, so we know the relay has it.
        assert_eq!(next_data(&mut subscriber), Message::text(text));
        writeln!(to_driver, "PUBLISHED {text}").unwrap();
        expect("SEEN");
        // The pipeline's result, seen by a Rust subscriber; the page must show the pipeline.
        let mut loud = connect(&format!("ws://{}/sub/demo.loud", relay.addr));
        publisher.send(Message::text("quiet")).unwrap();
        assert_eq!(next_data(&mut subscriber), Message::text("quiet"));
        assert_eq!(next_data(&mut loud), Message::text("QUIET"));
        writeln!(to_driver, "PIPELINED shout demo.loud 2").unwrap();
        expect("PIPELINE_SHOWN");

        let from_page = expect("BROWSER_PUBLISHED ");
        assert_eq!(next_data(&mut subscriber), Message::text(from_page));
        writeln!(to_driver, "RECEIVED").unwrap();
        let saved = expect("SCREENSHOT ");
        assert_eq!(Path::new(&saved), shot);
        let status = driver.wait().unwrap();
        assert!(status.success(), "driver exited with {status}");
        let png = std::fs::read(&shot).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "not a real screenshot");
        eprintln!("dashboard screenshot: {}", shot.display());
    });
}
