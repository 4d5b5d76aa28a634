//! The `skip` slow-consumer policy: a subscriber over its bound is not closed; its messages are
//! skipped (counted), and when it drains it gets a `gap` naming exactly what it missed, then
//! continues. Other subscribers are unaffected.

mod util;

use serde_json::json;
use tungstenite::Message;
use util::{connect, envelope, next_data, watchdog, Relay};

#[test]
fn a_stalled_subscriber_gets_a_gap_for_exactly_what_it_missed() {
    watchdog(120, || {
        let mut config = util::test_config();
        config.limits.max_queued_bytes = 64 << 10;
        config.topics = vec![sluice::config::TopicConfig {
            pattern: "feed".into(),
            slow: sluice::config::SlowPolicy::Skip,
            ..Default::default()
        }];
        let relay = Relay::start_with(config);
        let mut slow = envelope::raw(relay.addr, "/sub/feed");
        let mut fast = connect(&relay.url("/sub/feed"));
        let mut publisher = connect(&relay.url("/pub/feed"));
        let payload = "x".repeat(500);
        let mut sent = 0u64;
        // Publish until the relay skips for the stalled subscriber, then a little more.
        let mut after = 0;
        while after < 200 {
            assert!(sent < 200_000, "the stalled subscriber was never skipped");
            for _ in 0..100 {
                publisher.send(Message::text(payload.clone())).unwrap();
                sent += 1;
            }
            for _ in 0..100 {
                assert!(matches!(next_data(&mut fast), Message::Text(_)));
            }
            if relay.stats().drops.skipped > 0 {
                after += 100;
            }
        }
        let stats = relay.stats();
        assert_eq!(stats.slow_consumer_closes, 0, "skip never closes");
        // The stalled subscriber reads now: offsets from 1, one gap, and nothing else missing.
        assert_eq!(envelope::next_raw(&mut slow)["type"], "subscribed");
        let (mut delivered, mut skipped, mut expect) = (0u64, 0u64, 1u64);
        while expect <= sent {
            let v = envelope::next_raw(&mut slow);
            if v["type"] == "gap" {
                assert_eq!((&v["from"], &v["reason"]), (&json!(expect), &json!("slow_consumer")));
                let to = v["to"].as_u64().unwrap();
                skipped += to - expect + 1;
                expect = to + 1;
            } else {
                assert_eq!(v["offset"], expect, "{v}");
                delivered += 1;
                expect += 1;
            }
        }
        assert!(skipped > 0, "something was skipped");
        assert_eq!(delivered + skipped, sent);
        assert_eq!(relay.stats().drops.skipped, skipped, "the relay counted the same");
        // It continues live.
        publisher.send(Message::text("after")).unwrap();
        let v = envelope::next_raw(&mut slow);
        assert_eq!((&v["offset"], &v["data"]), (&json!(sent + 1), &json!("after")));
        assert_eq!(next_data(&mut fast), Message::text("after"));
    });
}
