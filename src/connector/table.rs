//! The reactor's table of connectors and the state each keeps across its connections: the
//! attempt and failure counts that drive the backoff, the addresses being tried, the buffer of
//! messages for the upstream, the counters.
//!
//! This is plain data plus the decisions that need no socket (the next delay, the counters); the
//! reactor's `upstream` module does the I/O and calls in here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use super::resolve::Resolver;
use super::status::Subject;
use super::{Connector, ConnectorState, ConnectorStats, SinkBuffer, WsUrl};
use crate::topic::TopicId;

/// Ids of client connections: a range of their own, apart from accepted connections' ids.
const CLIENT_IDS: u64 = 1 << 62;
/// Publisher ids of sources, for pipelines' per-publisher order (stable across reconnects).
pub(crate) const SOURCE_PUBLISHERS: u64 = 1 << 62;

/// One connector at run time.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) spec: Connector,
    pub(crate) url: WsUrl,
    /// TLS client configuration (`wss://` only).
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    /// Unique for the life of the reactor (slab keys are reused).
    pub(crate) uid: u64,
    pub(crate) publish_to: Option<TopicId>,
    pub(crate) send_from: Option<TopicId>,
    pub(crate) status_topic: String,
    pub(crate) state: ConnectorState,
    /// The current connection (slab key, connection id), while connecting or open.
    pub(crate) conn: Option<(usize, u64)>,
    /// Consecutive failures: the backoff exponent.
    pub(crate) failures: u32,
    /// Attempts since the last connection ended (or since the start).
    pub(crate) attempts: u32,
    /// The instant the connector's armed timer is due.
    pub(crate) timer_at: Option<Instant>,
    /// Addresses of this attempt and the next one to try.
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) next_addr: usize,
    /// Attempt number, to recognise the answer to this attempt's name resolution.
    pub(crate) generation: u64,
    pub(crate) opened_at: Option<Instant>,
    pub(crate) down_since: Option<Instant>,
    /// Messages for the upstream (sinks, and sources with `send_from`).
    pub(crate) ring: Option<SinkBuffer>,
    pub(crate) stats: ConnectorStats,
}

impl Live {
    pub(crate) fn new(
        spec: Connector,
        url: WsUrl,
        tls: Option<Arc<rustls::ClientConfig>>,
        uid: u64,
    ) -> Live {
        let stats = ConnectorStats {
            name: spec.name.clone(),
            kind: Some(spec.kind),
            url: spec.url.clone(),
            ..ConnectorStats::default()
        };
        let ring = spec.sends_from().map(|_| SinkBuffer::new(spec.buffer, spec.overflow));
        Live {
            status_topic: spec.get_status_topic(),
            spec,
            url,
            tls,
            uid,
            publish_to: None,
            send_from: None,
            state: ConnectorState::Idle,
            conn: None,
            failures: 0,
            attempts: 0,
            timer_at: None,
            addrs: Vec::new(),
            next_addr: 0,
            generation: 0,
            opened_at: None,
            down_since: None,
            ring,
            stats,
        }
    }

    /// The delay before the next attempt, after a failure has been counted.
    pub(crate) fn next_delay(&self) -> Duration {
        self.spec.backoff.delay(self.failures, rand::random::<f64>())
    }

    /// A failure before the connection opened.
    pub(crate) fn failed(&mut self, reason: &str) {
        self.failures = self.failures.saturating_add(1);
        self.stats.connect_failures += 1;
        self.stats.last_error = Some(reason.to_string());
        self.conn = None;
        self.state = ConnectorState::Backoff;
    }

    /// An open connection ended. A connection that stayed open at least as long as the longest
    /// backoff delay resets the backoff, so a flapping upstream still backs off.
    pub(crate) fn lost(&mut self, reason: &str, now: Instant) {
        if self.opened_at.is_some_and(|t| now.duration_since(t) >= self.spec.backoff.max) {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        self.stats.disconnects += 1;
        self.stats.last_error = Some(reason.to_string());
        self.attempts = 0;
        self.conn = None;
        self.opened_at = None;
        self.down_since = Some(now);
        self.state = ConnectorState::Backoff;
        if let Some(ring) = &mut self.ring {
            ring.restart();
        }
    }

    /// Who a status event is about.
    pub(crate) fn subject(&self) -> Subject<'_> {
        Subject {
            name: &self.spec.name,
            kind: self.spec.kind,
            url: &self.spec.url,
            buffer: self.ring.as_ref().map(|r| {
                (r.messages(), r.dropped_overflow + r.dropped_oversize + self.stats.dropped_at_stop)
            }),
        }
    }

