//! The families of the subsystems that run beside the relay's core: the worker queues, the
//! pipelines, the upstream connectors and permessage-deflate. One series per worker, pipeline
//! or connector, so their cardinality is bounded by the configuration.

use std::fmt::Write as _;

use super::{breakdown, escape, family, gauge, labelled, table};
use crate::metrics::Stats;
use crate::ops::PipelineCounters;

/// Worker queues: one series per worker for its inbound queue, one for the shared results.
pub(super) fn workers(w: &mut String, s: &Stats) {
    let queues: Vec<_> = s.worker_queues.iter().enumerate().collect();
    table(
        w,
        &queues,
        |(i, _)| format!("worker=\"{i}\""),
        &[
            (
                "sluice_worker_queue_depth",
                "gauge",
                "Batches waiting in the worker's inbound queue (reactor to worker) now.",
                |(_, q)| q.queued,
            ),
            (
                "sluice_worker_queue_capacity",
                "gauge",
                "Bound of the worker's inbound queue in batches (workers.queue).",
                |(_, q)| q.capacity,
            ),
        ],
    );
    gauge(
        w,
        "sluice_result_queue_depth",
        "Batches of results waiting for the reactor in the channel the workers share now.",
        s.result_queue.queued,
    );
    gauge(
        w,
        "sluice_result_queue_capacity",
        "Bound of the result channel in batches.",
        s.result_queue.capacity,
    );
}

/// Pipelines: one series per pipeline (and per kind of error or late event), one family per
/// entry of [`PipelineCounters::FIELDS`] (counters sharing a family are told apart by a label).
pub(super) fn pipelines(w: &mut String, s: &Stats) {
    let labels: Vec<String> =
        s.pipelines.iter().map(|p| format!("pipeline=\"{}\"", escape(&p.name))).collect();
    let fields = &PipelineCounters::FIELDS;
    for (i, info) in fields.iter().enumerate() {
        if fields[..i].iter().any(|f| f.family == info.family) {
            continue; // rendered with the first counter of its family
        }
        family(w, info.family, "counter", info.help);
        for (p, l) in s.pipelines.iter().zip(&labels) {
            let values = p.counters.values();
            for (j, member) in fields.iter().enumerate().filter(|(_, f)| f.family == info.family) {
                match member.label {
                    Some((key, value)) => {
                        let _ =
                            writeln!(w, "{}{{{l},{key}=\"{value}\"}} {}", info.family, values[j]);
                    }
                    None => {
                        let _ = writeln!(w, "{}{{{l}}} {}", info.family, values[j]);
                    }
                }
            }
        }
    }
}

/// Upstream connectors: one series per connector, labelled with its name and kind.
pub(super) fn connectors(w: &mut String, s: &Stats) {
    type Connector = crate::connector::ConnectorStats;
    let labels = |c: &Connector| {
        format!("connector=\"{}\",kind=\"{}\"", escape(&c.name), c.kind.map_or("", |k| k.as_str()))
    };
    table(
        w,
        &s.connectors,
        labels,
        &[
            (
                "sluice_connector_up",
                "gauge",
                "1 while the connector's upstream connection is open.",
                |c| u64::from(c.state.is_open()),
            ),
            ("sluice_connector_connects_total", "counter", "Upstream connections opened.", |c| {
                c.connects
            }),
            (
                "sluice_connector_disconnects_total",
                "counter",
                "Open upstream connections that ended.",
                |c| c.disconnects,
            ),
            (
                "sluice_connector_connect_failures_total",
                "counter",
                "Attempts that failed before the connection opened.",
                |c| c.connect_failures,
            ),
            (
                "sluice_connector_reconnect_attempts_total",
                "counter",
                "Attempts started after a failure or a disconnect.",
                |c| c.reconnect_attempts,
            ),
            (
                "sluice_connector_messages_in_total",
                "counter",
                "Messages received from the upstream.",
                |c| c.messages_in,
            ),
            (
                "sluice_connector_messages_out_total",
                "counter",
                "Messages written to the upstream.",
                |c| c.messages_out,
            ),
            (
                "sluice_connector_buffered_messages",
                "gauge",
                "Messages waiting in the connector's buffer for the upstream.",
                |c| c.buffered_messages,
            ),
            (
                "sluice_connector_buffered_bytes",
                "gauge",
                "Bytes (encoded frames) waiting in the connector's buffer.",
                |c| c.buffered_bytes,
            ),
        ],
    );
    breakdown(
        w,
        "sluice_connector_dropped_total",
        "Messages dropped by a connector's buffer, by reason.",
        s.connectors.iter().map(|c| {
            let reasons = vec![
                ("overflow", c.dropped_overflow),
                ("oversize", c.dropped_oversize),
                ("stopped", c.dropped_at_stop),
            ];
            (labels(c), "reason", reasons)
        }),
    );
}

