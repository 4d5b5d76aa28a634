//! Compress once per message, whatever the number of subscribers: 8 subscribers with
//! permessage-deflate and 4 without, on one topic. Every subscriber receives every payload
//! byte for byte, in order; the compressed ones get each large message compressed and each
//! small one (below `min_size`) as it is, inside the same batches; the relay's compressor ran
//! once per large message (not once per subscriber); and fewer bytes came over the wire to
//! the compressed subscribers.

mod util;

use util::deflate::{json_message, Client, BROWSER_OFFER};
use util::{watchdog, Relay};

const MESSAGES: u64 = 200;

#[test]
fn each_message_is_compressed_once_for_all_its_subscribers() {
    watchdog(180, || {
        let relay = Relay::start();
        let mut zipped: Vec<Client> =
            (0..8).map(|_| Client::connect(relay.addr, "/sub/f", Some(BROWSER_OFFER))).collect();
        let mut plain: Vec<Client> =
            (0..4).map(|_| Client::connect(relay.addr, "/sub/f", None)).collect();
        assert!(zipped.iter().all(|c| c.extensions.is_some()));
        assert!(plain.iter().all(|c| c.extensions.is_none()));
        relay.wait_stats("12 subscribers", |s| {
            s.per_topic.iter().any(|t| t.name == "f" && t.subscribers == 12)
        });
        // Every third message is a small tick (below min_size), the others ~1 KiB of JSON;
        // one publisher sends them all in a burst so batches mix both kinds.
        let sent: Vec<(bool, Vec<u8>)> = (0..MESSAGES)
            .map(|n| match n % 3 {
                2 => (true, format!("{{\"tick\":{n}}}").into_bytes()),
                1 => (false, json_message(n, 1024).into_bytes()),
                _ => (true, json_message(n, 1024).into_bytes()),
            })
            .collect();
        let large = sent.iter().filter(|(_, p)| p.len() >= 256).count() as u64;
        let mut publisher = Client::connect(relay.addr, "/pub/f", None);
        let burst: Vec<u8> = sent
            .iter()
            .flat_map(|(text, p)| util::encode_frame(true, if *text { 1 } else { 2 }, p, true))
            .collect();
        publisher.raw.send(&burst);

        for (i, c) in zipped.iter_mut().enumerate() {
            for (n, (text, payload)) in sent.iter().enumerate() {
                let m = c.read();
                assert_eq!(
                    (m.text, &m.payload),
                    (*text, payload),
                    "compressed subscriber {i}, #{n}"
                );
                assert_eq!(m.compressed, payload.len() >= 256, "compressed subscriber {i}, #{n}");
            }
        }
        for (i, c) in plain.iter_mut().enumerate() {
            for (n, (text, payload)) in sent.iter().enumerate() {
                let m = c.read();
                assert_eq!((m.text, &m.payload), (*text, payload), "plain subscriber {i}, #{n}");
                assert!(!m.compressed);
            }
        }
        let s = relay.stats();
        let z = s.compression;
        assert_eq!(z.compressed_messages, large, "once per message, not per subscriber");
        assert_eq!(z.uncompressed_small, MESSAGES - large);
        assert_eq!(z.uncompressed_incompressible + z.compress_failed, 0);
        assert_eq!(s.messages_out, 12 * MESSAGES);
        // Bytes over the wire (the 101 heads differ by one header line only).
        let wire = |c: &Client| c.raw.received;
        let (zmax, pmin) =
            (zipped.iter().map(wire).max().unwrap(), plain.iter().map(wire).min().unwrap());
        assert!(zmax * 10 < pmin * 7, "compressed {zmax} bytes vs plain {pmin}");
        // What /metrics shows.
        let metrics = util::deflate::metrics_text(relay.addr);
        assert!(
            metrics.contains(&format!(
                "sluice_deflate_messages_total{{direction=\"compress\"}} {large}"
            )),
            "{metrics}"
        );
        assert!(metrics.contains("sluice_deflate_connections 8"), "{metrics}");
    });
}