    /// Is `id` the current connection?
    pub(crate) fn is_current(&self, id: u64) -> bool {
        self.conn.is_some_and(|(_, c)| c == id)
    }

    /// A snapshot of the counters.
    pub(crate) fn snapshot(&self) -> ConnectorStats {
        let mut s = self.stats.clone();
        s.state = self.state;
        if let Some(r) = &self.ring {
            s.buffered_messages = r.messages() as u64;
            s.buffered_bytes = r.bytes() as u64;
            s.dropped_overflow = r.dropped_overflow;
            s.dropped_oversize = r.dropped_oversize;
        }
        s
    }
}

/// Every connector of a reactor.
#[derive(Debug, Default)]
pub(crate) struct Connectors {
    pub(crate) live: Slab<Live>,
    next_uid: u64,
    next_conn: u64,
    pub(crate) resolver: Option<Resolver>,
    /// The reactor has started: new connectors start at once.
    pub(crate) started: bool,
    /// The reactor is stopping: no new attempts.
    pub(crate) stopping: bool,
}

impl Connectors {
    /// A fresh uid for a new connector.
    pub(crate) fn next_uid(&mut self) -> u64 {
        self.next_uid += 1;
        self.next_uid
    }

    /// A fresh id for a new client connection.
    pub(crate) fn next_conn_id(&mut self) -> u64 {
        self.next_conn += 1;
        CLIENT_IDS | self.next_conn
    }

    /// The connector `idx` if it is still the one with `uid`.
    pub(crate) fn get_mut(&mut self, idx: usize, uid: u64) -> Option<&mut Live> {
        self.live.get_mut(idx).filter(|l| l.uid == uid)
    }

    /// Find a connector by name.
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        self.live.iter().find(|(_, l)| l.spec.name == name).map(|(i, _)| i)
    }

    /// Counters of every connector, in the order they were added.
    pub(crate) fn stats(&self) -> Vec<ConnectorStats> {
        let mut all: Vec<(u64, ConnectorStats)> =
            self.live.iter().map(|(_, l)| (l.uid, l.snapshot())).collect();
        all.sort_by_key(|(uid, _)| *uid);
        all.into_iter().map(|(_, s)| s).collect()
    }

    /// The state of every connector by name (for readiness checks).
    pub(crate) fn states(&self) -> impl Iterator<Item = (&str, ConnectorState)> {
        self.live.iter().map(|(_, l)| (l.spec.name.as_str(), l.state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::Backoff;

    fn live() -> Live {
        let spec = Connector::sink("out", "ws://127.0.0.1:1/", "t").backoff(Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: 0.0,
        });
        let url = spec.validate().unwrap();
        Live::new(spec, url, None, 1)
    }

    #[test]
    fn failures_grow_the_delay_and_a_stable_connection_resets_it() {
        let mut l = live();
        let t0 = Instant::now();
        l.failed("refused");
        assert_eq!(l.next_delay(), Duration::from_millis(100));
        l.failed("refused");
        assert_eq!(l.next_delay(), Duration::from_millis(200));
        assert_eq!((l.stats.connect_failures, l.state), (2, ConnectorState::Backoff));
        // Open briefly, then lost: the backoff keeps growing (a flapping upstream).
        l.opened_at = Some(t0);
        l.lost("closed", t0 + Duration::from_millis(10));
        assert_eq!(l.next_delay(), Duration::from_millis(400));
        // Open for longer than the longest delay: the next retry is quick again.
        l.opened_at = Some(t0);
        l.lost("closed", t0 + Duration::from_secs(2));
        assert_eq!(l.next_delay(), Duration::from_millis(100));
        assert_eq!(l.stats.disconnects, 2);
        assert_eq!(l.stats.last_error.as_deref(), Some("closed"));
    }

    #[test]
    fn ids_are_unique_and_apart_from_accepted_ids() {
        let mut c = Connectors::default();
        let (a, b) = (c.next_conn_id(), c.next_conn_id());
        assert!(a != b && a > (1 << 62));
        assert_ne!(c.next_uid(), c.next_uid());
    }
}
