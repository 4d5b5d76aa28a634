//! The dashboard's live feed (`/_sluice/stats`): a hello with the history at once, then a tick
//! a second whose numbers follow the traffic.

mod util;

use serde_json::Value;
use tungstenite::Message;
use util::{connect, next_data, watchdog, Relay};

fn json(ws: &mut util::Ws) -> Value {
    match next_data(ws) {
        Message::Text(t) => serde_json::from_str(t.as_str()).expect("valid JSON"),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[test]
fn the_feed_says_hello_then_ticks_with_live_numbers() {
    watchdog(120, || {
        let relay = Relay::start();
        let mut feed = connect(&relay.url("/_sluice/stats"));
        let hello = json(&mut feed);
        assert_eq!(hello["type"], "hello");
        assert!(hello["history"].is_array());
        assert_eq!(hello["conns"]["dashboards"], 1);
        assert_eq!(hello["version"], env!("CARGO_PKG_VERSION"));

        let mut sub = connect(&relay.url("/sub/ticks"));
        let mut publisher = connect(&relay.url("/pub/ticks"));
        for i in 0..10 {
            publisher.send(Message::text(format!("t{i}"))).unwrap();
        }
        for _ in 0..10 {
            next_data(&mut sub);
        }
        // Ticks come once a second; wait (bounded by the watchdog) for one that has the traffic.
        let tick = loop {
            let m = json(&mut feed);
            assert_eq!(m["type"], "tick");
            assert!(m["history"].as_array().unwrap().len() <= 1, "a tick carries one sample");
            if m["totals"]["messages_out"] == 10 {
                break m;
            }
        };
        assert_eq!(tick["totals"]["messages_in"], 10);
        let topic = &tick["topics"].as_array().unwrap()[0];
        assert_eq!(topic["name"], "ticks");
        assert_eq!((topic["subs"].as_u64(), topic["pubs"].as_u64()), (Some(1), Some(1)));
        assert_eq!(topic["messages_in"], 10);
        assert_eq!(tick["delivery"]["count"], 10);
        // Data sent on the feed is ignored, like a subscriber's.
        feed.send(Message::text("hi")).unwrap();
        relay.wait_stats("the ignored message", |s| s.messages_ignored == 1);
    });
}

#[test]
fn the_hello_arrives_whole_and_the_ticks_obey_the_queue_bound() {
    watchdog(120, || {
        let mut config = util::test_config();
        config.limits.max_queued_bytes = 1024;
        let relay = Relay::start_with(config);
        let handle = relay.handle.clone();
        // Many topic series make the hello larger than the bound.
        let _subs: Vec<_> =
            (0..20).map(|i| connect(&relay.url(&format!("/sub/topic-{i:03}")))).collect();
        for i in 0..20 {
            handle.publish(&format!("topic-{i:03}"), "x").unwrap();
        }
        relay.wait_stats("the publishes", |s| s.messages_in == 20);
        let mut feed = connect(&relay.url("/_sluice/stats"));
        let hello = match next_data(&mut feed) {
            Message::Text(t) => t.to_string(),
            other => panic!("{other:?}"),
        };
        assert!(hello.len() > 1024, "the test needs a hello over the bound");
        let hello: Value = serde_json::from_str(&hello).unwrap();
        assert_eq!(hello["topics"].as_array().unwrap().len(), 20);
        // The ticks obey the bound: each is as large as the hello's table, so the first one
        // that does not fit closes the dashboard like any slow consumer.
        let (code, reason) = util::expect_close(&mut feed);
        assert_eq!(u16::from(code), 1008);
        assert!(reason.contains("slow consumer"), "{reason}");
    });
}

#[test]
fn the_feed_describes_the_pipelines_of_the_dashboard_example() {
    watchdog(120, || {
        // examples/dashboard.toml, on a free port: two pipelines on two workers.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/dashboard.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let mut config =
            sluice::Config::from_toml_str(&text, Some(std::path::Path::new(path))).unwrap();
        config.listen = "127.0.0.1:0".parse().unwrap();
        let relay = Relay::start_with(config);
        let mut feed = connect(&relay.url("/_sluice/stats"));
        let hello = json(&mut feed);
        assert_eq!(hello["workers"], 2);
        let queue = serde_json::json!({"queued": 0, "capacity": 1024});
        assert_eq!(hello["queues"], serde_json::json!([queue, queue]));
        assert_eq!(hello["result_queue"]["capacity"], 4096);
        let pipelines: Vec<(&str, &Value, &str)> = hello["pipelines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap(), &p["from"], p["to"].as_str().unwrap()))
            .collect();
        assert_eq!(
            pipelines,
            [
                ("ohlc-1s", &serde_json::json!(["prices.BTC-USD", "prices.ETH-USD"]), "candles.1s"),
                ("big-trades", &serde_json::json!(["trades"]), "trades.big"),
            ]
        );
        // A trade big enough passes the filter and is counted in the next ticks.
        let mut big = connect(&relay.url("/sub/trades.big"));
        let mut publisher = connect(&relay.url("/pub/trades"));
        publisher.send(Message::text(r#"{"id":1,"qty":8,"side":"buy"}"#)).unwrap();
        publisher.send(Message::text(r#"{"id":2,"qty":1,"side":"buy"}"#)).unwrap();
        assert_eq!(next_data(&mut big), Message::text(r#"{"id":1,"qty":8,"side":"buy"}"#));
        loop {
            let tick = json(&mut feed);
            let p = &tick["pipelines"][1];
            if p["records_in"] == 2 {
                assert_eq!((&p["records_out"], &p["filtered"]), (&1.into(), &1.into()));
                break;
            }
        }
    });
}
