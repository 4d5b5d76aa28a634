//! A sink connector writing to a Python `websockets` server: a topic's messages go upstream in
//! order, text as text and binary as binary; while the upstream is down they wait in the
//! bounded buffer, whose overflow policy (drop-oldest or drop-newest) is applied and counted,
//! and the buffered messages go out first when the upstream is back.

mod util;

use sluice::{Connector, Overflow};
use tungstenite::Message;
use util::upstream::{python_ready, quick_backoff, wait_json, PyServer};
use util::{connect, watchdog, Relay, IO_TIMEOUT};

#[test]
fn a_sink_sends_a_topics_messages_upstream_in_order() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let upstream = PyServer::start(&[]);
        let relay = Relay::start();
        let sink = Connector::sink("out", &upstream.url("/ingest"), "results")
            .subscribe("hello from sluice")
            .backoff(quick_backoff());
        relay.handle.add_connector(sink, IO_TIMEOUT).unwrap();
        let mut publisher = connect(&relay.url("/pub/results"));
        for i in 0..500 {
            publisher.send(Message::text(format!("r-{i}"))).unwrap();
        }
        publisher.send(Message::binary(vec![1, 2, 3])).unwrap();
        assert_eq!(upstream.next_of("open")["path"], "/ingest");
        // The subscribe message comes first, then every message in order.
        assert_eq!(upstream.messages(1), ["hello from sluice"]);
        let got = upstream.messages(500);
        let want: Vec<String> = (0..500).map(|i| format!("r-{i}")).collect();
        assert_eq!(got, want);
        assert_eq!(upstream.next_of("msg")["binary"], "010203");
        let s = relay.wait_stats("sent", |s| s.connectors[0].messages_out == 501);
        let c = &s.connectors[0];
        assert_eq!((c.buffered_messages, c.buffered_bytes, c.dropped()), (0, 0, 0));
        assert!(c.bytes_out >= 501 * 6, "{c:?}");
        relay.stop();
    });
}

/// A 100-byte message: a 106-byte masked frame, so a 1 KiB buffer holds 9 of them.
fn padded(i: usize) -> String {
    format!("{:0<100}", format!("p-{i:04}-"))
}

fn buffer_policy_is_applied_while_the_upstream_is_down(policy: Overflow) -> Vec<String> {
    let upstream = PyServer::start(&[]);
    let relay = Relay::start();
    let mut status = connect(&relay.url("/sub/results.status"));
    let sink = Connector::sink("out", &upstream.url("/"), "results")
        .buffer(1024)
        .overflow(policy)
        .backoff(quick_backoff());
    relay.handle.add_connector(sink, IO_TIMEOUT).unwrap();
    wait_json(&mut status, "connected", |e| e["event"] == "connected");
    let mut publisher = connect(&relay.url("/pub/results"));
    publisher.send(Message::text("live")).unwrap();
    assert_eq!(upstream.messages(1), ["live"]);

    // The upstream dies without a close frame.
    let port = upstream.kill();
    let down = wait_json(&mut status, "disconnected", |e| e["event"] == "disconnected");
    assert_eq!(down["next_attempt"], 1);
    assert!(down["reason"].as_str().is_some_and(|r| !r.is_empty()), "{down}");
    assert_eq!((down["buffered"].as_u64(), down["dropped"].as_u64()), (Some(0), Some(0)));
    for i in 0..30 {
        publisher.send(Message::text(padded(i))).unwrap();
    }
    let s = relay.wait_stats("buffered", |s| s.connectors[0].dropped_overflow == 21);
    assert_eq!(s.connectors[0].buffered_messages, 9);
    assert!(s.connectors[0].buffered_bytes <= 1024);

    // Back: the buffered messages go out first, then new ones.
    let upstream = PyServer::restart(port, &[]);
    let up = wait_json(&mut status, "reconnected", |e| e["event"] == "connected");
    assert_eq!(up["reconnect"], true);
    assert!(up["down_ms"].as_u64().is_some());
    assert_eq!((up["buffered"].as_u64(), up["dropped"].as_u64()), (Some(9), Some(21)));
    publisher.send(Message::text("after")).unwrap();
    let mut got = upstream.messages(10);
    assert_eq!(got.pop().as_deref(), Some("after"));
    let s = relay.wait_stats("drained", |s| s.connectors[0].buffered_messages == 0);
    let c = &s.connectors[0];
    assert_eq!((c.connects, c.disconnects, c.dropped_overflow), (2, 1, 21));
    assert!(c.reconnect_attempts >= 1);
    assert_eq!(c.messages_out, 1 + 9 + 1);
    relay.stop();
    got
}

#[test]
fn drop_oldest_keeps_the_newest_messages_of_an_outage() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let got = buffer_policy_is_applied_while_the_upstream_is_down(Overflow::DropOldest);
        let want: Vec<String> = (21..30).map(padded).collect();
        assert_eq!(got, want);
    });
}

#[test]
fn drop_newest_keeps_the_first_messages_of_an_outage() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let got = buffer_policy_is_applied_while_the_upstream_is_down(Overflow::DropNewest);
        let want: Vec<String> = (0..9).map(padded).collect();
        assert_eq!(got, want);
    });
}

#[test]
fn a_graceful_stop_sends_what_a_sink_holds_then_closes() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let upstream = PyServer::start(&[]);
        let relay = Relay::start();
        let mut status = connect(&relay.url("/sub/results.status"));
        let sink = Connector::sink("out", &upstream.url("/"), "results");
        relay.handle.add_connector(sink, IO_TIMEOUT).unwrap();
        wait_json(&mut status, "connected", |e| e["event"] == "connected");
        for i in 0..100 {
            relay.handle.publish("results", format!("s-{i}")).unwrap();
        }
        relay.stop();
        let got = upstream.messages(100);
        assert_eq!(got, (0..100).map(|i| format!("s-{i}")).collect::<Vec<_>>());
        let closed = upstream.next_of("close");
        assert_eq!(closed["code"], 1001);
    });
}
