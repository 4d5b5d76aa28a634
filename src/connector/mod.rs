//! Upstream WebSocket connectors: the reactor as a WebSocket *client*.
//!
//! A **source** connects to an upstream feed and publishes every message it receives to a
//! topic, exactly as a `/pub/<topic>` connection would (so pipelines reading the topic see it).
//! A **sink** sends every message published to a topic to an upstream endpoint, in order, through
//! a bounded buffer that also holds messages while the upstream is away.
//!
//! Contract:
//!
//! - A connector's connection lives in the reactor's connection slab like any accepted one, and
//!   goes `Connecting` (non-blocking TCP connect) → `Handshaking` (request sent, response being
//!   read) → `Open` → `Closing` → freed. Waiting to reconnect is a timer, not a connection.
//! - On any failure — refused, reset, handshake refused, a close from the upstream, a protocol
//!   error, or a stalled upstream (nothing received, data or pong, for `stall_timeout`) — the
//!   connector reconnects after an exponential backoff with jitter ([`Backoff`]). Every connect,
//!   disconnect and failed attempt is logged, counted ([`ConnectorStats`]) and published as a
//!   JSON status event on the status topic (`<topic>.status` unless set; schema in the README).
//! - Client frames are masked with a fresh random key each; frames from the upstream must not be
//!   masked (else close `1002`). Size limits and UTF-8 checks are the relay's own (`[limits]`).
//! - `subscribe` messages are sent first on every new connection, before any buffered message.
//! - With [`Connector::compression`] the handshake offers permessage-deflate (RFC 7692); if the
//!   upstream accepts, its compressed messages are inflated (counted against
//!   `max_message_size` like the relay's own clients' messages) and published as they were
//!   before compression. What a connector sends upstream is never compressed.
//! - `wss://` runs the connection over TLS (rustls, driven by the reactor like the server
//!   side's): the certificate is always verified, against the connector's `ca_file` or the
//!   platform's roots (`connector/tls.rs`). A failed TLS handshake is a failed attempt like a
//!   refused connect: a `connect_failed` status event with the reason, then the backoff.
//! - Nothing here blocks the reactor: host names are resolved on a helper thread, and TLS
//!   roots are read by whoever adds the connector (`Connector::prepare`).
//!
//! Build one with [`Connector::source`] or [`Connector::sink`] and add it with
//! [`crate::Reactor::add_connector`] (or [`crate::Handle::add_connector`] while running), or
//! declare `[[source]]` / `[[sink]]` tables in the configuration file.

mod backoff;
mod buffer;
pub(crate) mod handshake;
pub(crate) mod resolve;
pub(crate) mod status;
pub(crate) mod table;
pub(crate) mod tls;
mod url;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use backoff::Backoff;
pub use buffer::Overflow;
pub(crate) use buffer::SinkBuffer;
pub use handshake::HandshakeError;
pub use url::WsUrl;

use crate::topic::validate_topic;

/// Whether a connector reads from or writes to its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorKind {
    /// Upstream → topic.
    Source,
    /// Topic → upstream.
    Sink,
}

impl ConnectorKind {
    /// `"source"` or `"sink"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Source => "source",
            ConnectorKind::Sink => "sink",
        }
    }
}

/// Where a connector is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectorState {
    /// Added; it starts with the reactor's first loop iteration.
    #[default]
    Idle,
    /// Resolving the host name.
    Resolving,
    /// TCP connect in progress.
    Connecting,
    /// Upgrade request sent, waiting for the `101`.
    Handshaking,
    /// Connected: messages flow.
    Open,
    /// Waiting to reconnect after a failure.
    Backoff,
    /// Stopped (the relay is stopping or the connector was removed).
    Stopped,
}

impl ConnectorState {
    /// True when messages flow (what a readiness check wants to know).
    pub fn is_open(self) -> bool {
        self == ConnectorState::Open
    }

    /// The state's name in lower case (`open`, `backoff`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorState::Idle => "idle",
            ConnectorState::Resolving => "resolving",
            ConnectorState::Connecting => "connecting",
            ConnectorState::Handshaking => "handshaking",
            ConnectorState::Open => "open",
            ConnectorState::Backoff => "backoff",
            ConnectorState::Stopped => "stopped",
        }
    }
}

