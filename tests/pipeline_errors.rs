//! Bad messages in a pipeline: invalid JSON and expression errors are counted, described on the
//! error topic, and dropped; the publisher, the raw subscribers and the good messages carry on.

mod util;

use sluice::{Config, Pipeline, Reactor, WorkerConfig};
use tungstenite::Message;
use util::{connect, next_data, watchdog, Relay};

fn relay(pipeline: Pipeline) -> Relay {
    let config = Config {
        workers: WorkerConfig { count: 2, pin: false, ..WorkerConfig::default() },
        ..util::test_config()
    };
    let mut reactor = Reactor::bind(config).unwrap();
    reactor.add_pipeline(pipeline).unwrap();
    Relay::run(reactor)
}

#[test]
fn invalid_json_and_expression_errors_are_counted_and_reported() {
    watchdog(120, || {
        let relay = relay(
            Pipeline::from_topic("in")
                .name("calc")
                .map_jq("{total: (.a + .b)}")
                .errors_to("in.errors")
                .to_topic("out"),
        );
        let mut out = connect(&relay.url("/sub/out"));
        let mut errors = connect(&relay.url("/sub/in.errors"));
        let mut raw = connect(&relay.url("/sub/in"));
        let mut publisher = connect(&relay.url("/pub/in"));
        let inputs = [r#"{"a":1,"b":2}"#, "{not json", r#"{"a":"x","b":1}"#, r#"{"a":3,"b":4}"#];
        for m in inputs {
            publisher.send(Message::text(m)).unwrap();
        }
        assert_eq!(next_data(&mut out), Message::text(r#"{"total":3}"#));
        assert_eq!(next_data(&mut out), Message::text(r#"{"total":7}"#));
        for m in inputs {
            assert_eq!(next_data(&mut raw), Message::text(m), "raw subscribers get everything");
        }
        let mut records = Vec::new();
        for _ in 0..2 {
            let Message::Text(t) = next_data(&mut errors) else { panic!("text expected") };
            records.push(serde_json::from_str::<serde_json::Value>(t.as_str()).unwrap());
        }
        records.sort_by_key(|r| r["payload"].as_str().unwrap().to_string());
        assert_eq!(records[0]["pipeline"], "calc");
        assert_eq!(records[0]["payload"], r#"{"a":"x","b":1}"#);
        assert_eq!(records[0]["step"], 1);
        assert!(records[0]["error"].as_str().unwrap().contains("cannot"), "{}", records[0]);
        assert_eq!(records[1]["payload"], "{not json");
        assert!(records[1]["error"].as_str().unwrap().starts_with("invalid JSON"));
        let s = relay.wait_stats("counters", |s| {
            s.pipelines[0].errors() == 2 && s.pipelines[0].records_out == 2
        });
        let p = &s.pipelines[0];
        assert_eq!((p.invalid_json, p.expr_errors, p.records_out), (1, 1, 2));
        // The relay is unaffected: the same publisher goes on.
        publisher.send(Message::text(r#"{"a":10,"b":1}"#)).unwrap();
        assert_eq!(next_data(&mut out), Message::text(r#"{"total":11}"#));
    });
}

#[test]
fn keys_that_cannot_be_read_are_counted_on_the_reactor() {
    watchdog(120, || {
        let relay = relay(
            Pipeline::from_topic("in")
                .name("keyed")
                .key_by(".user.id")
                .errors_to("errs")
                .to_topic("out"),
        );
        let mut out = connect(&relay.url("/sub/out"));
        let mut errs = connect(&relay.url("/sub/errs"));
        let mut publisher = connect(&relay.url("/pub/in"));
        publisher.send(Message::text("garbage")).unwrap();
        publisher.send(Message::text(r#"{"user": 5}"#)).unwrap();
        publisher.send(Message::text(r#"{"other": 1}"#)).unwrap();
        publisher.send(Message::text(r#"{"user": {"id": 7}}"#)).unwrap();
        assert_eq!(next_data(&mut out), Message::text(r#"{"other": 1}"#), "missing key is null");
        assert_eq!(next_data(&mut out), Message::text(r#"{"user": {"id": 7}}"#));
        for expected in ["invalid JSON", "key .user.id"] {
            let Message::Text(t) = next_data(&mut errs) else { panic!("text expected") };
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
            assert!(v["error"].as_str().unwrap().starts_with(expected), "{v}");
        }
        let s = relay.wait_stats("counters", |s| s.pipelines[0].records_out == 2);
        let p = &s.pipelines[0];
        assert_eq!((p.invalid_json, p.key_errors, p.records_in), (1, 1, 2));
    });
}
