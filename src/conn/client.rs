//! What a client-mode connection (an upstream connector's) holds beyond an accepted one: which
//! connector it serves, the handshake it expects, its keepalive and stall settings, and why it
//! ended.
//!
//! Keepalive on the client side: a ping is sent after `ping_interval` without receiving
//! anything, and again every `ping_interval` while the upstream stays silent; if nothing at all
//! (data, pong, ping) arrives for `stall_timeout`, the upstream is stalled and the connection is
//! closed, so the connector reconnects.

use std::time::{Duration, Instant};

use super::frames::{CloseReason, CLOSE_AWAY};
use super::TimerVerdict;
use crate::topic::TopicId;

/// Client-mode state of a connection.
#[derive(Debug)]
pub(crate) struct Client {
    /// The connector's slab index and uid.
    pub(crate) connector: usize,
    pub(crate) uid: u64,
    /// Where received messages are published (sources).
    pub(crate) publish_to: Option<TopicId>,
    /// Publisher id for pipelines' per-publisher order, stable across reconnects.
    pub(crate) publisher: u64,
    pub(crate) subprotocol: Option<Box<str>>,
    /// The handshake offers permessage-deflate (what the upstream sends may be compressed).
    pub(crate) compression: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) stall_timeout: Duration,
    /// Why the connection is ending (the first cause recorded wins).
    pub(crate) reason: Option<String>,
    /// The upstream stalled: nothing more is written to this connection but its close frame.
    pub(crate) stalled: bool,
}

impl Client {
    /// Record why the connection ends, unless a cause is already known.
    pub(crate) fn note(&mut self, why: impl Into<String>) {
        if self.reason.is_none() {
            self.reason = Some(why.into());
        }
    }

    fn ping_due(&self, last_rx: Instant, last_ping: Option<Instant>) -> Option<Instant> {
        let since = last_ping.map_or(last_rx, |p| p.max(last_rx));
        (!self.ping_interval.is_zero()).then(|| since + self.ping_interval)
    }

    fn stall_due(&self, last_rx: Instant) -> Option<Instant> {
        (!self.stall_timeout.is_zero()).then(|| last_rx + self.stall_timeout)
    }

    /// The next keepalive instant of an open connection.
    pub(crate) fn next_deadline(
        &self,
        last_rx: Instant,
        last_ping: Option<Instant>,
    ) -> Option<Instant> {
        match (self.ping_due(last_rx, last_ping), self.stall_due(last_rx)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What the keepalive timer of an open connection wants at `now`.
    pub(crate) fn keepalive(
        &mut self,
        now: Instant,
        last_rx: Instant,
        last_ping: &mut Option<Instant>,
    ) -> TimerVerdict {
        if self.stall_due(last_rx).is_some_and(|at| now >= at) {
            let why = format!("stalled: nothing received for {:?}", self.stall_timeout);
            self.note(why.clone());
            self.stalled = true;
            return TimerVerdict::Close(CloseReason::new(CLOSE_AWAY, why));
        }
        if self.ping_due(last_rx, *last_ping).is_some_and(|at| now >= at) {
            *last_ping = Some(now);
            return TimerVerdict::Ping(now);
        }
        match self.next_deadline(last_rx, *last_ping) {
            Some(at) => TimerVerdict::Rearm(at),
            None => TimerVerdict::Idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(ping: u64, stall: u64) -> Client {
        Client {
            connector: 0,
            uid: 1,
            publish_to: None,
            publisher: 0,
            subprotocol: None,
            compression: false,
            connect_timeout: Duration::from_secs(1),
            ping_interval: Duration::from_secs(ping),
            stall_timeout: Duration::from_secs(stall),
            reason: None,
            stalled: false,
        }
    }

    #[test]
    fn pings_while_silent_then_declares_a_stall() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut c = client(10, 25);
        let mut ping = None;
        assert_eq!(c.keepalive(at(5), t0, &mut ping), TimerVerdict::Rearm(at(10)));
        assert_eq!(c.keepalive(at(10), t0, &mut ping), TimerVerdict::Ping(at(10)));
        assert_eq!(c.keepalive(at(12), t0, &mut ping), TimerVerdict::Rearm(at(20)));
        assert_eq!(c.keepalive(at(20), t0, &mut ping), TimerVerdict::Ping(at(20)));
        assert_eq!(c.keepalive(at(21), t0, &mut ping), TimerVerdict::Rearm(at(25)));
        match c.keepalive(at(25), t0, &mut ping) {
            TimerVerdict::Close(r) => assert_eq!(r.code, CLOSE_AWAY),
            other => panic!("{other:?}"),
        }
        assert!(c.reason.as_deref().is_some_and(|r| r.starts_with("stalled")));
    }

    #[test]
    fn input_postpones_both_and_zero_disables() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut c = client(10, 25);
        let mut ping = Some(at(10));
        // Something arrived at 12: next ping at 22, stall at 37.
        assert_eq!(c.keepalive(at(15), at(12), &mut ping), TimerVerdict::Rearm(at(22)));
        assert_eq!(c.next_deadline(at(12), ping), Some(at(22)));
        let mut off = client(0, 0);
        assert_eq!(off.keepalive(at(1000), t0, &mut None), TimerVerdict::Idle);
        let mut stall_only = client(0, 5);
        assert_eq!(stall_only.keepalive(at(1), t0, &mut None), TimerVerdict::Rearm(at(5)));
    }
}
