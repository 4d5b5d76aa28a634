//! One client connection: its state machine, buffers and timers.
//!
//! ```text
//!  accept ──▶ Http ──(101)──▶ Open ──(close sent or echoed)──▶ Closing ──(flushed, FIN)──▶ Linger ──(EOF)──▶ freed
//!              │  └─(HTTP response, keep-alive)─▶ Http                                        │
//!              └──(error response)───────────────────────────▶ Closing              (deadline)─┴──▶ freed
//! ```
//!
//! A client-mode connection (an upstream connector's, see [`client`]) starts in `Connecting`
//! (non-blocking TCP connect), then `Handshaking` (request sent, response being read), then joins
//! the same `Open` → `Closing` → `Linger` path; it never half-closes first (the server closes
//! the TCP connection, RFC 6455 §7.1.1), and its frames are masked.
//!
//! Every transition goes through [`Conn::set_state`]. Handlers never free a connection: they
//! return a verdict and only the reactor loop deregisters the socket and frees the slab slot.
//!
//! Memory: an idle open connection owns no read buffer (`inbuf` is empty and unallocated unless a
//! partial frame is pending), no write buffer (the queue holds shared frames only while they are
//! unsent) and no fragment buffer.

pub(crate) mod client;
pub(crate) mod frames;
pub mod http;
pub(crate) mod out;
pub(crate) mod transport;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Limits;
use crate::topic::TopicId;
use client::Client;
use frames::{CloseReason, FrameReader, Role};
use out::{OutQueue, Stamp};
use transport::Transport;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Reading HTTP request heads (before any upgrade, or plain keep-alive HTTP).
    Http,
    /// A WebSocket connection exchanging messages.
    Open,
    /// A close frame or a final HTTP response is queued; flush it, then half-close.
    Closing,
    /// Our side is shut down for writing; wait for the peer's EOF (bounded by a deadline).
    Linger,
    /// Client mode: the TCP connect is in progress.
    Connecting,
    /// Client mode: the upgrade request is sent; reading the response.
    Handshaking,
}

/// What a connection does with the messages it receives.
#[derive(Debug)]
pub(crate) enum Kind {
    /// Not upgraded (yet).
    Http,
    /// `/pub/<topic>`: every message is published to the topic.
    Publish(TopicId),
    /// `/sub/<topics>`: receives the topics' messages; each entry is (topic, slot in its set).
    Subscribe(Box<[(TopicId, usize)]>),
    /// `/echo`: every message is sent back.
    Echo,
    /// `/_sluice/stats`: the dashboard's live feed; the value is its slot in the feed's set.
    Feed(usize),
    /// A connector's connection to its upstream (see [`Conn::client`]).
    Upstream,
}

/// Outcome of [`Conn::closing_flushed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// Free the connection now.
    Free,
    /// Half-closed; lingering until the peer's EOF.
    Linger,
    /// The TLS `close_notify` is not fully written; wait for a writable event.
    Pending,
}

/// What a timer wants done with the connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TimerVerdict {
    /// Nothing now; check again at this instant.
    Rearm(Instant),
    /// Nothing now and no timer needed.
    Idle,
    /// Send a keepalive ping, then expect a pong by the given instant.
    Ping(Instant),
    /// Close with this code and reason.
    Close(CloseReason),
    /// Free the connection now.
    Drop,
    /// The connection's credentials expired: close it with `1008`.
    Expired,
}

/// A connection in the reactor's slab.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) stream: Transport,
    pub(crate) peer: SocketAddr,
    /// Unique for the life of the reactor; slab keys are reused, ids are not.
    pub(crate) id: u64,
    state: State,
    pub(crate) kind: Kind,
    /// Bytes received but not consumed: a partial request head, or a partial frame.
    pub(crate) inbuf: Vec<u8>,
    pub(crate) reader: FrameReader,
    pub(crate) out: OutQueue,
    /// Queued output waits in the reactor's dirty list for the end-of-iteration flush.
    pub(crate) dirty: bool,
    /// The peer has sent EOF.
    pub(crate) peer_eof: bool,
    /// The instant the armed timer is due, if one is armed.
    pub(crate) timer_at: Option<Instant>,
    /// Handshake deadline (Http) or close deadline (Closing, Linger).
    pub(crate) deadline: Instant,
    /// Last time anything arrived from the peer.
    pub(crate) last_rx: Instant,
    /// When the outstanding keepalive ping was sent.
    pub(crate) ping_sent: Option<Instant>,
    /// When the credentials the connection was admitted with expire (a JWT's `exp`).
    pub(crate) expires: Option<Instant>,
    /// Inbound rate limit: the theoretical arrival time of the next message (GCRA).
    pub(crate) rate_tat: Instant,
    /// Client-mode state, for a connector's connection.
    pub(crate) client: Option<Box<Client>>,
}

