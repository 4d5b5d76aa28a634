//! Computed results take the same compressed path as published messages: a pipeline's output
//! and a window's results reach a subscriber with permessage-deflate compressed (once per
//! result, whatever the number of such subscribers), intact, in order, next to a subscriber
//! without it.

mod util;

use std::time::Duration;

use serde_json::Value;
use sluice::ops::window::{Aggregates, Window};
use sluice::{Config, EventTime, Pipeline, Reactor, TextOp, WorkerConfig};
use util::deflate::{json_message, Client, BROWSER_OFFER};
use util::{encode_frame, watchdog, Relay};

#[test]
fn pipeline_and_window_results_are_compressed_once() {
    watchdog(120, || {
        let config = Config {
            workers: WorkerConfig { count: 2, pin: false, ..Default::default() },
            ..util::test_config()
        };
        let mut reactor = Reactor::bind(config).unwrap();
        reactor
            .add_pipeline(Pipeline::from_topic("in").text(TextOp::Upper).to_topic("up"))
            .unwrap();
        reactor
            .add_pipeline(
                Pipeline::from_topic("ticks")
                    .key_by(".k")
                    .event_time(EventTime::new(".ts").unwrap())
                    .window(Window::tumbling(Duration::from_secs(1)))
                    .aggregate(Aggregates::new().count("n"))
                    .to_topic("counts"),
            )
            .unwrap();
        let relay = Relay::run(reactor);
        let mut zipped: Vec<Client> = (0..3)
            .map(|_| Client::connect(relay.addr, "/sub/up,counts", Some(BROWSER_OFFER)))
            .collect();
        let mut plain = Client::connect(relay.addr, "/sub/up,counts", None);
        relay.wait_stats("4 subscribers of each", |s| {
            s.per_topic.iter().filter(|t| t.subscribers == 4).count() == 2
        });

        let inputs: Vec<String> = (0..20).map(|i| json_message(i, 1024)).collect();
        let mut p = Client::connect(relay.addr, "/pub/in", None);
        let burst: Vec<u8> =
            inputs.iter().flat_map(|m| encode_frame(true, 1, m.as_bytes(), true)).collect();
        p.raw.send(&burst);
        for c in zipped.iter_mut().chain(std::iter::once(&mut plain)) {
            let compressed = c.extensions.is_some();
            for m in &inputs {
                let got = c.read();
                assert_eq!(got.payload, m.to_uppercase().as_bytes());
                assert_eq!(got.compressed, compressed);
            }
        }
        relay.wait_stats("20 results compressed", |s| s.compression.compressed_messages == 20);

        // One window fires when the watermark passes its end; a long key makes its result
        // worth compressing (over min_size).
        let key = "k".repeat(300);
        let mut t = Client::connect(relay.addr, "/pub/ticks", None);
        for ts in [100, 300, 1500] {
            t.send(true, format!("{{\"k\":\"{key}\",\"ts\":{ts}}}").as_bytes(), false);
        }
        for c in zipped.iter_mut().chain(std::iter::once(&mut plain)) {
            let got = c.read();
            let v: Value = serde_json::from_slice(&got.payload).unwrap();
            assert_eq!((&v["n"], &v["key"]), (&Value::from(2), &Value::from(key.clone())), "{v}");
            assert_eq!(got.compressed, c.extensions.is_some());
        }
        assert_eq!(relay.stats().compression.compressed_messages, 21);
    });
}
