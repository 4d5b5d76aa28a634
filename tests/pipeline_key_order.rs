//! Keyed routing: 100 keys × 1,000 messages through 4 workers. Every key is handled by one
//! worker, and each key's messages arrive in publish order.

mod util;

use std::collections::HashMap;

use sluice::{Config, Pipeline, Reactor, Record, WorkerConfig};
use tungstenite::Message;
use util::{connect, next_data, watchdog, Relay};

const KEYS: usize = 100;
const PER_KEY: usize = 1000;

#[test]
fn per_key_order_holds_across_four_workers() {
    watchdog(600, || {
        let mut config = Config {
            workers: WorkerConfig { count: 4, pin: false, queue: 1 << 16, ..Default::default() },
            ..util::test_config()
        };
        config.limits.max_queued_bytes = 256 << 20;
        let mut reactor = Reactor::bind(config).unwrap();
        reactor
            .add_pipeline(
                Pipeline::from_topic("events")
                    .key_by(".k")
                    .map_jq("{k, n}")
                    // Tag each result with the worker thread that produced it.
                    .map(|mut r: Record| {
                        let thread = std::thread::current();
                        let text = format!(
                            "{}|{}",
                            thread.name().unwrap_or("?"),
                            r.as_str().unwrap_or("")
                        );
                        r.set_text(&text);
                        r
                    })
                    .to_topic("events.out"),
            )
            .unwrap();
        let relay = Relay::run(reactor);
        let mut sub = connect(&relay.url("/sub/events.out"));
        let url = relay.url("/pub/events");
        let publisher = std::thread::spawn(move || {
            let mut p = connect(&url);
            for n in 0..PER_KEY {
                for k in 0..KEYS {
                    p.send(Message::text(format!("{{\"k\":\"key{k}\",\"n\":{n},\"pad\":true}}")))
                        .unwrap();
                }
            }
            p
        });
        let mut next: HashMap<String, u64> = HashMap::new();
        let mut owner: HashMap<String, String> = HashMap::new();
        for _ in 0..KEYS * PER_KEY {
            let Message::Text(t) = next_data(&mut sub) else { panic!("expected text") };
            let (worker, json) = t.as_str().split_once('|').unwrap();
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            let k = v["k"].as_str().unwrap().to_string();
            let n = v["n"].as_u64().unwrap();
            let expected = next.entry(k.clone()).or_insert(0);
            assert_eq!(n, *expected, "key {k} out of order");
            *expected += 1;
            let o = owner.entry(k.clone()).or_insert_with(|| worker.to_string());
            assert_eq!(o, worker, "key {k} moved between workers");
        }
        let _publisher = publisher.join().unwrap();
        assert_eq!(next.len(), KEYS);
        assert!(next.values().all(|&n| n == PER_KEY as u64));
        let mut workers: Vec<&String> = owner.values().collect();
        workers.sort();
        workers.dedup();
        assert_eq!(workers.len(), 4, "100 keys should use all 4 workers: {workers:?}");
        let s = relay.wait_stats("counters", |s| s.pipelines[0].records_out == 100_000);
        let p = &s.pipelines[0];
        assert_eq!((p.messages_in, p.records_out, p.dropped_full), (100_000, 100_000, 0));
    });
}