impl Conn {
    pub(crate) fn new(
        stream: Transport,
        peer: SocketAddr,
        id: u64,
        now: Instant,
        limits: &Limits,
    ) -> Conn {
        Conn {
            stream,
            peer,
            id,
            state: State::Http,
            kind: Kind::Http,
            inbuf: Vec::new(),
            reader: FrameReader::new(Role::Server),
            out: OutQueue::default(),
            dirty: false,
            peer_eof: false,
            timer_at: None,
            deadline: now + limits.handshake_timeout,
            last_rx: now,
            ping_sent: None,
            expires: None,
            rate_tat: now,
            client: None,
        }
    }

    /// A connector's connection, connecting to `peer` (its deadline covers the connect and the
    /// handshake).
    pub(crate) fn client(
        stream: Transport,
        peer: SocketAddr,
        id: u64,
        now: Instant,
        client: Client,
    ) -> Conn {
        Conn {
            state: State::Connecting,
            kind: Kind::Upstream,
            reader: FrameReader::new(Role::Client),
            deadline: now + client.connect_timeout,
            client: Some(Box::new(client)),
            ..Conn::new(stream, peer, id, now, &Limits::default())
        }
    }

    /// A fresh masking key for a frame we send: clients mask every frame, servers none.
    pub(crate) fn mask(&self) -> Option<[u8; 4]> {
        self.client.as_ref().map(|_| rand::random())
    }

    /// Record why a client connection is ending (no-op for accepted connections).
    pub(crate) fn note(&mut self, why: impl Into<String>) {
        if let Some(c) = &mut self.client {
            c.note(why);
        }
    }

    /// Record a socket error as the reason a client connection ends, named by what it was
    /// doing (`connect to <peer>` while connecting).
    pub(crate) fn note_io(&mut self, op: &str, e: &std::io::Error) {
        if self.state == State::Connecting {
            let peer = self.peer;
            self.note(format!("connect to {peer}: {e}"));
        } else if self.client.is_some() && self.stream.tls_handshaking() {
            let why = crate::connector::tls::handshake_failure(e);
            self.note(format!("TLS handshake with {} failed: {why}", self.peer));
        } else {
            self.note(format!("{op} failed: {e}"));
        }
    }

