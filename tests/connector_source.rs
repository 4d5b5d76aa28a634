//! A source connector reading from a Python `websockets` server: messages reach subscribers in
//! order, text stays text and binary stays binary, the subscribe message, headers and
//! subprotocol are sent, status events and counters tell what happened, and a pipeline reading
//! the source's topic sees its messages.

mod util;

use std::time::Duration;

use sluice::{Connector, ConnectorState, Pipeline, Reactor, TextOp};
use tungstenite::Message;
use util::upstream::{python_ready, quick_backoff, wait_json, PyServer};
use util::{connect, next_data, test_config, watchdog, Relay, IO_TIMEOUT};

#[test]
fn a_source_delivers_the_upstream_feed_to_subscribers_in_order() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let upstream = PyServer::start(&[
            "--hello",
            "--expect-subscribe",
            "--subprotocol",
            "feed.v1",
            "--send",
            "bin:00ff10",
            "--count",
            "200",
            "--prefix",
            "m-",
        ]);
        let relay = Relay::start();
        let mut raw = connect(&relay.url("/sub/raw"));
        let mut status = connect(&relay.url("/sub/raw.status"));
        let feed = Connector::source("feed", &upstream.url("/trades?x=1"), "raw")
            .subscribe(r#"{"op":"subscribe","args":["trades"]}"#)
            .header("Authorization", "Bearer t0k")
            .subprotocol("feed.v1")
            .backoff(quick_backoff());
        relay.handle.add_connector(feed, IO_TIMEOUT).expect("add the source");

        // The server reports what it saw of the handshake, then echoes the subscription.
        let hello: serde_json::Value =
            serde_json::from_str(next_data(&mut raw).to_text().unwrap()).unwrap();
        let hello = &hello["hello"];
        assert_eq!(hello["path"], "/trades?x=1");
        assert_eq!(hello["subprotocol"], "feed.v1");
        assert_eq!(hello["headers"]["authorization"], "Bearer t0k");
        assert!(hello["headers"]["user-agent"].as_str().unwrap().starts_with("sluice/"));
        assert_eq!(
            next_data(&mut raw),
            Message::text(r#"{"subscribed": "{\"op\":\"subscribe\",\"args\":[\"trades\"]}"}"#)
        );
        assert_eq!(next_data(&mut raw), Message::binary(vec![0x00, 0xff, 0x10]));
        for i in 0..200 {
            assert_eq!(next_data(&mut raw), Message::text(format!("m-{i}")));
        }
        let connected = wait_json(&mut status, "connected", |e| e["event"] == "connected");
        assert_eq!(connected["connector"], "feed");
        assert_eq!(connected["kind"], "source");
        assert_eq!(connected["attempt"], 1);
        assert_eq!(connected["reconnect"], false);
        assert_eq!(connected["url"], upstream.url("/trades?x=1"));

        let open = upstream.next_of("open");
        assert_eq!(open["headers"]["sec-websocket-version"], "13");
        assert_eq!(upstream.next_of("msg")["text"], r#"{"op":"subscribe","args":["trades"]}"#);

        let s = relay.wait_stats("messages in", |s| s.connectors[0].messages_in == 203);
        let c = &s.connectors[0];
        assert_eq!((c.name.as_str(), c.state, c.connects), ("feed", ConnectorState::Open, 1));
        assert_eq!((c.disconnects, c.connect_failures, c.reconnect_attempts), (0, 0, 0));
        assert!(c.bytes_in > 200 * 3);
        let mut raw = util::Raw::connect(relay.addr);
        raw.send(b"GET /readyz HTTP/1.1\r\nConnection: close\r\n\r\n");
        let body = String::from_utf8_lossy(&raw.read_to_end()).to_string();
        assert!(
            body.starts_with("HTTP/1.1 200") && body.contains("connectors: ok (1 open)"),
            "{body}"
        );
        relay.stop();
    });
}

#[test]
fn a_pipeline_reads_a_sources_topic() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let upstream = PyServer::start(&["--count", "50", "--prefix", "word "]);
        let mut config = test_config();
        config.workers.count = 2;
        config.workers.pin = false;
        let mut reactor = Reactor::bind(config).unwrap();
        reactor
            .add_pipeline(
                Pipeline::from_topic("words")
                    .name("upper")
                    .text(TextOp::Upper)
                    .to_topic("words.upper"),
            )
            .unwrap();
        let relay = Relay::run(reactor);
        let mut upper = connect(&relay.url("/sub/words.upper"));
        let source = Connector::source("feed", &upstream.url("/"), "words");
        relay.handle.add_connector(source, IO_TIMEOUT).unwrap();
        // One connection's messages keep their order through the workers.
        for i in 0..50 {
            assert_eq!(next_data(&mut upper), Message::text(format!("WORD {i}")));
        }
        let s = relay.stats();
        assert_eq!(s.pipelines[0].messages_in, 50);
        relay.stop();
    });
}

#[test]
fn connectors_from_the_library_api_are_added_listed_and_removed() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let upstream = PyServer::start(&[]);
        let mut reactor = Reactor::bind(test_config()).unwrap();
        reactor.add_connector(Connector::source("a", &upstream.url("/a"), "ta")).unwrap();
        // Names are unique; a bad definition says which setting is wrong.
        let dup = reactor.add_connector(Connector::sink("a", &upstream.url("/"), "x"));
        assert!(dup.unwrap_err().to_string().contains("another connector has this name"));
        let bad = reactor.add_connector(Connector::sink("b", "ws://h:0/", "x"));
        assert!(bad.unwrap_err().to_string().contains("`url`"));
        assert_eq!(reactor.connectors()[0].state, ConnectorState::Idle);
        // Drive the reactor from this thread until the source is open.
        let deadline = std::time::Instant::now() + IO_TIMEOUT;
        while reactor.connector_states().next() != Some(("a", ConnectorState::Open)) {
            assert!(std::time::Instant::now() < deadline, "the source did not open");
            reactor.poll_once(Some(Duration::from_millis(50))).unwrap();
        }
        assert_eq!(upstream.next_of("open")["path"], "/a");
        assert!(reactor.remove_connector("a"));
        assert!(!reactor.remove_connector("a"));
        // The upstream sees a normal close.
        let deadline = std::time::Instant::now() + IO_TIMEOUT;
        let closed = loop {
            reactor.poll_once(Some(Duration::from_millis(20))).unwrap();
            if let Ok(e) = upstream_event(&upstream) {
                if e["ev"] == "close" {
                    break e;
                }
            }
            assert!(std::time::Instant::now() < deadline, "no close");
        };
        assert_eq!(closed["code"], 1000);
        assert!(reactor.connectors().is_empty());
    });
}

/// An event if one is already there (the reactor runs on this thread: never block long).
fn upstream_event(s: &PyServer) -> Result<serde_json::Value, ()> {
    s.try_event().ok_or(())
}
