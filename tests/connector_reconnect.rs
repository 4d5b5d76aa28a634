//! A source whose upstream is killed mid-stream and restarted: subscribers get a `disconnected`
//! event, `connect_failed` events whose delays follow the backoff, then a `connected` event
//! marked as a reconnect, and the feed resumes; the counters agree.

mod util;

use std::time::Duration;

use sluice::{Backoff, Connector, ConnectorState};
use tungstenite::Message;
use util::upstream::{python_ready, wait_json, PyServer};
use util::{connect, next_data, watchdog, Relay, IO_TIMEOUT};

#[test]
fn a_killed_upstream_is_reconnected_with_backoff_and_status_events() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let backoff = Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(160),
            multiplier: 2.0,
            jitter: 0.5,
        };
        let upstream = PyServer::start(&["--count", "20", "--prefix", "a-"]);
        let relay = Relay::start();
        let mut raw = connect(&relay.url("/sub/raw"));
        let mut status = connect(&relay.url("/sub/raw.status"));
        let feed = Connector::source("feed", &upstream.url("/"), "raw").backoff(backoff);
        relay.handle.add_connector(feed, IO_TIMEOUT).unwrap();
        for i in 0..20 {
            assert_eq!(next_data(&mut raw), Message::text(format!("a-{i}")));
        }
        wait_json(&mut status, "connected", |e| e["event"] == "connected");

        let port = upstream.kill();
        let down = wait_json(&mut status, "disconnected", |e| e["event"] == "disconnected");
        assert_eq!(down["connector"], "feed");
        let first = down["retry_in_ms"].as_u64().unwrap();
        assert!((10..=20).contains(&first), "first retry in {first} ms: {down}");
        // While the upstream is away, each refused attempt backs off further.
        let mut delays = Vec::new();
        while delays.len() < 3 {
            let e = wait_json(&mut status, "connect_failed", |e| e["event"] == "connect_failed");
            let attempt = e["attempt"].as_u64().unwrap();
            assert_eq!(attempt, delays.len() as u64 + 1, "{e}");
            assert_eq!(e["next_attempt"].as_u64(), Some(attempt + 1));
            assert!(e["reason"].as_str().unwrap().contains("refused"), "{e}");
            // The ceiling after k failed attempts (plus the disconnect) is 20 ms × 2^k, ≤ 160.
            let ceiling = (20u64 << attempt).min(160);
            let delay = e["retry_in_ms"].as_u64().unwrap();
            assert!(delay <= ceiling && delay >= ceiling / 2 - 1, "attempt {attempt}: {delay} ms");
            delays.push(delay);
        }

        let upstream = PyServer::restart(port, &["--count", "20", "--prefix", "b-"]);
        let up = wait_json(&mut status, "reconnected", |e| e["event"] == "connected");
        assert_eq!(up["reconnect"], true);
        assert!(up["attempt"].as_u64().unwrap() >= 4, "{up}");
        assert!(up["down_ms"].as_u64().is_some());
        for i in 0..20 {
            assert_eq!(next_data(&mut raw), Message::text(format!("b-{i}")));
        }
        assert_eq!(upstream.next_of("open")["ev"], "open");

        let s = relay.stats();
        let c = &s.connectors[0];
        assert_eq!(c.state, ConnectorState::Open);
        assert_eq!((c.connects, c.disconnects, c.messages_in), (2, 1, 40));
        assert!(c.connect_failures >= 3 && c.reconnect_attempts == c.connect_failures + 1, "{c:?}");
        assert!(c.last_error.as_deref().is_some_and(|e| e.contains("refused")), "{c:?}");
        relay.stop();
    });
}

#[test]
fn a_host_name_is_resolved_off_the_reactor_thread() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        // `localhost` may resolve to ::1 first; the server listens on 127.0.0.1 only, so the
        // connector must fall through to the next address.
        let upstream = PyServer::start(&["--count", "3", "--prefix", "n-"]);
        let relay = Relay::start();
        let mut raw = connect(&relay.url("/sub/raw"));
        let url = format!("ws://localhost:{}/", upstream.port);
        relay.handle.add_connector(Connector::source("named", &url, "raw"), IO_TIMEOUT).unwrap();
        for i in 0..3 {
            assert_eq!(next_data(&mut raw), Message::text(format!("n-{i}")));
        }
        let s = relay.stats();
        assert_eq!((s.connectors[0].connects, s.connectors[0].connect_failures), (1, 0));
        // An unknown name fails the attempt with the resolver's reason, and is retried.
        let mut status = connect(&relay.url("/sub/nowhere.status"));
        let bad = Connector::source("bad", "ws://no-such-host.invalid/", "nowhere");
        relay.handle.add_connector(bad, IO_TIMEOUT).unwrap();
        let e = wait_json(&mut status, "connect_failed", |e| e["event"] == "connect_failed");
        assert!(e["reason"].as_str().unwrap().contains("no-such-host.invalid"), "{e}");
        relay.stop();
    });
}
