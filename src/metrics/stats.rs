//! The snapshot of the relay's counters, handed out through [`crate::Handle::stats`] or
//! [`crate::Reactor::stats`]. The counters behind it are plain integers kept by the reactor
//! thread (their only writer) and relaxed atomics written by the workers.
//!
//! A [`Stats`] is the one source of every number Sluice shows: `/metrics` renders it
//! ([`crate::metrics::render`]), the dashboard's live feed is built from it, and an embedding
//! service reads it directly. A new subsystem exports its numbers by adding fields here (or a
//! table like [`Stats::per_topic`]) and a few lines to the exposition module.

use std::time::Duration;

use crate::metrics::{Drops, Latency, TopicStats};
use crate::ops::PipelineCounters;

/// A snapshot of the reactor's counters since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Time since the reactor was bound.
    pub uptime: Duration,
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
    /// Requests refused before the upgrade, by HTTP status, in ascending status order.
    pub rejected_by_status: Vec<(u16, u64)>,
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
    /// Messages published to a topic that had no subscriber and no pipeline reading it.
    pub messages_unrouted: u64,
    /// Data messages sent by subscribers (or by a sink's upstream), which are discarded.
    pub messages_ignored: u64,
    /// Messages dropped, by reason, summed over every topic.
    pub drops: Drops,
    /// Subscribers closed with `1008` for exceeding `max_queued_bytes`.
    pub slow_consumer_closes: u64,
    /// Connections closed for a protocol violation (`1002`, `1007`, `1009`, and the `1008`
    /// fragment limits, which are also counted in `fragment_limit_closes`).
    pub protocol_closes: u64,
    /// Connections closed because a keepalive ping went unanswered.
    pub keepalive_closes: u64,
    /// Live topics.
    pub topics: u64,
    /// Bytes of every topic's history now (bounded by `limits.max_history_bytes`).
    pub history_bytes: u64,
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
    /// Dashboard live-feed connections (`/_sluice/stats`) now.
    pub dashboards: u64,
    /// Per-topic counters: one entry per topic name ever seen, up to
    /// `metrics.max_topic_series`, then one entry named [`crate::metrics::OTHER_TOPICS`] for
    /// the rest.
    pub per_topic: Vec<TopicStats>,
    /// End-to-end delivery latency: from the loop iteration that read a message (or took it
    /// from a handle) to the end of the loop iteration whose `writev` finished writing it to a
    /// subscriber's socket. One value per message per subscriber.
    pub delivery: Latency,
    /// Busy time of each reactor loop iteration (from `poll` returning to the end of the
    /// iteration; the wait in `poll` is not included).
    pub loop_time: Latency,
    /// Worker threads running pipelines (0 until the first pipeline starts).
    pub workers: u64,
    /// Each worker's inbound queue (reactor → worker), indexed by worker: batches waiting now
    /// and the bound. Read from the channels when the snapshot is taken.
    pub worker_queues: Vec<QueueStats>,
    /// The result channel the workers share (workers → reactor): batches waiting for the
    /// reactor now, and the bound. Zero while no pipeline runs.
    pub result_queue: QueueStats,
    /// One entry per pipeline, in the order they were added.
    pub pipelines: Vec<PipelineStats>,
    /// One entry per upstream connector (sources and sinks), in the order they were added.
    pub connectors: Vec<crate::connector::ConnectorStats>,
    /// The cluster connection, when the relay is part of a cluster.
    pub cluster: Option<ClusterStats>,
    /// permessage-deflate: negotiations, the shared compressor, the inflaters.
    pub compression: CompressionStats,
}

