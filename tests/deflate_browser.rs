//! permessage-deflate in real headless Chromium: a page (`tests/browser/pages/deflate.html`,
//! served by the relay) opens a plain WebSocket to `/sub/big`; Chromium offers the extension,
//! the relay accepts it and `ws.extensions` says `permessage-deflate`. A Rust publisher then
//! sends large JSON messages (and a few small ones, below `min_size`), and the page must
//! receive every one intact and in order, while the relay's compressor ran once per large
//! message and sent fewer bytes than it was given.
//!
//! `tests/run.sh` installs Chromium, node and the npm package; without them the test fails
//! under `CI=true` and is skipped (with a message) otherwise.

mod util;

use std::path::Path;
use std::time::Duration;

use tungstenite::Message;
use util::browser::{prerequisites, Driver};
use util::deflate::json_message;
use util::{connect, watchdog, Relay};

const STEP_TIMEOUT: Duration = Duration::from_secs(120);
const MESSAGES: u64 = 60;

#[test]
fn chromium_negotiates_permessage_deflate_and_gets_large_json_intact() {
    if !prerequisites() {
        return;
    }
    watchdog(300, || {
        let mut config = util::test_config();
        config.metrics.dashboard = false;
        config.web.static_dir =
            Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/pages"));
        let relay = Relay::start_with(config);
        let page = format!("http://{}/app/deflate.html?topic=big", relay.addr);
        let mut driver = Driver::start("deflate.mjs", &[&page]);
        let extensions = driver.expect("OPEN ", STEP_TIMEOUT);
        let extensions: String = serde_json::from_str(&extensions).unwrap();
        assert!(extensions.starts_with("permessage-deflate"), "ws.extensions = {extensions:?}");
        assert!(extensions.contains("server_no_context_takeover"), "{extensions:?}");
        relay.wait_stats("the page's subscription", |s| {
            s.per_topic.iter().any(|t| t.name == "big" && t.subscribers == 1)
        });

        // Every tenth message a small tick (sent uncompressed), the others 4 to 60 KiB of JSON.
        let sent: Vec<String> = (0..MESSAGES)
            .map(|n| match n % 10 {
                9 => format!("{{\"tick\":{n}}}"),
                _ => json_message(n, 4096 + (n as usize % 15) * 4096),
            })
            .collect();
        let large = sent.iter().filter(|m| m.len() >= 256).count() as u64;
        let mut publisher = connect(&relay.url("/pub/big"));
        for m in &sent {
            publisher.send(Message::text(m.as_str())).unwrap();
        }
        driver.send(&format!("WAIT {MESSAGES}"));
        let got: Vec<String> =
            serde_json::from_str(&driver.expect("MESSAGES ", STEP_TIMEOUT)).unwrap();
        driver.finish();
        assert_eq!(got.len(), sent.len());
        for (n, (g, s)) in got.iter().zip(&sent).enumerate() {
            assert!(g == s, "message {n}: {} bytes received, {} sent", g.len(), s.len());
        }
        let z = relay.stats().compression;
        assert_eq!(z.compressed_messages, large, "{z:?}");
        assert!(z.compressed_bytes_out * 2 < z.compressed_bytes_in, "{z:?}");
    });
}
