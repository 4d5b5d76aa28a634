//! `latest`: a subscriber whose queue could not take a batch although nothing was queued (the
//! batch alone is larger than `max_queued_bytes`) is behind with an empty queue. It must still
//! get the batch's latest value (marked `"conflated"`) then, not only when the topic publishes
//! again: a dashboard would otherwise show a stale value for as long as the topic is quiet.

mod util;

use util::{envelope, watchdog, Raw, Relay};

const CONFIG: &str = r#"
listen = "127.0.0.1:0"
[limits]
max_queued_bytes = "4KiB"
idle_ping = "10m"
[[topic]]
match = "t"
slow = "latest"
"#;

#[test]
fn a_batch_larger_than_the_bound_reaches_a_reading_subscriber_as_its_latest_value() {
    watchdog(90, || {
        let relay = Relay::start_with(sluice::Config::from_toml_str(CONFIG, None).unwrap());
        let mut sub = envelope::connect(&relay.url("/sub/t"));
        assert_eq!(envelope::next(&mut sub)["type"], "subscribed");
        // Ten messages of about 600 bytes in one write: one read, one batch, whose envelopes
        // (about 6.8 KB) do not fit the subscriber's empty queue (4 KiB).
        let mut burst = Vec::new();
        for i in 0..10 {
            let msg = format!("{i} {}", "x".repeat(600));
            burst.extend(util::encode_frame(true, 1, msg.as_bytes(), true));
        }
        let mut publisher = Raw::upgraded(relay.addr, "/pub/t");
        publisher.send(&burst);
        let s = relay.wait_stats("the burst", |s| s.messages_in == 10);
        assert_eq!(s.per_topic[0].drops.conflated, 9, "{:?}", s.per_topic[0].drops);
        // Nothing else is published: the held value must come now (the read times out after
        // 30 s, and the relay's keepalive ping, which would flush it, is 10 minutes away).
        let v = envelope::next(&mut sub);
        assert_eq!((v["offset"].as_u64(), v["conflated"].as_u64()), (Some(10), Some(9)), "{v}");
    });
}
