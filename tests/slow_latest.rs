//! The `latest` slow-consumer policy: while a subscriber is behind, only the latest message per
//! key is kept for it; when it drains it gets the latest value of every key that changed, marked
//! `"conflated":<messages it replaced>`, then continues. Nothing is silently lost.

mod util;

use std::collections::HashMap;

use serde_json::{json, Value};
use tungstenite::Message;
use util::{connect, envelope, next_data, watchdog, Relay};

#[test]
fn a_stalled_subscriber_ends_with_the_latest_value_of_every_key() {
    watchdog(120, || {
        let mut config = util::test_config();
        config.limits.max_queued_bytes = 64 << 10;
        config.topics = vec![sluice::config::TopicConfig {
            pattern: "prices".into(),
            slow: sluice::config::SlowPolicy::Latest,
            key: Some(sluice::ops::KeyPath::parse(".sym").unwrap()),
            ..Default::default()
        }];
        let relay = Relay::start_with(config);
        let mut slow = envelope::raw(relay.addr, "/sub/prices");
        let mut fast = connect(&relay.url("/sub/prices"));
        let mut publisher = connect(&relay.url("/pub/prices"));
        let pad = "p".repeat(400);
        let mut last: HashMap<String, u64> = HashMap::new();
        let mut sent = 0u64;
        let mut after = 0;
        while after < 500 {
            assert!(sent < 200_000, "the stalled subscriber was never conflated");
            for _ in 0..100 {
                sent += 1;
                let sym = format!("S{}", sent % 7);
                publisher
                    .send(Message::text(json!({"sym": sym, "n": sent, "pad": pad}).to_string()))
                    .unwrap();
                last.insert(sym, sent);
            }
            for _ in 0..100 {
                assert!(matches!(next_data(&mut fast), Message::Text(_)));
            }
            if relay.stats().drops.conflated > 0 {
                after += 100;
            }
        }
        assert_eq!(envelope::next_raw(&mut slow)["type"], "subscribed");
        // Read until the last value of every key has arrived; the stream accounts for every
        // offset: delivered, or replaced by a later value (counted in `conflated`).
        let mut seen: HashMap<String, u64> = HashMap::new();
        let (mut delivered, mut conflated, mut max_offset) = (0u64, 0u64, 0u64);
        while seen != last {
            let v: Value = envelope::next_raw(&mut slow);
            assert!(v.get("type").is_none(), "no gap or other control message: {v}");
            let offset = v["offset"].as_u64().unwrap();
            assert!(offset > max_offset, "offsets only go up: {offset} after {max_offset}");
            max_offset = offset;
            delivered += 1;
            conflated += v["conflated"].as_u64().unwrap_or(0);
            let sym = v["data"]["sym"].as_str().unwrap().to_string();
            let n = v["data"]["n"].as_u64().unwrap();
            assert_eq!(n, offset, "the payload is the message published at that offset");
            seen.insert(sym, n);
        }
        assert_eq!(max_offset, sent);
        assert_eq!(delivered + conflated, sent, "every offset delivered or conflated");
        assert_eq!(relay.stats().drops.conflated, conflated, "the relay counted the same");
        assert_eq!(relay.stats().slow_consumer_closes, 0);
    });
}

#[test]
fn too_many_keys_close_the_subscriber() {
    watchdog(120, || {
        let mut config = util::test_config();
        config.limits.max_queued_bytes = 16 << 10;
        config.topics = vec![sluice::config::TopicConfig {
            pattern: "k".into(),
            slow: sluice::config::SlowPolicy::Latest,
            key: Some(sluice::ops::KeyPath::parse(".id").unwrap()),
            max_keys: 50,
            ..Default::default()
        }];
        let relay = Relay::start_with(config);
        let mut slow = envelope::raw(relay.addr, "/sub/k");
        let mut publisher = connect(&relay.url("/pub/k"));
        let pad = "p".repeat(300);
        let mut id = 0u64;
        while relay.stats().slow_consumer_closes == 0 {
            assert!(id < 500_000, "never closed");
            for _ in 0..100 {
                id += 1;
                publisher.send(Message::text(json!({"id": id, "pad": pad}).to_string())).unwrap();
            }
        }
        let (code, reason) = slow.expect_close();
        assert_eq!(code, 1008);
        assert!(reason.contains("slow consumer"), "{reason}");
    });
}