/// Counters and state of one connector since it was added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectorStats {
    /// The connector's name.
    pub name: String,
    /// `source` or `sink` (`None` only in a default value).
    pub kind: Option<ConnectorKind>,
    /// The upstream URL.
    pub url: String,
    /// Where it is now.
    pub state: ConnectorState,
    /// Handshakes completed (connections opened).
    pub connects: u64,
    /// Open connections that ended (for any reason).
    pub disconnects: u64,
    /// Attempts that failed before the connection opened (refused, timed out, handshake refused).
    pub connect_failures: u64,
    /// Attempts started after a failure or a disconnect (every attempt but the first).
    pub reconnect_attempts: u64,
    /// Data messages received from the upstream (a source publishes each to its topic).
    pub messages_in: u64,
    /// Payload bytes of those messages.
    pub bytes_in: u64,
    /// Messages from the topic written to the upstream in full.
    pub messages_out: u64,
    /// Bytes of those messages as written (masked frames, headers included).
    pub bytes_out: u64,
    /// Messages waiting in the buffer now.
    pub buffered_messages: u64,
    /// Bytes waiting in the buffer now (encoded frames).
    pub buffered_bytes: u64,
    /// Messages dropped by the buffer's overflow policy.
    pub dropped_overflow: u64,
    /// Messages dropped because they are larger than the whole buffer.
    pub dropped_oversize: u64,
    /// Messages left in the buffer when the connector stopped.
    pub dropped_at_stop: u64,
    /// Why the last connection or attempt ended, if one has.
    pub last_error: Option<String>,
}

impl ConnectorStats {
    /// Every message dropped by the buffer, of any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_overflow + self.dropped_oversize + self.dropped_at_stop
    }
}

/// A connector definition that cannot be used: which connector, which setting, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorError {
    /// The connector's name.
    pub connector: String,
    /// The setting at fault (`url`, `topic`, `backoff.max`, …).
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connector `{}`: `{}`: {}", self.connector, self.key, self.message)
    }
}

impl std::error::Error for ConnectorError {}

/// An upstream connector: a source or a sink, with its connection settings.
///
/// ```
/// use std::time::Duration;
/// use sluice::{Backoff, Connector};
///
/// let feed = Connector::source("feed", "ws://127.0.0.1:9001/trades", "raw")
///     .subscribe(r#"{"op":"subscribe","args":["trades"]}"#)
///     .header("Authorization", "Bearer secret")
///     .stall_timeout(Duration::from_secs(20));
/// let out = Connector::sink("out", "ws://127.0.0.1:9002/ingest", "results")
///     .buffer(1 << 20)
///     .backoff(Backoff { max: Duration::from_secs(5), ..Backoff::default() });
/// assert!(feed.validate().is_ok() && out.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Connector {
    pub(crate) name: String,
    pub(crate) kind: ConnectorKind,
    pub(crate) url: String,
    pub(crate) topic: String,
    pub(crate) send_from: Option<String>,
    pub(crate) subscribe: Vec<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) subprotocol: Option<String>,
    pub(crate) compression: bool,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) status_topic: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) stall_timeout: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) buffer: usize,
    pub(crate) overflow: Overflow,
}

/// A validated connector with its URL and TLS configuration, ready for the reactor.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) spec: Connector,
    pub(crate) url: WsUrl,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
}

/// Default bound of a connector's outgoing buffer.
pub const DEFAULT_BUFFER: usize = 4 << 20;

impl Connector {
    fn new(kind: ConnectorKind, name: &str, url: &str, topic: &str) -> Connector {
        Connector {
            name: name.into(),
            kind,
            url: url.into(),
            topic: topic.into(),
            send_from: None,
            subscribe: Vec::new(),
            headers: Vec::new(),
            subprotocol: None,
            compression: false,
            ca_file: None,
            status_topic: None,
            connect_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(30),
            backoff: Backoff::default(),
            buffer: DEFAULT_BUFFER,
            overflow: Overflow::default(),
        }
    }

    /// A source: every message received from `url` is published to `topic`.
    pub fn source(name: &str, url: &str, topic: &str) -> Connector {
        Connector::new(ConnectorKind::Source, name, url, topic)
    }

    /// A sink: every message published to `topic` is sent to `url`.
    pub fn sink(name: &str, url: &str, topic: &str) -> Connector {
        Connector::new(ConnectorKind::Sink, name, url, topic)
    }

    /// Send a text message first on every new connection (a subscription, a login); call again
    /// to send several, in order.
    pub fn subscribe(mut self, message: impl Into<String>) -> Connector {
        self.subscribe.push(message.into());
        self
    }

