//! One connection: its state machine, buffers and timers.
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
//! the TCP connection, RFC 6455 §7.1.1), and its frames are masked. Which side a connection is
//! on is [`Side`], data fixed at creation; what an open connection does is its [`Role`].
//!
//! The state is one enum whose variants carry their data: the unparsed bytes and deadline of
//! `Http` and `Handshaking`, the frame reader, role and keepalive of `Open`, the deadlines of
//! `Closing` and `Linger`. Every transition goes through [`Conn::set_state`], which traces
//! `old => new`. Handlers never free a connection: they return a [`Verdict`] and only the
//! reactor loop deregisters the socket and frees the slab slot.
//!
//! Memory: an idle open connection owns no read buffer (`inbuf` is empty and unallocated unless a
//! partial frame is pending), no write buffer (the queue holds shared frames only while they are
//! unsent) and no fragment buffer.

pub(crate) mod client;
pub(crate) mod frames;
pub mod http;
pub(crate) mod keepalive;
pub(crate) mod out;
mod state;
pub(crate) mod table;
pub(crate) mod transport;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::Client;
use frames::CloseReason;
use out::OutQueue;
use transport::Transport;

pub(crate) use state::{Handshaking, Http, Open, Role, State, Subscriptions};
pub(crate) use table::Conns;

/// What a connection's state machine needs from the configuration's limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// From accept to the upgrade (and idle time of a keep-alive HTTP connection).
    pub(crate) handshake_timeout: Duration,
    /// For a closing connection to flush and see the peer's EOF.
    pub(crate) close_timeout: Duration,
    /// Ping an open connection after this long without input (zero: never).
    pub(crate) idle_ping: Duration,
    /// After a ping, the peer must send something within this time.
    pub(crate) pong_timeout: Duration,
    /// The bound of the outgoing queue.
    pub(crate) max_queued_bytes: usize,
}

/// Which side of the WebSocket a connection is on.
#[derive(Debug)]
pub(crate) enum Side {
    /// Accepted from the listener: a browser, a publisher, a subscriber.
    Accepted,
    /// Opened by an upstream connector.
    Client(Box<Client>),
}

/// What a handler wants the reactor loop to do with a connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing: go on.
    Continue,
    /// Start the closing handshake (boxed: a verdict is returned on every read, a close rarely).
    Close(Box<Closing>),
    /// Free the connection now (deregister, leave its topics, drop the socket).
    Drop,
}

/// How to close: a close frame (empty without a reason), after discarding the unsent messages
/// first if `discard`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Closing {
    pub(crate) reason: Option<CloseReason>,
    pub(crate) discard: bool,
}

impl Verdict {
    /// Close with `reason` (`None`: an empty close frame); `discard` drops unsent messages.
    pub(crate) fn close(reason: Option<CloseReason>, discard: bool) -> Verdict {
        Verdict::Close(Box::new(Closing { reason, discard }))
    }
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
    pub(crate) side: Side,
    state: State,
    pub(crate) out: OutQueue,
    /// Queued output waits in the reactor's dirty list for the end-of-iteration flush.
    pub(crate) dirty: bool,
    /// The peer has sent EOF.
    pub(crate) peer_eof: bool,
    /// A subscriber behind its topics' slow-consumer policy: owed a gap or held values once
    /// its queue drains.
    pub(crate) owed: bool,
    /// The instant the armed timer is due, if one is armed.
    pub(crate) timer_at: Option<Instant>,
    /// Last time anything arrived from the peer.
    pub(crate) last_rx: Instant,
}

impl Conn {
    /// An accepted connection, reading its first request head.
    pub(crate) fn accepted(
        stream: Transport,
        peer: SocketAddr,
        id: u64,
        now: Instant,
        settings: &Settings,
    ) -> Conn {
        Conn {
            stream,
            peer,
            id,
            side: Side::Accepted,
            state: State::Http(Http::new(now + settings.handshake_timeout)),
            out: OutQueue::new(settings.max_queued_bytes),
            dirty: false,
            peer_eof: false,
            owed: false,
            timer_at: None,
            last_rx: now,
        }
    }

    /// A connector's connection, connecting to `peer` (its deadline covers the connect and the
    /// handshake).
    pub(crate) fn dialing(
        stream: Transport,
        peer: SocketAddr,
        id: u64,
        now: Instant,
        client: Client,
        settings: &Settings,
    ) -> Conn {
        let deadline = now + client.connect_timeout;
        Conn {
            side: Side::Client(Box::new(client)),
            state: State::Connecting { deadline },
            ..Conn::accepted(stream, peer, id, now, settings)
        }
    }

    pub(crate) fn state(&self) -> &State {
        &self.state
    }

    pub(crate) fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// The only place a connection changes state; returns the state it leaves.
    pub(crate) fn set_state(&mut self, new: State) -> State {
        log::trace!("conn {} {}: {} => {}", self.id, self.peer, self.state.name(), new.name());
        std::mem::replace(&mut self.state, new)
    }

    /// The connector's side of a client connection.
    pub(crate) fn client(&self) -> Option<&Client> {
        match &self.side {
            Side::Client(c) => Some(c),
            Side::Accepted => None,
        }
    }

    /// A fresh masking key for a frame we send: clients mask every frame, servers none.
    pub(crate) fn mask(&self) -> Option<[u8; 4]> {
        match self.side {
            Side::Client(_) => Some(rand::random()),
            Side::Accepted => None,
        }
    }

