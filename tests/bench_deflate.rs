//! `sluice-bench pubsub --deflate`: the subscribers offer permessage-deflate, the relay accepts
//! it and compresses the messages (above `min_size`), and the bench inflates them: every message
//! is delivered once, in order, with its stamp readable. Without `--deflate` nothing is
//! compressed. Counts only, never speed.

mod util;

use std::process::Command;

use serde_json::Value;
use util::{watchdog, Relay};

/// Run `sluice-bench pubsub` against `relay` with 3 subscribers; returns its JSON summary.
fn pubsub(relay: &Relay, topic: &str, deflate: bool) -> Value {
    let dir = std::env::temp_dir().join(format!("sluice-bench-deflate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join(format!("{topic}.json"));
    let (p, s) = (relay.url(&format!("/pub/{topic}")), relay.url(&format!("/sub/{topic}")));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice-bench"));
    cmd.args(["pubsub", "--pub", &p, "--sub", &s, "--subs", "3", "--rate", "1k", "--size", "1k"]);
    cmd.args(["--duration", "300ms", "--warmup", "100ms", "--drain", "30s", "-q"]);
    cmd.args(["--json", json.to_str().unwrap()]);
    if deflate {
        cmd.arg("--deflate");
    }
    let out = cmd.output().expect("run sluice-bench");
    assert!(
        out.status.success(),
        "sluice-bench failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

fn count(v: &Value, key: &str) -> u64 {
    v["counts"][key].as_u64().unwrap_or_else(|| panic!("counts.{key} missing in {v}"))
}

#[test]
fn pubsub_with_deflate_inflates_every_message() {
    watchdog(180, || {
        let relay = Relay::start();
        let plain = pubsub(&relay, "plain", false);
        assert_eq!(relay.stats().compression.compressed_messages, 0);
        assert_eq!(relay.stats().compression.negotiated, 0);

        let zipped = pubsub(&relay, "zipped", true);
        for v in [&plain, &zipped] {
            let sent = count(v, "sent");
            assert!(sent > 0, "{v}");
            assert_eq!(count(v, "delivered"), 3 * sent, "{}", v["counts"]);
            for key in ["lost", "duplicated", "out_of_order", "unparsable"] {
                assert_eq!(count(v, key), 0, "{key}: {}", v["counts"]);
            }
            assert_eq!(v["errors"].as_array().map(Vec::len), Some(0), "{}", v["errors"]);
        }
        let z = relay.stats().compression;
        assert_eq!(z.negotiated, 3, "{z:?}");
        // Once per message, whatever the number of subscribers.
        assert_eq!(z.compressed_messages, count(&zipped, "sent"), "{z:?}");
        assert!(z.compressed_bytes_out < z.compressed_bytes_in, "{z:?}");
        relay.stop();
    });
}
