//! The families of the subsystems that run beside the relay's core: the worker queues, the
//! pipelines and the upstream connectors. One series per worker, pipeline or connector, so
//! their cardinality is bounded by the configuration.

use super::{breakdown, escape, gauge, table};
use crate::reactor::stats::{PipelineStats, Stats};

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

/// Pipelines: one series per pipeline (and per kind of error or late event).
pub(super) fn pipelines(w: &mut String, s: &Stats) {
    let pipeline = |p: &PipelineStats| format!("pipeline=\"{}\"", escape(&p.name));
    table(
        w,
        &s.pipelines,
        pipeline,
        &[
            (
                "sluice_pipeline_messages_in_total",
                "counter",
                "Messages published to the pipeline's inputs.",
                |p| p.messages_in,
            ),
            (
                "sluice_pipeline_records_in_total",
                "counter",
                "Messages that entered the pipeline's steps on a worker.",
                |p| p.records_in,
            ),
            (
                "sluice_pipeline_records_out_total",
                "counter",
                "Results published to the pipeline's output topic.",
                |p| p.records_out,
            ),
            ("sluice_pipeline_filtered_total", "counter", "Messages removed by a filter.", |p| {
                p.filtered
            }),
            (
                "sluice_pipeline_dropped_total",
                "counter",
                "Messages dropped because their worker's queue was full (drop-newest).",
                |p| p.dropped_full,
            ),
            (
                "sluice_pipeline_window_results_total",
                "counter",
                "Window results published (late re-firings included).",
                |p| p.windows_fired,
            ),
            (
                "sluice_pipeline_window_updates_total",
                "counter",
                "Window results that were late re-firings (\"update\": true).",
                |p| p.updates,
            ),
            (
                "sluice_pipeline_windows_full_total",
                "counter",
                "Events dropped because they would have opened a window beyond max_windows.",
                |p| p.windows_full,
            ),
        ],
    );
    breakdown(
        w,
        "sluice_pipeline_late_events_total",
        "Events past the allowed lateness of an event-time window, by what happened to them.",
        s.pipelines.iter().map(|p| {
            (pipeline(p), "action", vec![("published", p.late_out), ("dropped", p.late_dropped)])
        }),
    );
    breakdown(
        w,
        "sluice_pipeline_errors_total",
        "Messages of the pipeline that failed, by kind.",
        s.pipelines.iter().map(|p| {
            let kinds = vec![
                ("invalid_json", p.invalid_json),
                ("expr", p.expr_errors),
                ("key", p.key_errors),
                ("operator", p.operator_errors),
                ("time", p.time_errors),
            ];
            (pipeline(p), "kind", kinds)
        }),
    );
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
