//! Keyed windows on three nodes give the results of one node: the window cases of the Flink
//! conformance test run live on a three-node cluster (each node owning a third of the key
//! groups, every node reading every event so watermarks advance the same) and on a single
//! relay, with the same input; every result and every late event, key by key, in order, must be
//! the same.

mod util;

use std::collections::BTreeMap;

use serde_json::Value;
use sluice::ops::shard::key_hash;
use sluice::ops::KeyGroups;
use tungstenite::Message;
use util::cluster;
use util::nats::NatsCluster;
use util::windows::{cases, config, generate, Case};
use util::{connect, watchdog, Relay, Ws, IO_TIMEOUT};

const NODES: [&str; 3] = ["a", "b", "c"];
/// Far past every generated timestamp: one event there fires every window.
const FLUSH: i64 = 1_000_000_000;

/// For each node, a key it owns (a key whose window result says the node is done).
fn markers() -> Vec<String> {
    (0..NODES.len())
        .map(|node| {
            let groups = KeyGroups::new(128, node, NODES.len());
            (0..)
                .map(|j| format!("~m{j}"))
                .find(|k| groups.owns(key_hash(format!("\"{k}\"").as_bytes())))
                .unwrap()
        })
        .collect()
}

/// The case's events and an event per marker key past every window (count windows: a full
/// window per marker); then, once those are in, the event past the markers' windows that fires
/// them (none for count windows, whose markers fire by themselves).
fn input(case: &Case, seed: u64) -> (Vec<String>, Option<String>) {
    let mut lines: Vec<String> = generate(case, seed).lines().map(String::from).collect();
    let event = |k: &str, ts: i64| {
        format!("{{\"k\":\"{k}\",\"ts\":{ts},\"qty\":1,\"price\":1.0,\"seq\":0}}")
    };
    for m in markers() {
        let n = if case.kind == "count" { case.size as usize } else { 1 };
        lines.extend((0..n).map(|_| event(&m, FLUSH)));
    }
    let end = (case.kind != "count").then(|| event("~end", FLUSH * 2));
    (lines, end)
}

/// What came out on `out.<id>` per key, until every marker's result: window results and late
/// events apart (a worker emits a batch's late events after its results, so how the two
/// interleave depends on how the input was batched, on one node as on three).
#[derive(Debug, Default)]
struct Outcome {
    results: BTreeMap<String, Vec<Value>>,
    late: BTreeMap<String, Vec<Value>>,
}

fn collect(ws: &mut Ws) -> Outcome {
    let mut o = Outcome::default();
    let mut left = markers();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        // A result that never comes fails the test with what is missing, not a hang.
        s.set_read_timeout(Some(IO_TIMEOUT * 4)).unwrap();
    }
    while !left.is_empty() {
        let read = ws.read();
        let read =
            read.unwrap_or_else(|e| panic!("read ({e}); markers without a result: {left:?}"));
        let Message::Text(t) = read else { continue };
        let v: Value = serde_json::from_str(&t).unwrap();
        match v.get("key").and_then(Value::as_str) {
            Some(key) if key.starts_with('~') => {
                // A marker's or the end's own result: when it comes depends on the batching.
                left.retain(|m| m != key);
            }
            Some(key) => o.results.entry(key.to_string()).or_default().push(v),
            None => {
                let key = v["k"].as_str().unwrap_or_default().to_string();
                o.late.entry(key).or_default().push(v);
            }
        }
    }
    o
}

/// Publish every case on `publish_to` and collect its outputs from `subscribe_to` (in turn);
/// `relays` are the nodes whose pipelines must have read a case before its last event.
fn run(
    publish_to: &str,
    subscribe_to: &[String],
    relays: &[&Relay],
    cases: &[Case],
) -> Vec<Outcome> {
    let mut subs: Vec<Ws> = cases
        .iter()
        .zip(subscribe_to.iter().cycle())
        .map(|(c, base)| connect(&format!("{base}/sub/out.{}", c.id)))
        .collect();
    for (i, c) in cases.iter().enumerate() {
        let mut p = connect(&format!("{publish_to}/pub/in.{}", c.id));
        let (lines, end) = input(c, 0x5eed + i as u64);
        for line in &lines {
            p.send(Message::text(line.as_str())).unwrap();
        }
        let Some(end) = end else { continue };
        // In a batch of its own on every node: the late events of the batches before it are
        // out before the markers' results.
        for r in relays {
            let s = r.wait_stats("the case's events routed", |s| {
                s.pipelines.iter().any(|p| p.name == c.id && p.messages_in == lines.len() as u64)
            });
            let dropped: u64 = s.pipelines.iter().map(|p| p.dropped_full).sum();
            assert_eq!(dropped, 0, "a worker queue dropped events: raise [workers] queue");
        }
        p.send(Message::text(end)).unwrap();
    }
    subs.iter_mut().map(collect).collect()
}

#[test]
fn three_nodes_window_as_one() {
    watchdog(900, || {
        let cases = cases();
        // Every stream keeps a whole case: a node that reads a burst late still reads all of it
        // (what leaves the stream first is lost to its pipelines, counted as `expired`); a
        // worker that falls behind a burst (a busy machine) queues it rather than dropping it.
        let pipelines = format!(
            "[[topic]]\nmatch = \"*\"\nhistory = {{ size = 100000, ttl = \"10m\" }}\n{}",
            config(&cases, |id| format!("out.{id}")).replacen(
                "[workers]\n",
                "[workers]\nqueue = 65536\n",
                1
            )
        );
        let alone = Relay::start_with(
            sluice::Config::from_toml_str(&format!("listen = \"127.0.0.1:0\"\n{pipelines}"), None)
                .unwrap(),
        );
        let want = run(
            &format!("ws://{}", alone.addr),
            &[format!("ws://{}", alone.addr)],
            &[&alone],
            &cases,
        );

        let nats = NatsCluster::start(3);
        let nodes = cluster::start_all(&nats, &NODES, &pipelines);
        let bases: Vec<String> = nodes.iter().map(|n| format!("ws://{}", n.addr)).collect();
        // Published on node a; read on every node in turn.
        let relays: Vec<&Relay> = nodes.iter().collect();
        let got = run(&bases[0], &bases, &relays, &cases);
        let mut results = 0;
        for ((c, want), got) in cases.iter().zip(&want).zip(&got) {
            for (what, want, got) in
                [("results", &want.results, &got.results), ("late", &want.late, &got.late)]
            {
                for (key, expected) in want {
                    let actual = got.get(key).cloned().unwrap_or_default();
                    let first = expected.iter().zip(&actual).position(|(a, b)| a != b);
                    assert!(
                        *expected == actual,
                        "{} {what}: key {key}: {} from one node, {} from three; first difference at {first:?}",
                        c.id,
                        expected.len(),
                        actual.len(),
                    );
                    results += expected.len();
                }
                assert_eq!(got.len(), want.len(), "{} {what}: the same keys", c.id);
            }
        }
        // Every node ran a share of the keys, and read every input.
        for node in &nodes {
            let s = node.stats();
            let expired: u64 = s.pipelines.iter().map(|p| p.expired).sum();
            assert_eq!(expired, 0, "inputs left a stream unread");
            let fired: u64 = s.pipelines.iter().map(|p| p.windows_fired).sum();
            assert!(fired > 0, "a node fired no window: {:?}", s.pipelines);
        }
        eprintln!("{results} results and late events identical on three nodes and one");
    });
}
