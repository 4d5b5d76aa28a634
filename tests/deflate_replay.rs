//! What a subscriber with permessage-deflate catches up on is compressed too: a resume's replay
//! (`since=`), the last messages it asked for (`last=N`), and the values the `latest` policy
//! kept for it while it was behind — each message compressed (above `min_size`), intact and in
//! order, with the small control messages as they are.

mod util;

use serde_json::{json, Value};
use sluice::config::{HistoryConfig, SlowPolicy, TopicConfig};
use util::deflate::{json_message, Client, Received, BROWSER_OFFER};
use util::{encode_frame, test_config, watchdog, Relay};

const ENVELOPE: &str = "Sec-WebSocket-Protocol: sluice.v1\r\n";

fn json_of(m: &Received) -> Value {
    assert!(m.text);
    serde_json::from_slice(&m.payload).expect("JSON")
}

/// Publish `n` messages of ~1 KiB (numbered from `from`) on one connection, in one burst.
fn publish(relay: &Relay, topic: &str, from: u64, n: u64) -> Vec<String> {
    let msgs: Vec<String> = (from..from + n).map(|i| json_message(i, 1024)).collect();
    let mut p = Client::connect(relay.addr, &format!("/pub/{topic}"), None);
    let burst: Vec<u8> =
        msgs.iter().flat_map(|m| encode_frame(true, 1, m.as_bytes(), true)).collect();
    p.raw.send(&burst);
    msgs
}

#[test]
fn resumes_and_last_n_are_compressed() {
    watchdog(120, || {
        let mut config = test_config();
        config.topics = vec![TopicConfig {
            pattern: "*".into(),
            history: HistoryConfig { size: 1000, ttl: std::time::Duration::from_secs(300) },
            ..Default::default()
        }];
        let relay = Relay::start_with(config);
        publish(&relay, "r", 0, 10);
        relay.wait_stats("10 published", |s| s.messages_in == 10);
        let mut first = Client::connect_with(relay.addr, "/sub/r", Some(BROWSER_OFFER), ENVELOPE);
        let sub = first.read();
        assert!(!sub.compressed, "a control message is small");
        let sub = json_of(&sub);
        assert_eq!((&sub["type"], &sub["offset"]), (&json!("subscribed"), &json!(10)));
        let epoch = sub["epoch"].as_str().unwrap().to_string();
        drop(first);
        let missed = publish(&relay, "r", 10, 50);
        relay.wait_stats("60 published", |s| s.messages_in == 60);

        let before = relay.stats().compression.compressed_messages;
        let mut back = Client::connect_with(
            relay.addr,
            &format!("/sub/r?since={epoch}:10"),
            Some(BROWSER_OFFER),
            ENVELOPE,
        );
        let rec = json_of(&back.read());
        assert_eq!(
            (&rec["recovered"], &rec["from"], &rec["to"]),
            (&json!(true), &json!(11), &json!(60))
        );
        for (i, m) in missed.iter().enumerate() {
            let got = back.read();
            assert!(got.compressed, "replayed #{i} compressed");
            let v = json_of(&got);
            assert_eq!(v["offset"], 11 + i as u64);
            assert_eq!(v["data"], serde_json::from_str::<Value>(m).unwrap());
        }
        assert_eq!(relay.stats().compression.compressed_messages - before, 50);

        // last=N in raw mode: the newest N, compressed, then live.
        let mut last = Client::connect(relay.addr, "/sub/r?last=5", Some(BROWSER_OFFER));
        for m in &missed[45..] {
            let got = last.read();
            assert!(got.compressed);
            assert_eq!(got.payload, m.as_bytes());
        }
        let live = publish(&relay, "r", 60, 1);
        let got = last.read();
        assert!(got.compressed);
        assert_eq!(got.payload, live[0].as_bytes());
    });
}

#[test]
fn values_held_by_the_latest_policy_are_compressed() {
    watchdog(120, || {
        let mut config = test_config();
        config.limits.max_queued_bytes = 64 << 10;
        config.topics = vec![TopicConfig {
            pattern: "prices".into(),
            slow: SlowPolicy::Latest,
            key: Some(sluice::ops::KeyPath::parse(".sym").unwrap()),
            ..Default::default()
        }];
        let relay = Relay::start_with(config);
        // Not read until the relay has conflated values for it.
        let mut slow =
            Client::connect_with(relay.addr, "/sub/prices", Some(BROWSER_OFFER), ENVELOPE);
        let mut publisher = Client::connect(relay.addr, "/pub/prices", None);
        let pad = "p".repeat(400);
        let mut sent = 0u64;
        while relay.stats().drops.conflated == 0 {
            assert!(sent < 200_000, "the stalled subscriber was never conflated");
            let mut burst = Vec::new();
            for _ in 0..100 {
                sent += 1;
                let m = json!({"sym": format!("S{}", sent % 7), "n": sent, "pad": pad});
                burst.extend(encode_frame(true, 1, m.to_string().as_bytes(), true));
            }
            publisher.raw.send(&burst);
            relay.wait_stats("the burst", |s| s.messages_in == sent);
        }
        assert_eq!(json_of(&slow.read())["type"], "subscribed");
        let (mut conflated_seen, mut max_offset) = (0, 0);
        while max_offset < sent {
            let m = slow.read();
            let v = json_of(&m);
            assert!(m.compressed, "{v}");
            let offset = v["offset"].as_u64().unwrap();
            assert!(offset > max_offset);
            max_offset = offset;
            assert_eq!(v["data"]["n"], offset);
            conflated_seen += u64::from(v.get("conflated").is_some());
        }
        assert!(conflated_seen > 0, "values marked conflated arrived");
    });
}
