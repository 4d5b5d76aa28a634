//! The Prometheus text exposition format (version 0.0.4) of a [`Stats`] snapshot.
//!
//! Every family has `# HELP` and `# TYPE`; counters end in `_total`; latencies are histograms in
//! seconds with the fixed buckets of [`BUCKETS_NS`]. Label values are topic names (restricted
//! to `[A-Za-z0-9._:-]`, plus [`super::OTHER_TOPICS`]), drop and close reasons, and HTTP statuses,
//! so nothing needs escaping; [`escape`] is applied anyway so a future label cannot break the
//! format.

mod subsystems;

use std::fmt::Write;

use super::latency::{Latency, BUCKETS_NS};
use crate::metrics::Stats;
use subsystems::{cluster, compression, connectors, pipelines, workers};

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Render a snapshot in the Prometheus text format.
pub fn render(s: &Stats) -> String {
    let mut out = String::with_capacity(4096 + s.per_topic.len() * 1024);
    let w = &mut out;
    family(w, "sluice_build_info", "gauge", "Always 1; the version label names the build.");
    let _ = writeln!(w, "sluice_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    gauge(w, "sluice_uptime_seconds", "Seconds since the reactor started.", s.uptime.as_secs_f64());

    gauge(w, "sluice_connections_open", "Connections held now, in any state.", s.connections_open);
    counter(
        w,
        "sluice_connections_accepted_total",
        "Connections accepted.",
        s.connections_accepted,
    );
    counter(
        w,
        "sluice_accept_errors_total",
        "accept() failures such as EMFILE; accepting pauses briefly after each.",
        s.accept_errors,
    );
    counter(w, "sluice_upgrades_total", "Successful WebSocket upgrades.", s.upgrades);
    counter(w, "sluice_http_responses_total", "Plain HTTP responses sent.", s.http_responses);
    family(
        w,
        "sluice_http_rejected_total",
        "counter",
        "Requests refused before the upgrade, by HTTP status.",
    );
    for (status, n) in &s.rejected_by_status {
        let _ = writeln!(w, "sluice_http_rejected_total{{status=\"{status}\"}} {n}");
    }
    counter(
        w,
        "sluice_handshake_timeouts_total",
        "Connections dropped at the handshake deadline.",
        s.handshake_timeouts,
    );
    labelled(
        w,
        "sluice_connections_closed_total",
        "Connections closed by the relay, by reason.",
        "reason",
        [
            ("slow_consumer", s.slow_consumer_closes),
            ("protocol", s.protocol_closes),
            ("keepalive", s.keepalive_closes),
            ("rate_limit", s.rate_limit_closes),
            ("token_expired", s.token_expiry_closes),
        ],
    );
    labelled(
        w,
        "sluice_connections_refused_total",
        "Connections refused at accept by a connection limit, by limit.",
        "limit",
        [("max_connections", s.refused_max_connections), ("per_ip", s.refused_per_ip)],
    );
    labelled(
        w,
        "sluice_upgrades_refused_total",
        "Upgrades refused by the access checks, by reason.",
        "reason",
        [
            ("origin", s.origin_rejections),
            ("unauthenticated", s.auth_failures),
            ("forbidden", s.auth_denials),
        ],
    );
    counter(
        w,
        "sluice_fragment_limit_closes_total",
        "Connections closed with 1008 for too many fragments (also counted as protocol closes).",
        s.fragment_limit_closes,
    );
    counter(
        w,
        "sluice_tls_errors_total",
        "TLS connections that failed: a bad handshake, a protocol error or a bad record.",
        s.tls_errors,
    );
    gauge(w, "sluice_dashboard_connections", "Dashboard live-feed connections now.", s.dashboards);

    counter(
        w,
        "sluice_messages_in_total",
        "Messages published (connections and handles).",
        s.messages_in,
    );
    counter(w, "sluice_bytes_in_total", "Payload bytes published.", s.bytes_in);
    counter(
        w,
        "sluice_messages_out_total",
        "Messages queued to subscribers, one per subscriber.",
        s.messages_out,
    );
    counter(
        w,
        "sluice_bytes_out_total",
        "Encoded bytes queued to subscribers, one count per subscriber.",
        s.bytes_out,
    );
    counter(
        w,
        "sluice_messages_ignored_total",
        "Data messages sent by subscribers (discarded).",
        s.messages_ignored,
    );
    gauge(
        w,
        "sluice_topics",
        "Live topics (with a publisher, a subscriber, a pipeline, a sink, or history).",
        s.topics,
    );

    type Topic = crate::metrics::TopicStats;
    let topic = |t: &Topic| format!("topic=\"{}\"", escape(&t.name));
    table(
        w,
        &s.per_topic,
        topic,
        &[
            ("sluice_topic_subscribers", "gauge", "Subscribers of the topic now.", |t| {
                t.subscribers
            }),
            ("sluice_topic_publishers", "gauge", "Publisher connections of the topic now.", |t| {
                t.publishers
            }),
            (
                "sluice_topic_messages_in_total",
                "counter",
                "Messages published to the topic.",
                |t| t.messages_in,
            ),
            (
                "sluice_topic_bytes_in_total",
                "counter",
                "Payload bytes published to the topic.",
                |t| t.bytes_in,
            ),
            (
                "sluice_topic_messages_out_total",
                "counter",
                "Messages of the topic queued to subscribers.",
                |t| t.messages_out,
            ),
            (
                "sluice_topic_bytes_out_total",
                "counter",
                "Encoded bytes of the topic queued to subscribers.",
                |t| t.bytes_out,
            ),
            (
                "sluice_topic_history_messages",
                "gauge",
                "Messages (and gap markers) of the topic kept in history now.",
                |t| t.history_messages,
            ),
            ("sluice_topic_history_bytes", "gauge", "Bytes of the topic's history now.", |t| {
                t.history_bytes
            }),
            (
                "sluice_topic_history_evicted_total",
                "counter",
                "Messages of the topic evicted from history by limits.max_history_bytes.",
                |t| t.history_evicted,
            ),
        ],
    );
    gauge(
        w,
        "sluice_history_bytes",
        "Bytes of every topic's history now (bounded by limits.max_history_bytes).",
        s.history_bytes,
    );
    breakdown(
        w,
        "sluice_topic_dropped_total",
        "Messages of the topic dropped, by reason.",
        s.per_topic.iter().map(|t| (topic(t), "reason", t.drops.iter().collect())),
    );

    gauge(w, "sluice_workers", "Worker threads running pipelines.", s.workers);
    workers(w, s);
    pipelines(w, s);
    connectors(w, s);
    cluster(w, s);
    compression(w, s);

    histogram(
        w,
        "sluice_delivery_latency_seconds",
        "From the loop iteration that read a message to the end of the loop iteration that finished writing it to a subscriber; one value per message per subscriber.",
        &s.delivery,
    );
    histogram(
        w,
        "sluice_loop_duration_seconds",
        "Busy time of each reactor loop iteration (the wait in poll excluded).",
        &s.loop_time,
    );
    out
}

/// A family of a [`table`]: name, type, help, and the item's value.
pub(super) type Row<T> = (&'static str, &'static str, &'static str, fn(&T) -> u64);

/// One metric family per row, one sample per item: `name{labels(item)} value(item)`.
pub(super) fn table<T>(
    w: &mut String,
    items: &[T],
    labels: impl Fn(&T) -> String,
    rows: &[Row<T>],
) {
    let labels: Vec<String> = items.iter().map(labels).collect();
    for (name, kind, help, value) in rows {
        family(w, name, kind, help);
        for (item, l) in items.iter().zip(&labels) {
            let _ = writeln!(w, "{name}{{{l}}} {}", value(item));
        }
    }
}

/// A counter family broken down by one more label per series: for each
/// `(labels, key, [(value, n)])`, the samples `name{labels,key="value"} n`.
pub(super) fn breakdown<'a>(
    w: &mut String,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (String, &'a str, Vec<(&'a str, u64)>)>,
) {
    family(w, name, "counter", help);
    for (labels, key, values) in series {
        for (v, n) in values {
            let _ = writeln!(w, "{name}{{{labels},{key}=\"{v}\"}} {n}");
        }
    }
}

