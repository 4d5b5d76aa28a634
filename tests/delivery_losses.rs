//! Faults that lose messages say so on the topics they feed: a worker queue that drops, an
//! operator that panics (its pipeline's state on that worker is reset, the failure counted and
//! shown on /readyz and /metrics), an upstream that reconnects. Each takes one offset of the
//! stream as a `gap` with a reason, for live envelope subscribers and for resumes alike.

mod util;

use std::time::Duration;

use serde_json::json;
use sluice::{Config, Connector, Pipeline, Reactor, Record, WorkerConfig};
use tungstenite::Message;
use util::upstream::{python_ready, wait_json, PyServer};
use util::{connect, envelope, next_data, watchdog, Relay, IO_TIMEOUT};

#[test]
fn a_full_worker_queue_puts_a_gap_in_the_output_topic() {
    watchdog(120, || {
        let util::held::Held { relay, entered, release } = util::held::start();
        let mut out = envelope::connect(&relay.url("/sub/out"));
        assert_eq!(envelope::next(&mut out)["type"], "subscribed");
        let mut publisher = connect(&relay.url("/pub/in"));
        publisher.send(Message::text("hold")).unwrap();
        entered.recv_timeout(IO_TIMEOUT).unwrap();
        publisher.send(Message::text("queued")).unwrap();
        relay.wait_stats("queued", |s| s.pipelines[0].messages_in == 2);
        publisher.send(Message::text("dropped")).unwrap();
        relay.wait_stats("dropped", |s| s.pipelines[0].dropped_full == 1);
        // The hole is in the stream before the results that follow it.
        let gap = envelope::next(&mut out);
        assert_eq!(
            gap,
            json!({"type":"gap","topic":"out","from":1,"to":1,"reason":"pipeline_queue_full"})
        );
        release.send(()).unwrap();
        assert_eq!(envelope::next(&mut out)["data"], "hold");
        let v = envelope::next(&mut out);
        assert_eq!((&v["offset"], &v["data"]), (&json!(3), &json!("queued")));
        let s = relay.stats();
        let t = s.per_topic.iter().find(|t| t.name == "out").unwrap();
        assert_eq!(t.drops.lost, 1);
    });
}

#[test]
fn a_panicking_operator_resets_its_pipeline_and_says_so() {
    watchdog(120, || {
        let config = Config {
            workers: WorkerConfig { count: 1, pin: false, ..WorkerConfig::default() },
            ..util::test_config()
        };
        let mut reactor = Reactor::bind(config).unwrap();
        reactor
            .add_pipeline(
                Pipeline::from_topic("in")
                    .name("fragile")
                    .map(|r: Record| {
                        assert!(r.as_str() != Some("boom"), "the operator failed");
                        r
                    })
                    .to_topic("out"),
            )
            .unwrap();
        reactor.add_pipeline(Pipeline::from_topic("in").name("other").to_topic("copy")).unwrap();
        let relay = Relay::run(reactor);
        let mut out = envelope::connect(&relay.url("/sub/out"));
        assert_eq!(envelope::next(&mut out)["type"], "subscribed");
        let mut copy = connect(&relay.url("/sub/copy"));
        let mut publisher = connect(&relay.url("/pub/in"));
        // One at a time: what the operator had in hand when it failed is lost with it.
        publisher.send(Message::text("a")).unwrap();
        assert_eq!(envelope::next(&mut out)["data"], "a");
        publisher.send(Message::text("boom")).unwrap();
        let gap = envelope::next(&mut out);
        assert_eq!((&gap["type"], &gap["reason"]), (&json!("gap"), &json!("operator_failed")));
        publisher.send(Message::text("b")).unwrap();
        assert_eq!(envelope::next(&mut out)["data"], "b", "the pipeline goes on");
        // Other pipelines and the direct path were not affected.
        for m in ["a", "boom", "b"] {
            assert_eq!(next_data(&mut copy), Message::text(m));
        }
        let s = relay.wait_stats("the failure counted", |s| s.pipelines[0].operator_panics == 1);
        assert_eq!(s.pipelines[1].operator_panics, 0);
        let (status, body) = http(&relay, "/readyz");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("operator failures") && body.contains("`fragile` 1"), "{body}");
        let (_, metrics) = http(&relay, "/metrics");
        assert!(
            metrics.contains("sluice_pipeline_operator_panics_total{pipeline=\"fragile\"} 1"),
            "{metrics}"
        );
    });
}

#[test]
fn an_upstream_reconnect_puts_a_gap_in_its_topic() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let upstream = PyServer::start(&["--count", "3", "--prefix", "a-"]);
        let relay = Relay::start();
        let mut raw = envelope::connect(&relay.url("/sub/raw"));
        assert_eq!(envelope::next(&mut raw)["type"], "subscribed");
        let mut status = connect(&relay.url("/sub/raw.status"));
        let backoff = sluice::Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
            multiplier: 2.0,
            jitter: 0.5,
        };
        let feed = Connector::source("feed", &upstream.url("/"), "raw").backoff(backoff);
        relay.handle.add_connector(feed, IO_TIMEOUT).unwrap();
        for i in 0..3 {
            assert_eq!(envelope::next(&mut raw)["data"], format!("a-{i}"));
        }
        let port = upstream.kill();
        wait_json(&mut status, "disconnected", |e| e["event"] == "disconnected");
        let _upstream = PyServer::restart(port, &["--count", "2", "--prefix", "b-"]);
        let gap = envelope::next(&mut raw);
        assert_eq!(
            gap,
            json!({"type":"gap","topic":"raw","from":4,"to":4,"reason":"upstream_reconnect"})
        );
        assert_eq!(envelope::next(&mut raw)["data"], "b-0");
    });
}

/// A plain GET: (status, body).
fn http(relay: &Relay, path: &str) -> (u16, String) {
    let mut raw = util::Raw::connect(relay.addr);
    raw.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    let text = String::from_utf8_lossy(&raw.read_to_end()).to_string();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}
