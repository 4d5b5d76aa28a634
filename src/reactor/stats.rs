//! Counters kept by the reactor thread (plain integers: it is their only writer) and handed out
//! as snapshots through [`crate::Handle::stats`] or [`crate::Reactor::stats`].

/// A snapshot of the reactor's counters since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections currently held (any state).
    pub connections_open: u64,
    /// Connections accepted.
    pub connections_accepted: u64,
    /// `accept` failures (e.g. out of file descriptors); accepting pauses briefly after one.
    pub accept_errors: u64,
    /// Successful WebSocket upgrades.
    pub upgrades: u64,
    /// Requests answered with plain HTTP (any status).
    pub http_responses: u64,
    /// Requests refused before the upgrade (4xx).
    pub handshakes_rejected: u64,
    /// Handshakes dropped at the handshake deadline.
    pub handshake_timeouts: u64,
    /// Data messages received from publishers and handles.
    pub messages_in: u64,
    /// Payload bytes of those messages.
    pub bytes_in: u64,
    /// Messages queued to subscribers (one per subscriber per message).
    pub messages_out: u64,
    /// Encoded bytes queued to subscribers (one count per subscriber).
    pub bytes_out: u64,
    /// Messages published to a topic that had no subscriber.
    pub messages_unrouted: u64,
    /// Data messages sent by subscribers, which are discarded.
    pub messages_ignored: u64,
    /// Subscribers closed with `1008` for exceeding `max_queued_bytes`.
    pub slow_consumer_closes: u64,
    /// Connections closed for a protocol violation (`1002`, `1007`, `1009`, and the `1008`
    /// fragment limits, which are also counted in `fragment_limit_closes`).
    pub protocol_closes: u64,
    /// Connections closed because a keepalive ping went unanswered.
    pub keepalive_closes: u64,
    /// Live topics.
    pub topics: u64,
    /// Connections refused at accept because `max_connections` were open.
    pub refused_max_connections: u64,
    /// Connections refused at accept because their IP had `max_connections_per_ip` open.
    pub refused_per_ip: u64,
    /// Upgrades refused with `403` because the `Origin` is not allowed.
    pub origin_rejections: u64,
    /// Upgrades refused with `401`: no token, an unknown token, or a token that does not verify
    /// or has expired.
    pub auth_failures: u64,
    /// Upgrades refused with `403`: the token lacks the right for the topic.
    pub auth_denials: u64,
    /// Connections closed with `1008` because their token expired.
    pub token_expiry_closes: u64,
    /// Connections closed with `1008` for exceeding `max_messages_per_sec`.
    pub rate_limit_closes: u64,
    /// Connections closed with `1008` for too many (or too many empty) fragments.
    pub fragment_limit_closes: u64,
    /// TLS connections that failed (a bad handshake, a protocol error or a bad record).
    pub tls_errors: u64,
}