/// A counter family with one label: `name{key="value"} n` for each pair.
pub(super) fn labelled<const N: usize>(
    w: &mut String,
    name: &str,
    help: &str,
    key: &str,
    values: [(&str, u64); N],
) {
    family(w, name, "counter", help);
    for (v, n) in values {
        let _ = writeln!(w, "{name}{{{key}=\"{v}\"}} {n}");
    }
}

pub(super) fn family(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(w: &mut String, name: &str, help: &str, value: u64) {
    family(w, name, "counter", help);
    let _ = writeln!(w, "{name} {value}");
}

pub(super) fn gauge(w: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    family(w, name, "gauge", help);
    let _ = writeln!(w, "{name} {value}");
}

fn histogram(w: &mut String, name: &str, help: &str, h: &Latency) {
    family(w, name, "histogram", help);
    for (i, le) in BUCKETS_NS.iter().enumerate() {
        let n = h.buckets.get(i).copied().unwrap_or(0);
        let _ = writeln!(w, "{name}_bucket{{le=\"{}\"}} {n}", seconds(*le));
    }
    let _ = writeln!(w, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(w, "{name}_sum {}", h.sum.as_secs_f64());
    let _ = writeln!(w, "{name}_count {}", h.count);
}

/// Nanoseconds as a decimal number of seconds, without float noise (`2.5e-06` → `0.0000025`).
fn seconds(ns: u64) -> String {
    let s = format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Escape a label value: backslash, double quote and newline.
pub(super) fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return v.into();
    }
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds_are_plain_decimals() {
        assert_eq!(seconds(1_000), "0.000001");
        assert_eq!(seconds(2_500), "0.0000025");
        assert_eq!(seconds(1_000_000_000), "1");
        assert_eq!(seconds(2_500_000_000), "2.5");
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape("a.b"), "a.b");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn every_sample_follows_its_type_line() {
        let text = render(&Stats::default());
        let mut typed = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.insert(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|b| typed.contains(*b))
                    .unwrap_or(name);
                assert!(typed.contains(base), "sample without a TYPE line: {line}");
            }
        }
        assert!(text.contains("sluice_delivery_latency_seconds_bucket{le=\"+Inf\"} 0"));
    }
}
