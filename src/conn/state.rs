//! A connection's state: one enum whose variants carry what that phase needs, and nothing
//! else. `Conn::set_state` is the only place it changes.

use std::time::Instant;

use super::frames::{FrameReader, Role as FrameRole};
use super::keepalive::keepalive;
use super::{Settings, TimerVerdict};
use crate::topic::{TopicId, TopicPattern};

/// Where a connection is in its life.
#[derive(Debug)]
pub(crate) enum State {
    /// Accepted: reading HTTP request heads (before any upgrade, or plain keep-alive HTTP).
    Http(Http),
    /// Client: the TCP connect is in progress.
    Connecting {
        /// Until the connect and the handshake must be done.
        deadline: Instant,
    },
    /// Client: the upgrade request is sent; reading the response head.
    Handshaking(Handshaking),
    /// A WebSocket connection exchanging messages.
    Open(Open),
    /// A close frame or a final HTTP response is queued; flush it, then half-close.
    Closing {
        /// Until the flush and the peer's EOF.
        deadline: Instant,
    },
    /// Our side is shut down for writing; wait for the peer's EOF (bounded by a deadline).
    Linger {
        /// Until the peer's EOF.
        deadline: Instant,
    },
}

impl State {
    /// The state's name, for traces and logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            State::Http(_) => "Http",
            State::Connecting { .. } => "Connecting",
            State::Handshaking(_) => "Handshaking",
            State::Open(_) => "Open",
            State::Closing { .. } => "Closing",
            State::Linger { .. } => "Linger",
        }
    }

    /// The deadline of every state but `Open` (whose timers are its keepalive).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            State::Http(h) => Some(h.deadline),
            State::Handshaking(h) => Some(h.deadline),
            State::Connecting { deadline }
            | State::Closing { deadline }
            | State::Linger { deadline } => Some(*deadline),
            State::Open(_) => None,
        }
    }

    /// The unconsumed input bytes of a state that parses its input (a partial request or
    /// response head, a partial frame); `None` in states that discard what arrives.
    pub(crate) fn inbuf(&mut self) -> Option<&mut Vec<u8>> {
        match self {
            State::Http(h) => Some(&mut h.inbuf),
            State::Handshaking(h) => Some(&mut h.inbuf),
            State::Open(o) => Some(&mut o.inbuf),
            State::Connecting { .. } | State::Closing { .. } | State::Linger { .. } => None,
        }
    }
}

/// Reading HTTP requests.
#[derive(Debug)]
pub(crate) struct Http {
    /// The handshake deadline, or the idle deadline after a keep-alive answer.
    pub(crate) deadline: Instant,
    /// Bytes of request heads not yet handled.
    pub(crate) inbuf: Vec<u8>,
    /// The answers queued reached the queue's bound: requests are not read until it drains.
    pub(crate) paused: bool,
}

impl Http {
    pub(crate) fn new(deadline: Instant) -> Http {
        Http { deadline, inbuf: Vec::new(), paused: false }
    }
}

/// A client waiting for the upgrade response.
#[derive(Debug)]
pub(crate) struct Handshaking {
    pub(crate) deadline: Instant,
    /// Bytes of the response head not yet complete.
    pub(crate) inbuf: Vec<u8>,
    /// The `Sec-WebSocket-Accept` the response must carry.
    pub(crate) accept: Box<str>,
}

impl Handshaking {
    pub(crate) fn new(deadline: Instant, accept: String) -> Handshaking {
        Handshaking { deadline, inbuf: Vec::new(), accept: accept.into() }
    }
}

/// What an open connection does with the messages it receives, and where it is registered.
#[derive(Debug)]
pub(crate) enum Role {
    /// `/pub/<topic>`: every message is published to the topic.
    Publish(TopicId),
    /// `/sub/<topics>`: receives the topics' messages.
    Subscribe(Box<Subscriptions>),
    /// `/echo`: every message is sent back.
    Echo,
    /// The dashboard's live feed; the value is its slot in the feed's set.
    Feed(usize),
    /// A connector's connection: a source publishes what it receives to its topic.
    Upstream(Option<TopicId>),
}

/// What a subscriber connection is subscribed to, and how.
#[derive(Debug)]
pub(crate) struct Subscriptions {
    /// It speaks `sluice.v1` (envelopes, control messages, `subscribe` commands).
    pub(crate) envelope: bool,
    /// (topic, slot in the topic's subscriber set).
    pub(crate) list: Vec<(TopicId, usize)>,
    /// The topics its credential may subscribe to (`None`: any), for `subscribe` commands.
    pub(crate) may_subscribe: Option<Box<[TopicPattern]>>,
}

impl Subscriptions {
    /// Whether a `subscribe` command may name `topic`.
    pub(crate) fn may_subscribe(&self, topic: &str) -> bool {
        self.may_subscribe.as_ref().is_none_or(|p| p.iter().any(|p| p.matches(topic)))
    }
}

/// An open WebSocket.
#[derive(Debug)]
pub(crate) struct Open {
    pub(crate) reader: FrameReader,
    /// Bytes of a frame not yet complete.
    pub(crate) inbuf: Vec<u8>,
    pub(crate) role: Role,
    /// When the outstanding keepalive ping was sent.
    pub(crate) ping_sent: Option<Instant>,
    /// When the credentials the connection was admitted with expire (a JWT's `exp`).
    pub(crate) expires: Option<Instant>,
    /// Inbound rate limit: the theoretical arrival time of the next message (GCRA).
    pub(crate) rate_tat: Instant,
    /// permessage-deflate on an accepted connection: the window (bits) what we send it is
    /// compressed with (`None`: not negotiated; a connector never compresses).
    pub(crate) deflate: Option<u8>,
}

impl Open {
    pub(crate) fn new(role: Role, now: Instant) -> Open {
        let frame_role = match role {
            Role::Upstream(_) => FrameRole::Client,
            _ => FrameRole::Server,
        };
        Open {
            reader: FrameReader::new(frame_role),
            inbuf: Vec::new(),
            role,
            ping_sent: None,
            expires: None,
            rate_tat: now,
            deflate: None,
        }
    }

    /// An accepted connection's timer: token expiry, then keepalive.
    pub(crate) fn on_timer(
        &mut self,
        now: Instant,
        last_rx: Instant,
        settings: &Settings,
    ) -> TimerVerdict {
        if self.expires.is_some_and(|at| now >= at) {
            return TimerVerdict::Expired;
        }
        match keepalive(now, last_rx, &mut self.ping_sent, settings) {
            TimerVerdict::Idle => self.expires.map_or(TimerVerdict::Idle, TimerVerdict::Rearm),
            other => other,
        }
    }

    /// An accepted connection's next keepalive or expiry instant.
    pub(crate) fn next_deadline(&self, last_rx: Instant, settings: &Settings) -> Option<Instant> {
        let keepalive = match self.ping_sent {
            Some(at) => Some(at + settings.pong_timeout),
            None if settings.idle_ping.is_zero() => None,
            None => Some(last_rx + settings.idle_ping),
        };
        match (keepalive, self.expires) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