/// The cluster connection (in a cluster): one series each, labelled with the node.
pub(super) fn cluster(w: &mut String, s: &Stats) {
    let Some(c) = &s.cluster else { return };
    let node = format!("node=\"{}\"", escape(&c.node));
    let one = [c];
    table(
        w,
        &one,
        |_| node.clone(),
        &[
            ("sluice_cluster_up", "gauge", "1 while the NATS connection is up.", |c| {
                u64::from(c.connected)
            }),
            ("sluice_cluster_connects_total", "counter", "NATS connections made.", |c| c.connects),
            ("sluice_cluster_disconnects_total", "counter", "NATS connections lost.", |c| {
                c.disconnects
            }),
            (
                "sluice_cluster_published_total",
                "counter",
                "Messages sent to the cluster's streams (gap markers included).",
                |c| c.published,
            ),
            ("sluice_cluster_acked_total", "counter", "Messages the streams acknowledged.", |c| {
                c.acked
            }),
            (
                "sluice_cluster_duplicates_total",
                "counter",
                "Copies sent again after a reconnect that a stream already had (dropped).",
                |c| c.duplicates,
            ),
            (
                "sluice_cluster_received_total",
                "counter",
                "Messages read from the cluster by this node's consumers.",
                |c| c.received,
            ),
            (
                "sluice_cluster_consumer_resets_total",
                "counter",
                "Consumers restarted after a lost delivery or a silence.",
                |c| c.consumer_resets,
            ),
            (
                "sluice_cluster_publish_failed_total",
                "counter",
                "Messages the cluster refused to store (each owed as a gap).",
                |c| c.publish_failed,
            ),
            (
                "sluice_cluster_not_sent_total",
                "counter",
                "Messages not sent to the cluster (NATS unreachable, or the pending bound full).",
                |c| c.not_sent,
            ),
            (
                "sluice_cluster_pending_messages",
                "gauge",
                "Messages waiting for their stream's acknowledgement now.",
                |c| c.pending_messages,
            ),
            (
                "sluice_cluster_pending_bytes",
                "gauge",
                "Bytes of the messages waiting for an acknowledgement now.",
                |c| c.pending_bytes,
            ),
            (
                "sluice_cluster_detached_topics",
                "gauge",
                "Topics on a local stream now because NATS was unreachable.",
                |c| c.detached_topics,
            ),
        ],
    );
}

/// permessage-deflate: negotiations, the shared compressor, the inflaters.
pub(super) fn compression(w: &mut String, s: &Stats) {
    let c = &s.compression;
    gauge(
        w,
        "sluice_deflate_connections",
        "Open connections with permessage-deflate negotiated now.",
        c.connections,
    );
    labelled(
        w,
        "sluice_deflate_negotiations_total",
        "permessage-deflate offers accepted, and upgrades whose offers were all declined (they went on uncompressed).",
        "result",
        [("accepted", c.negotiated), ("declined", c.declined)],
    );
    labelled(
        w,
        "sluice_deflate_messages_total",
        "Messages compressed (once per message and window size, whatever the number of subscribers), and compressed messages received and inflated.",
        "direction",
        [("compress", c.compressed_messages), ("inflate", c.inflated_messages)],
    );
    family(
        w,
        "sluice_deflate_bytes_total",
        "counter",
        "Payload bytes into and out of the compressor (compress: in = raw, out = compressed) and the inflaters (inflate: in = compressed, out = raw).",
    );
    for (direction, stage, n) in [
        ("compress", "in", c.compressed_bytes_in),
        ("compress", "out", c.compressed_bytes_out),
        ("inflate", "in", c.inflated_bytes_in),
        ("inflate", "out", c.inflated_bytes_out),
    ] {
        let _ = writeln!(
            w,
            "sluice_deflate_bytes_total{{direction=\"{direction}\",stage=\"{stage}\"}} {n}"
        );
    }
    family(
        w,
        "sluice_deflate_compress_seconds_total",
        "counter",
        "Time the reactor thread spent compressing.",
    );
    let _ = writeln!(w, "sluice_deflate_compress_seconds_total {}", c.compress_nanos as f64 / 1e9);
    labelled(
        w,
        "sluice_deflate_uncompressed_total",
        "Messages for subscribers with permessage-deflate sent uncompressed, by reason: below min_size, not smaller compressed, compressor error.",
        "reason",
        [
            ("small", c.uncompressed_small),
            ("incompressible", c.uncompressed_incompressible),
            ("error", c.compress_failed),
        ],
    );
    labelled(
        w,
        "sluice_deflate_inflate_refused_total",
        "Compressed messages refused: inflating past max_message_size (1009), or not valid DEFLATE (1007).",
        "reason",
        [("too_big", c.inflate_refused_too_big), ("invalid", c.inflate_refused_invalid)],
    );
    gauge(
        w,
        "sluice_deflate_context_inflaters",
        "Inflaters owned by connections now (peers keeping their compression context, fragmented compressed messages in progress), about 46 KiB each.",
        c.context_inflaters,
    );
}