/// A node's side of the cluster: its NATS connection and the messages it exchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterStats {
    /// This node's name (`cluster.node`).
    pub node: String,
    /// The NATS connection is up (its handshake completed).
    pub connected: bool,
    /// NATS connections made (handshake started).
    pub connects: u64,
    /// NATS connections lost.
    pub disconnects: u64,
    /// Messages sent to the cluster (a gap marker counts as one).
    pub published: u64,
    /// Of those, acknowledged by their stream.
    pub acked: u64,
    /// Acknowledged as duplicates: copies sent again after a reconnect that the stream already
    /// had (dropped by JetStream).
    pub duplicates: u64,
    /// Times unacknowledged messages were sent again after a reconnect.
    pub resent: u64,
    /// Messages read from the cluster by this node's consumers.
    pub received: u64,
    /// Consumers restarted (a lost delivery, a silent consumer).
    pub consumer_resets: u64,
    /// Messages the cluster refused to store (each owed as a gap).
    pub publish_failed: u64,
    /// Messages not sent to the cluster: published while NATS was unreachable, or past
    /// `cluster.max_pending_bytes` (each topic owes a gap for them).
    pub not_sent: u64,
    /// Messages waiting for their acknowledgement (or for their stream) now.
    pub pending_messages: u64,
    /// Bytes of those.
    pub pending_bytes: u64,
    /// Topics on a local stream now because NATS was unreachable.
    pub detached_topics: u64,
}

/// permessage-deflate (RFC 7692) since the reactor started: what was negotiated, what the one
/// shared compressor did (once per message per window size, whatever the number of
/// subscribers), and what was inflated or refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompressionStats {
    /// Open connections with permessage-deflate negotiated now (accepted ones and connectors').
    pub connections: u64,
    /// Handshakes that agreed on permessage-deflate (accepted connections and connectors).
    pub negotiated: u64,
    /// Upgrades whose offers were all declined (they went on uncompressed).
    pub declined: u64,
    /// Messages compressed, once each per window size in use.
    pub compressed_messages: u64,
    /// Payload bytes before compression.
    pub compressed_bytes_in: u64,
    /// Payload bytes after compression (frame headers not counted).
    pub compressed_bytes_out: u64,
    /// Time spent compressing on the reactor thread, in nanoseconds.
    pub compress_nanos: u64,
    /// Messages for subscribers with compression sent uncompressed: shorter than `min_size`.
    pub uncompressed_small: u64,
    /// Messages for subscribers with compression sent as they were: compressing did not make
    /// them smaller.
    pub uncompressed_incompressible: u64,
    /// Messages for subscribers with compression the compressor failed on (sent uncompressed).
    pub compress_failed: u64,
    /// Compressed messages received and inflated.
    pub inflated_messages: u64,
    /// Compressed payload bytes received.
    pub inflated_bytes_in: u64,
    /// Bytes those messages inflated to.
    pub inflated_bytes_out: u64,
    /// Compressed messages refused because they inflate past `max_message_size` (`1009`).
    pub inflate_refused_too_big: u64,
    /// Compressed messages refused because they are not valid DEFLATE (`1007`).
    pub inflate_refused_invalid: u64,
    /// Inflaters owned by connections now (peers that keep their compression context, and
    /// fragmented compressed messages in progress), about 46 KiB each.
    pub context_inflaters: u64,
}

/// A bounded queue between the reactor and the workers, at the moment of the snapshot. Both
/// numbers count batches: one batch holds the messages of one read for one (pipeline, worker),
/// up to 64 KiB, so a queue of 10 batches may hold 10 messages or thousands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Batches waiting in the queue.
    pub queued: u64,
    /// The queue's bound in batches (`workers.queue` for a worker's inbound queue).
    pub capacity: u64,
}

impl QueueStats {
    /// A queue holding `queued` of at most `capacity` batches.
    pub fn new(queued: u64, capacity: u64) -> QueueStats {
        QueueStats { queued, capacity }
    }
}

/// One pipeline's name, topics and counters since the reactor started. It dereferences to its
/// [`PipelineCounters`], so `stats.pipelines[0].records_out` reads a counter directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipelineStats {
    /// The pipeline's name.
    pub name: String,
    /// The topics it reads.
    pub from: Vec<String>,
    /// The topic its results are published to.
    pub to: String,
    /// Its counters: the reactor's routing and every worker's, summed.
    pub counters: PipelineCounters,
}

impl std::ops::Deref for PipelineStats {
    type Target = PipelineCounters;

    fn deref(&self) -> &PipelineCounters {
        &self.counters
    }
}