    /// Add a request header to the handshake (e.g. `Authorization`).
    pub fn header(mut self, name: &str, value: &str) -> Connector {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Request this subprotocol; the upstream must choose it.
    pub fn subprotocol(mut self, protocol: &str) -> Connector {
        self.subprotocol = Some(protocol.into());
        self
    }

    /// Offer permessage-deflate (RFC 7692) to the upstream, so a feed that compresses its
    /// messages can send them compressed. Default off. If the upstream accepts, its messages
    /// are inflated here (about 46 KiB for the connection's inflater when the upstream keeps its
    /// compression context); if it declines, nothing changes.
    pub fn compression(mut self, on: bool) -> Connector {
        self.compression = on;
        self
    }

    /// For a `wss://` URL: trust the CA certificates of this PEM file instead of the platform's
    /// root certificates (a private CA, a pinned set). The file is read when the connector is
    /// added.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Connector {
        self.ca_file = Some(path.into());
        self
    }

    /// For a source: also send every message published to `topic` upstream on the same
    /// connection (requests, acknowledgements, any two-way protocol), through the same bounded
    /// buffer as a sink.
    pub fn send_from(mut self, topic: &str) -> Connector {
        self.send_from = Some(topic.into());
        self
    }

    /// Publish status events here instead of `<topic>.status`.
    pub fn status_topic(mut self, topic: &str) -> Connector {
        self.status_topic = Some(topic.into());
        self
    }

    /// Time allowed for the TCP connect and the handshake together. Default 10 s.
    pub fn connect_timeout(mut self, d: Duration) -> Connector {
        self.connect_timeout = d;
        self
    }

    /// Ping the upstream after this long without receiving anything, and as often while it
    /// stays silent. Default 10 s; zero: never ping.
    pub fn ping_interval(mut self, d: Duration) -> Connector {
        self.ping_interval = d;
        self
    }

    /// An upstream from which nothing (data, pong, ping) arrives for this long is stalled: the
    /// connection is closed and a new one started. Default 30 s; zero: never.
    pub fn stall_timeout(mut self, d: Duration) -> Connector {
        self.stall_timeout = d;
        self
    }

    /// Reconnect delays.
    pub fn backoff(mut self, b: Backoff) -> Connector {
        self.backoff = b;
        self
    }

    /// Bound, in bytes of encoded frames, of the messages held for the upstream (sinks, and
    /// sources with [`Connector::send_from`]). Default 4 MiB.
    pub fn buffer(mut self, bytes: usize) -> Connector {
        self.buffer = bytes;
        self
    }

