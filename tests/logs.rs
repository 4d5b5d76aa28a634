//! Logs of the real binary: `--log-format json` writes one JSON object per line for each
//! significant event (start, slow-consumer close, stop), with a level, a timestamp and a message.

mod util;

use std::time::Duration;

use serde_json::Value;
use tungstenite::Message;
use util::{connect, watchdog, Binary, Raw, IO_TIMEOUT};

fn parse(line: &str) -> Value {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    for key in ["ts", "level", "target", "msg"] {
        assert!(v[key].is_string(), "`{key}` missing in {line}");
    }
    assert!(v["ts"].as_str().unwrap().ends_with('Z'), "{line}");
    v
}

/// The next log line whose message contains `needle`; every line on the way must be JSON.
fn wait_for(bin: &Binary, needle: &str) -> Value {
    loop {
        let line = bin
            .stderr_lines
            .recv_timeout(IO_TIMEOUT)
            .unwrap_or_else(|_| panic!("no log line containing {needle:?}"));
        let v = parse(&line);
        if v["msg"].as_str().unwrap().contains(needle) {
            return v;
        }
    }
}

#[test]
fn json_logs_cover_start_slow_consumer_and_stop() {
    watchdog(120, || {
        let mut bin = Binary::start(&["--log-format", "json", "--max-queued-bytes", "64KiB"]);
        let start = wait_for(&bin, "dashboard on http://");
        assert_eq!(start["level"], "info");

        let _stalled = Raw::upgraded(bin.addr, "/sub/feed");
        let mut publisher = connect(&format!("ws://{}/pub/feed", bin.addr));
        let payload = "x".repeat(1000);
        let warn = 'found: {
            for _ in 0..1000 {
                for _ in 0..100 {
                    publisher.send(Message::text(payload.clone())).unwrap();
                }
                if let Ok(line) = bin.stderr_lines.recv_timeout(Duration::from_millis(1)) {
                    let v = parse(&line);
                    if v["msg"].as_str().unwrap().contains("slow consumer") {
                        break 'found v;
                    }
                }
            }
            panic!("no slow-consumer log line after 100000 messages");
        };
        assert_eq!(warn["level"], "warn");
        assert!(warn["msg"].as_str().unwrap().contains("65536"), "{warn}");

        bin.signal(libc::SIGTERM);
        wait_for(&bin, "stopping gracefully");
        let stopped = wait_for(&bin, "stopped after");
        assert!(stopped["msg"].as_str().unwrap().contains("1 slow-consumer closes"), "{stopped}");
        assert!(bin.wait().success());
    });
}

#[test]
fn log_level_debug_shows_per_connection_events() {
    watchdog(60, || {
        let bin = Binary::start(&["--log-level", "debug"]);
        assert_eq!(Raw::http(bin.addr, b"GET /nope HTTP/1.1\r\n\r\n").0, 404);
        loop {
            let line = bin.stderr_lines.recv_timeout(IO_TIMEOUT).expect("a debug line for the 404");
            if line.contains("DEBUG") && line.contains("HTTP 404 before upgrade") {
                break;
            }
        }
    });
}
