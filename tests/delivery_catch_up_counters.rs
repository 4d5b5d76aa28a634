//! Counters of the values a `latest` subscriber gets when its queue drains: they are messages
//! queued to a subscriber like any other, so the relay's `messages_out` and the topic's
//! `messages_out` and `bytes_out` count them, and the relay's total is the sum over its topics.

mod util;

use std::net::SocketAddr;

use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::Message;
use util::chaos::small_socket;
use util::{connect, watchdog, Relay, IO_TIMEOUT};

const CONFIG: &str = r#"
listen = "127.0.0.1:0"
[limits]
max_queued_bytes = "64KiB"
idle_ping = "10m"
[[topic]]
match = "t"
slow = "latest"
key = ".k"
"#;

#[test]
fn values_sent_when_a_latest_subscriber_drains_are_counted_out() {
    watchdog(120, || {
        let relay = Relay::start_with(sluice::Config::from_toml_str(CONFIG, None).unwrap());
        let SocketAddr::V4(addr) = relay.addr else { panic!("IPv4") };
        // A subscriber with a small socket, not reading yet.
        let stream = small_socket(addr, 4096, 1024).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut req = relay.url("/sub/t").into_client_request().unwrap();
        req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sluice.v1"));
        let (mut sub, _) = tungstenite::client(req, stream).expect("upgrade");
        // Publish until the relay holds values for it (it is behind), then stop. Each round is
        // read by the relay before the next is sent, so no batch is near the queue's bound.
        let mut publisher = connect(&relay.url("/pub/t"));
        let mut n = 0u64;
        loop {
            for _ in 0..100 {
                let msg = format!(r#"{{"k":{},"pad":"{}"}}"#, n % 4, "x".repeat(100));
                publisher.send(Message::text(msg)).unwrap();
                n += 1;
            }
            let s = relay.wait_stats("the publishes", |s| s.messages_in == n);
            if s.per_topic[0].drops.conflated > 0 {
                break;
            }
            assert!(n < 200_000, "the subscriber never fell behind");
        }
        // Read everything: the queue drains, and the held values come last.
        let (mut messages, mut bytes) = (0u64, 0u64);
        loop {
            let Message::Text(t) = sub.read().expect("read") else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v.get("type").is_some() {
                continue;
            }
            messages += 1;
            bytes += t.len() as u64 + if t.len() < 126 { 2 } else { 4 };
            if v["offset"].as_u64() == Some(n) {
                break;
            }
        }
        let s = relay.stats();
        let t = &s.per_topic[0];
        assert!(t.drops.conflated > 0);
        assert_eq!(
            (t.messages_out, t.bytes_out, s.messages_out, s.bytes_out),
            (messages, bytes, messages, bytes),
            "(the topic's messages and bytes out, the relay's) against what the subscriber got"
        );
    });
}