    /// What the buffer does with a message that does not fit. Default drop-oldest.
    pub fn overflow(mut self, policy: Overflow) -> Connector {
        self.overflow = policy;
        self
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Source or sink.
    pub fn kind(&self) -> ConnectorKind {
        self.kind
    }

    /// The topic messages from the upstream are published to (sources).
    pub(crate) fn publish_to(&self) -> Option<&str> {
        match self.kind {
            ConnectorKind::Source => Some(&self.topic),
            ConnectorKind::Sink => None,
        }
    }

    /// The topic whose messages are sent upstream (sinks, and sources with `send_from`).
    pub(crate) fn sends_from(&self) -> Option<&str> {
        match self.kind {
            ConnectorKind::Source => self.send_from.as_deref(),
            ConnectorKind::Sink => Some(&self.topic),
        }
    }

    /// The topic status events go to.
    pub fn get_status_topic(&self) -> String {
        self.status_topic.clone().unwrap_or_else(|| format!("{}.status", self.topic))
    }

    /// Check every setting; the error names the setting and says what was expected.
    pub fn validate(&self) -> Result<WsUrl, ConnectorError> {
        let err = |key: &str, message: String| ConnectorError {
            connector: self.name.clone(),
            key: key.into(),
            message,
        };
        validate_topic(&self.name)
            .map_err(|e| err("name", format!("a name follows the topic-name rules: {e}")))?;
        let url = WsUrl::parse(&self.url).map_err(|e| err("url", e))?;
        validate_topic(&self.topic).map_err(|e| err("topic", format!("`{}`: {e}", self.topic)))?;
        if let Some(t) = &self.send_from {
            if self.kind == ConnectorKind::Sink {
                return Err(err(
                    "send_from",
                    "only a source has `send_from`; a sink sends its `topic`".into(),
                ));
            }
            validate_topic(t).map_err(|e| err("send_from", format!("`{t}`: {e}")))?;
        }
        let status = self.get_status_topic();
        validate_topic(&status).map_err(|e| err("status_topic", format!("`{status}`: {e}")))?;
        if self.publish_to() == Some(status.as_str()) {
            return Err(err(
                "status_topic",
                "must not be the topic the source publishes to".into(),
            ));
        }
        for (name, value) in &self.headers {
            handshake::check_header(name, value).map_err(|e| err("headers", e))?;
        }
        if let Some(p) = &self.subprotocol {
            handshake::check_subprotocol(p).map_err(|e| err("subprotocol", e))?;
        }
        if let Some(path) = &self.ca_file {
            if !url.tls {
                return Err(err("ca_file", "only a wss:// URL uses a ca_file".into()));
            }
            if path.as_os_str().is_empty() {
                return Err(err("ca_file", "must name a PEM file of CA certificates".into()));
            }
        }
        if self.connect_timeout.is_zero() {
            return Err(err("connect_timeout", "must be longer than 0".into()));
        }
        if !self.stall_timeout.is_zero()
            && !self.ping_interval.is_zero()
            && self.stall_timeout <= self.ping_interval
        {
            return Err(err(
                "stall_timeout",
                format!(
                    "must be longer than ping_interval ({:?}), so a ping can be answered",
                    self.ping_interval
                ),
            ));
        }
        self.backoff.validate().map_err(|(k, m)| err(&format!("backoff.{k}"), m))?;
        if self.buffer < 1024 {
            return Err(err("buffer", "must be at least 1KiB".into()));
        }
        Ok(url)
    }

    /// Validate, and build what the reactor needs to start the connector, file reads included
    /// (the `ca_file`, the platform's roots): callers do this on their own thread, so the reactor
    /// never reads a file.
    pub(crate) fn prepare(self) -> Result<Prepared, ConnectorError> {
        let url = self.validate()?;
        let tls = self.tls_config(&url)?;
        Ok(Prepared { spec: self, url, tls })
    }

    /// The TLS client configuration of a `wss://` connector (`None` for `ws://`): reads the
    /// `ca_file`, or the platform's roots. The error names `ca_file` (or `url` when the platform
    /// store is empty) and says what is wrong.
    pub(crate) fn tls_config(
        &self,
        url: &WsUrl,
    ) -> Result<Option<Arc<rustls::ClientConfig>>, ConnectorError> {
        if !url.tls {
            return Ok(None);
        }
        tls::client_config(self.ca_file.as_deref()).map(Some).map_err(|message| ConnectorError {
            connector: self.name.clone(),
            key: if self.ca_file.is_some() { "ca_file" } else { "url" }.into(),
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_setting() {
        let ok = Connector::source("feed", "ws://127.0.0.1:1/x", "raw");
        assert!(ok.validate().is_ok());
        assert_eq!(ok.get_status_topic(), "raw.status");
        let key = |c: Connector| c.validate().unwrap_err().key;
        assert_eq!(key(Connector::source("a b", "ws://h/", "t")), "name");
        assert_eq!(key(Connector::source("a", "http://h/", "t")), "url");
        assert_eq!(key(Connector::source("a", "ws://h/", "t/x")), "topic");
        assert_eq!(key(Connector::sink("a", "ws://h/", "t").send_from("u")), "send_from");
        assert_eq!(key(ok.clone().status_topic("raw")), "status_topic");
        assert_eq!(key(Connector::source("a", "ws://h/", &"t".repeat(126))), "status_topic");
        assert_eq!(key(ok.clone().header("Host", "x")), "headers");
        assert_eq!(key(ok.clone().subprotocol("a b")), "subprotocol");
        assert_eq!(key(ok.clone().ca_file("ca.pem")), "ca_file");
        assert_eq!(key(Connector::source("a", "wss://h/", "t").ca_file("")), "ca_file");
        assert!(Connector::source("a", "wss://h/", "t").ca_file("ca.pem").validate().is_ok());
        assert_eq!(key(ok.clone().connect_timeout(Duration::ZERO)), "connect_timeout");
        let ms = Duration::from_millis;
        assert_eq!(key(ok.clone().ping_interval(ms(50)).stall_timeout(ms(50))), "stall_timeout");
        assert!(ok.clone().ping_interval(Duration::ZERO).stall_timeout(ms(50)).validate().is_ok());
        let bad = Backoff { jitter: 2.0, ..Backoff::default() };
        assert_eq!(key(ok.clone().backoff(bad)), "backoff.jitter");
        assert_eq!(key(ok.buffer(10)), "buffer");
        let e = Connector::source("feed", "ws://h/", "t/x").validate().unwrap_err();
        assert!(e.to_string().starts_with("connector `feed`: `topic`: "), "{e}");
    }

    #[test]
    fn topics_by_kind() {
        let s = Connector::source("s", "ws://h/", "in").send_from("out");
        assert_eq!((s.publish_to(), s.sends_from()), (Some("in"), Some("out")));
        let k = Connector::sink("k", "ws://h/", "results");
        assert_eq!((k.publish_to(), k.sends_from()), (None, Some("results")));
        assert_eq!(k.get_status_topic(), "results.status");
    }
}
