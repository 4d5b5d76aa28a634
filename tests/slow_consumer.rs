//! A subscriber that never reads is closed with 1008 at its bound; the fast one is unaffected.

mod util;

use std::time::Duration;

use tungstenite::Message;
use util::{connect, next_data, watchdog, Raw, Relay};

#[test]
fn a_stalled_subscriber_is_closed_at_its_bound_and_others_keep_flowing() {
    watchdog(120, || {
        let mut config = util::test_config();
        config.limits.max_queued_bytes = 256 << 10;
        // The stalled reader only starts reading after the test is done publishing.
        config.limits.close_timeout = Duration::from_secs(60);
        let relay = Relay::start_with(config);
        let mut slow = Raw::upgraded(relay.addr, "/sub/feed");
        let mut fast = connect(&relay.url("/sub/feed"));
        let mut publisher = connect(&relay.url("/pub/feed"));
        let payload = "x".repeat(1000);
        let mut sent = 0;
        // Publish until the relay has given up on the stalled subscriber, reading the fast one
        // as we go; bounded by a count so the test cannot run away.
        while relay.stats().slow_consumer_closes == 0 {
            assert!(sent < 100_000, "the slow consumer was never closed");
            for _ in 0..100 {
                publisher.send(Message::text(payload.clone())).unwrap();
                sent += 1;
            }
            for _ in 0..100 {
                assert!(matches!(next_data(&mut fast), Message::Text(_)));
            }
        }
        // The relay and the fast subscriber go on.
        publisher.send(Message::text("after")).unwrap();
        assert_eq!(next_data(&mut fast), Message::text("after"));
        // The stalled one, once it reads, finds some data then the close frame with 1008.
        let (code, reason) = slow.expect_close();
        assert_eq!(code, 1008);
        assert!(reason.contains("slow consumer"), "{reason}");
        let stats = relay.stats();
        assert_eq!(stats.slow_consumer_closes, 1);
    });
}

#[test]
fn a_close_right_after_the_upgrade_still_sends_the_101_first() {
    watchdog(60, || {
        let mut config = util::test_config();
        config.limits.max_queued_bytes = 1024;
        let relay = Relay::start_with(config);
        // The upgrade and an echo bigger than the queue bound arrive in one segment: the echo
        // overflows the bound before the 101 has left.
        let mut raw = Raw::connect(relay.addr);
        let mut bytes = Raw::upgrade_request("/echo").into_bytes();
        bytes.extend(util::encode_frame(true, 2, &[5u8; 2000], true));
        raw.send(&bytes);
        assert_eq!(raw.read_response_head().0, 101);
        let (code, reason) = raw.expect_close();
        assert_eq!(code, 1008);
        assert!(reason.contains("slow consumer"), "{reason}");
    });
}