    /// The publisher id pipelines see for this connection's messages.
    pub(crate) fn publisher_id(&self) -> u64 {
        self.client.as_ref().map_or(self.id, |c| c.publisher)
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// The only place a connection changes state.
    pub(crate) fn set_state(&mut self, new: State) {
        log::trace!("conn {} {}: {:?} => {:?}", self.id, self.peer, self.state, new);
        self.state = new;
    }

    /// Queue an encoded buffer if it fits under `max` queued bytes.
    #[must_use]
    pub(crate) fn try_queue(&mut self, data: Arc<[u8]>, max: usize) -> bool {
        self.try_queue_stamped(data, max, Stamp::NONE)
    }

    /// [`Conn::try_queue`] for a batch of messages whose delivery latency is measured.
    #[must_use]
    pub(crate) fn try_queue_stamped(&mut self, data: Arc<[u8]>, max: usize, stamp: Stamp) -> bool {
        if self.out.queued() + data.len() > max {
            return false;
        }
        self.out.push_stamped(data, stamp);
        true
    }

    /// Start the closing handshake: optionally drop unsent messages (a slow consumer will not
    /// read them), queue a close frame (empty when `reason` is `None`), stop reading messages.
    pub(crate) fn begin_close(
        &mut self,
        reason: Option<&CloseReason>,
        discard_unsent: bool,
        now: Instant,
        limits: &Limits,
    ) {
        if discard_unsent {
            self.out.discard_unstarted();
        }
        let payload = reason.map(|r| frames::close_payload(r.code, &r.reason)).unwrap_or_default();
        let mut frame = Vec::with_capacity(8 + payload.len());
        frames::encode_frame(&mut frame, frames::close_opcode(), &payload, self.mask());
        self.out.push(Arc::from(frame));
        self.start_closing(now, limits);
    }

    /// Queue a final HTTP response and close after it.
    pub(crate) fn respond_and_close(&mut self, response: Vec<u8>, now: Instant, limits: &Limits) {
        self.out.push(Arc::from(response));
        self.start_closing(now, limits);
    }

    fn start_closing(&mut self, now: Instant, limits: &Limits) {
        self.inbuf = Vec::new();
        self.reader = FrameReader::new(Role::Server);
        self.deadline = now + limits.close_timeout;
        self.set_state(State::Closing);
    }

    /// Called when the outgoing queue has drained in `Closing`: half-close (after a TLS
    /// `close_notify`) and linger, or free the connection if the peer already sent EOF.
    pub(crate) fn closing_flushed(&mut self) -> Closed {
        if self.peer_eof {
            return Closed::Free;
        }
        if self.client.is_some() {
            // A client lets the server close the TCP connection first (RFC 6455 §7.1.1).
            self.set_state(State::Linger);
            return Closed::Linger;
        }
        match self.stream.finish_writes() {
            Ok(true) => {
                self.set_state(State::Linger);
                Closed::Linger
            }
            Ok(false) => Closed::Pending,
            Err(_) => Closed::Free,
        }
    }

    /// Decide what the armed timer means at `now`.
    pub(crate) fn on_timer(&mut self, now: Instant, limits: &Limits) -> TimerVerdict {
        match self.state {
            State::Http | State::Closing | State::Linger => {
                if now >= self.deadline {
                    TimerVerdict::Drop
                } else {
                    TimerVerdict::Rearm(self.deadline)
                }
            }
            State::Connecting | State::Handshaking if now >= self.deadline => {
                let c =
                    self.client.as_ref().map_or(limits.handshake_timeout, |c| c.connect_timeout);
                let what = if self.state == State::Connecting { "connect" } else { "handshake" };
                self.note(format!("{what} timed out after {c:?}"));
                TimerVerdict::Drop
            }
            State::Connecting | State::Handshaking => TimerVerdict::Rearm(self.deadline),
            State::Open if self.client.is_some() => match &mut self.client {
                Some(c) => c.keepalive(now, self.last_rx, &mut self.ping_sent),
                None => TimerVerdict::Idle,
            },
            State::Open => {
                if self.expires.is_some_and(|at| now >= at) {
                    return TimerVerdict::Expired;
                }
                match keepalive(now, self.last_rx, &mut self.ping_sent, limits) {
                    TimerVerdict::Idle => {
                        self.expires.map_or(TimerVerdict::Idle, TimerVerdict::Rearm)
                    }
                    other => other,
                }
            }
        }
    }

    /// The instant the connection's next timer should fire, given its state.
    pub(crate) fn next_deadline(&self, limits: &Limits) -> Option<Instant> {
        match self.state {
            State::Http | State::Closing | State::Linger => Some(self.deadline),
            State::Connecting | State::Handshaking => Some(self.deadline),
            State::Open if self.client.is_some() => {
                self.client.as_ref().and_then(|c| c.next_deadline(self.last_rx, self.ping_sent))
            }
            State::Open => {
                let keepalive = match self.ping_sent {
                    Some(at) => Some(at + limits.pong_timeout),
                    None if limits.idle_ping.is_zero() => None,
                    None => Some(self.last_rx + limits.idle_ping),
                };
                match (keepalive, self.expires) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        }
    }
}

/// The inbound rate limit, as a generic cell rate algorithm: admit `n` (at least 1) messages
/// arriving at `now` unless the last of them is more than `tolerance` ahead of its theoretical
/// arrival time; admitted messages move the theoretical arrival time `tat` on by one `interval`
/// each. With `tolerance = (burst - 1) × interval` a client may send `burst` messages at once,
/// then one per `interval`.
pub(crate) fn rate_admit(
    tat: &mut Instant,
    now: Instant,
    n: u32,
    interval: std::time::Duration,
    tolerance: std::time::Duration,
) -> bool {
    let last = (*tat).max(now) + interval * n.saturating_sub(1);
    if last.duration_since(now) > tolerance {
        return false;
    }
    *tat = last + interval;
    true
}

/// Keepalive: ping after `idle_ping` without input; close if nothing arrives within
/// `pong_timeout` of the ping. Anything received counts as proof of life.
fn keepalive(
    now: Instant,
    last_rx: Instant,
    ping_sent: &mut Option<Instant>,
    limits: &Limits,
) -> TimerVerdict {
    if let Some(sent) = *ping_sent {
        if last_rx >= sent {
            *ping_sent = None;
        } else if now >= sent + limits.pong_timeout {
            return TimerVerdict::Close(CloseReason::new(
                frames::CLOSE_AWAY,
                "keepalive timeout: no pong",
            ));
        } else {
            return TimerVerdict::Rearm(sent + limits.pong_timeout);
        }
    }
    if limits.idle_ping.is_zero() {
        return TimerVerdict::Idle;
    }
    let due = last_rx + limits.idle_ping;
    if now >= due {
        *ping_sent = Some(now);
        TimerVerdict::Ping(now + limits.pong_timeout)
    } else {
        TimerVerdict::Rearm(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> Limits {
        Limits {
            idle_ping: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            ..Limits::default()
        }
    }

    #[test]
    fn keepalive_pings_after_idle_and_closes_without_pong() {
        let l = limits();
        let t0 = Instant::now();
        let mut sent = None;
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(keepalive(at(10), t0, &mut sent, &l), TimerVerdict::Rearm(at(30)));
        assert_eq!(keepalive(at(30), t0, &mut sent, &l), TimerVerdict::Ping(at(40)));
        assert_eq!(sent, Some(at(30)));
        assert_eq!(keepalive(at(35), t0, &mut sent, &l), TimerVerdict::Rearm(at(40)));
        match keepalive(at(40), t0, &mut sent, &l) {
            TimerVerdict::Close(r) => assert_eq!(r.code, 1001),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keepalive_is_satisfied_by_any_input() {
        let l = limits();
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut sent = Some(at(30));
        // A pong (or any frame) arrived at 33: the next ping is due 30 s after it.
        assert_eq!(keepalive(at(40), at(33), &mut sent, &l), TimerVerdict::Rearm(at(63)));
        assert_eq!(sent, None);
    }

    #[test]
    fn rate_admits_a_burst_then_one_per_interval() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let (interval, tolerance) = (ms(100), ms(200)); // 10/s, burst 3
        let mut tat = t0;
        let admitted: Vec<bool> =
            (0..4).map(|_| rate_admit(&mut tat, t0, 1, interval, tolerance)).collect();
        assert_eq!(admitted, [true, true, true, false]);
        assert!(!rate_admit(&mut tat, t0 + ms(50), 1, interval, tolerance));
        assert!(rate_admit(&mut tat, t0 + ms(100), 1, interval, tolerance));
        // A long pause refills the burst, no more.
        let later = t0 + Duration::from_secs(10);
        let admitted: Vec<bool> =
            (0..4).map(|_| rate_admit(&mut tat, later, 1, interval, tolerance)).collect();
        assert_eq!(admitted, [true, true, true, false]);
        // Batches count message by message: a burst of 3 at once passes, 4 do not.
        let mut tat = t0;
        assert!(rate_admit(&mut tat, t0, 3, interval, tolerance));
        assert!(!rate_admit(&mut tat, t0, 1, interval, tolerance));
        let mut tat = t0;
        assert!(!rate_admit(&mut tat, t0, 4, interval, tolerance));
        assert_eq!(tat, t0, "a refused batch takes nothing");
    }

    #[test]
    fn keepalive_can_be_disabled() {
        let l = Limits { idle_ping: Duration::ZERO, ..limits() };
        let t0 = Instant::now();
        assert_eq!(
            keepalive(t0 + Duration::from_secs(3600), t0, &mut None, &l),
            TimerVerdict::Idle
        );
    }
}