    /// Record why a client connection is ending (no-op for accepted connections).
    pub(crate) fn note(&mut self, why: impl Into<String>) {
        if let Side::Client(c) = &mut self.side {
            c.note(why);
        }
    }

    /// Record a socket error as the reason a client connection ends, named by what it was
    /// doing (`connect to <peer>` while connecting).
    pub(crate) fn note_io(&mut self, op: &str, e: &std::io::Error) {
        if !matches!(self.side, Side::Client(_)) {
            return;
        }
        if matches!(self.state, State::Connecting { .. }) {
            let peer = self.peer;
            self.note(format!("connect to {peer}: {e}"));
        } else if self.stream.tls_handshaking() {
            let why = transport::handshake_failure(e);
            self.note(format!("TLS handshake with {} failed: {why}", self.peer));
        } else {
            self.note(format!("{op} failed: {e}"));
        }
    }

    /// The publisher id pipelines see for this connection's messages.
    pub(crate) fn publisher_id(&self) -> u64 {
        self.client().map_or(self.id, |c| c.publisher)
    }

    /// Http (or Handshaking) ⇒ Open: the upgrade is done (an accepted connection's `101` is
    /// queued by the caller). Bytes after the head are frames, read in the new state.
    pub(crate) fn upgrade(&mut self, role: Role, now: Instant) {
        self.last_rx = now;
        self.set_state(State::Open(Open::new(role, now)));
    }

    /// Connecting ⇒ Handshaking: the TCP connect completed and the request is queued.
    pub(crate) fn connected(&mut self, accept: String) {
        if let State::Connecting { deadline } = self.state {
            self.set_state(State::Handshaking(Handshaking::new(deadline, accept)));
        }
    }

    /// Start the closing handshake of an open connection: optionally drop unsent messages (a
    /// slow consumer will not read them), queue a close frame (empty when `reason` is `None`),
    /// stop reading messages. Returns the role the connection had, which the caller must
    /// retire (leave its topics); `None` (and no change) if it was not open.
    pub(crate) fn begin_close(
        &mut self,
        reason: Option<&CloseReason>,
        discard_unsent: bool,
        now: Instant,
        settings: &Settings,
    ) -> Option<Role> {
        if !matches!(self.state, State::Open(_)) {
            return None;
        }
        if discard_unsent {
            self.out.discard_unstarted();
        }
        let payload = reason.map(|r| frames::close_payload(r.code, &r.reason)).unwrap_or_default();
        let mut frame = Vec::with_capacity(8 + payload.len());
        frames::encode_frame(&mut frame, frames::close_opcode(), &payload, self.mask());
        self.out.push_essential(Arc::from(frame), false);
        match self.set_state(State::Closing { deadline: now + settings.close_timeout }) {
            State::Open(open) => Some(open.role),
            _ => None,
        }
    }

    /// Queue a final HTTP response and close after it (only before an upgrade).
    pub(crate) fn respond_and_close(
        &mut self,
        response: Vec<u8>,
        now: Instant,
        settings: &Settings,
    ) {
        self.out.push_essential(Arc::from(response), false);
        self.set_state(State::Closing { deadline: now + settings.close_timeout });
    }

    /// Called when the outgoing queue has drained in `Closing`: half-close (after a TLS
    /// `close_notify`) and linger, or free the connection if the peer already sent EOF.
    pub(crate) fn closing_flushed(&mut self) -> Closed {
        let State::Closing { deadline } = self.state else { return Closed::Pending };
        if self.peer_eof {
            return Closed::Free;
        }
        if matches!(self.side, Side::Client(_)) {
            // A client lets the server close the TCP connection first (RFC 6455 §7.1.1).
            self.set_state(State::Linger { deadline });
            return Closed::Linger;
        }
        match self.stream.finish_writes() {
            Ok(true) => {
                self.set_state(State::Linger { deadline });
                Closed::Linger
            }
            Ok(false) => Closed::Pending,
            Err(_) => Closed::Free,
        }
    }

    /// Decide what the armed timer means at `now`.
    pub(crate) fn on_timer(&mut self, now: Instant, settings: &Settings) -> TimerVerdict {
        let last_rx = self.last_rx;
        match (&mut self.state, &mut self.side) {
            (State::Open(open), Side::Client(c)) => c.keepalive(now, last_rx, &mut open.ping_sent),
            (State::Open(open), Side::Accepted) => open.on_timer(now, last_rx, settings),
            (state, side) => {
                let deadline = state.deadline().unwrap_or(now);
                if now < deadline {
                    return TimerVerdict::Rearm(deadline);
                }
                if let (State::Connecting { .. } | State::Handshaking(_), Side::Client(c)) =
                    (&*state, side)
                {
                    let what = if matches!(state, State::Connecting { .. }) {
                        "connect"
                    } else {
                        "handshake"
                    };
                    let why = format!("{what} timed out after {:?}", c.connect_timeout);
                    c.note(why);
                }
                TimerVerdict::Drop
            }
        }
    }

    /// The instant the connection's next timer should fire, given its state.
    pub(crate) fn next_deadline(&self, settings: &Settings) -> Option<Instant> {
        match (&self.state, &self.side) {
            (State::Open(open), Side::Client(c)) => c.next_deadline(self.last_rx, open.ping_sent),
            (State::Open(open), Side::Accepted) => open.next_deadline(self.last_rx, settings),
            (state, _) => state.deadline(),
        }
    }
}
