//! Compress once per message per format: one topic with subscribers of all four kinds — raw
//! and envelope (`sluice.v1`), each with and without permessage-deflate, three of each. Every
//! subscriber receives every message intact and in order, compressed exactly when it
//! negotiated the extension; the relay's compressor ran once per message for the raw format and
//! once for the envelope format (2 per message), whatever the number of subscribers.

mod util;

use serde_json::Value;
use util::deflate::{json_message, Client, BROWSER_OFFER};
use util::{encode_frame, watchdog, Relay};

const ENVELOPE: &str = "Sec-WebSocket-Protocol: sluice.v1\r\n";
const MESSAGES: u64 = 50;

#[test]
fn raw_and_envelope_frames_are_each_compressed_once() {
    watchdog(180, || {
        let relay = Relay::start();
        // (envelope, deflate) for each kind, three subscribers each.
        let kinds = [(false, false), (false, true), (true, false), (true, true)];
        let mut subs: Vec<((bool, bool), Client)> = Vec::new();
        for (envelope, deflate) in kinds {
            for _ in 0..3 {
                let offer = deflate.then_some(BROWSER_OFFER);
                let extra = if envelope { ENVELOPE } else { "" };
                let c = Client::connect_with(relay.addr, "/sub/mix", offer, extra);
                assert_eq!(c.extensions.is_some(), deflate, "{}", c.head);
                subs.push(((envelope, deflate), c));
            }
        }
        relay.wait_stats("12 subscribers", |s| {
            s.per_topic.iter().any(|t| t.name == "mix" && t.subscribers == 12)
        });
        // Envelope subscribers get a `subscribed` control message first (small: uncompressed).
        for ((envelope, _), c) in subs.iter_mut() {
            if *envelope {
                let m = c.read();
                assert!(!m.compressed);
                let v: Value = serde_json::from_slice(&m.payload).unwrap();
                assert_eq!(v["type"], "subscribed");
            }
        }
        let before = relay.stats().compression.compressed_messages;
        let sent: Vec<String> = (0..MESSAGES).map(|n| json_message(n, 1024)).collect();
        let mut publisher = Client::connect(relay.addr, "/pub/mix", None);
        let burst: Vec<u8> =
            sent.iter().flat_map(|m| encode_frame(true, 1, m.as_bytes(), true)).collect();
        publisher.raw.send(&burst);

        for (i, ((envelope, deflate), c)) in subs.iter_mut().enumerate() {
            for (n, m) in sent.iter().enumerate() {
                let got = c.read();
                assert_eq!(got.compressed, *deflate, "subscriber {i}, #{n}");
                if *envelope {
                    let v: Value = serde_json::from_slice(&got.payload).unwrap();
                    assert_eq!(v["offset"], n as u64 + 1, "subscriber {i}");
                    assert_eq!(v["data"], serde_json::from_str::<Value>(m).unwrap());
                } else {
                    assert_eq!(got.payload, m.as_bytes(), "subscriber {i}, #{n}");
                }
            }
        }
        let z = relay.stats().compression;
        assert_eq!(z.compressed_messages - before, 2 * MESSAGES, "{z:?}");
        assert_eq!(z.connections, 6);
    });
}
