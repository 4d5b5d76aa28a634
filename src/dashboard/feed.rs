//! The dashboard's live feed: one JSON text message per tick, built from a [`Stats`] snapshot.
//!
//! The first message on a new feed connection has `"type":"hello"` and carries the whole
//! history ring (the last [`crate::metrics::HISTORY_LEN`] seconds), so the page draws a full
//! chart at once; later messages have `"type":"tick"` and carry the newest sample only.
//! Counters are cumulative; the page turns them into rates from consecutive messages.
//!
//! The JSON is written by hand: its shape is fixed, and every string in it is either a constant,
//! a topic name (restricted to `[A-Za-z0-9._:-]`) or a pipeline name, all escaped.

use std::fmt::Write;

use crate::logging::json_escape;
use crate::metrics::{Drops, Latency, Sample};
use crate::metrics::{QueueStats, Stats};

/// Render one feed message.
pub(crate) fn render<'a>(
    s: &Stats,
    history: impl Iterator<Item = &'a Sample>,
    hello: bool,
    unix_ms: u64,
) -> String {
    let mut w = String::with_capacity(1024 + s.per_topic.len() * 200);
    let _ = write!(
        w,
        "{{\"type\":\"{}\",\"version\":\"{}\",\"unix_ms\":{unix_ms},\"uptime_s\":{:.3},",
        if hello { "hello" } else { "tick" },
        env!("CARGO_PKG_VERSION"),
        s.uptime.as_secs_f64()
    );
    object(
        &mut w,
        "conns",
        [
            ("open", s.connections_open),
            ("accepted", s.connections_accepted),
            ("upgrades", s.upgrades),
            ("dashboards", s.dashboards),
            ("rejected", s.handshakes_rejected),
            ("handshake_timeouts", s.handshake_timeouts),
            ("accept_errors", s.accept_errors),
        ],
    );
    object(
        &mut w,
        "closes",
        [
            ("slow_consumer", s.slow_consumer_closes),
            ("protocol", s.protocol_closes),
            ("keepalive", s.keepalive_closes),
        ],
    );
    object(
        &mut w,
        "totals",
        [
            ("messages_in", s.messages_in),
            ("bytes_in", s.bytes_in),
            ("messages_out", s.messages_out),
            ("bytes_out", s.bytes_out),
            ("unrouted", s.messages_unrouted),
            ("ignored", s.messages_ignored),
            ("topics", s.topics),
            ("history_bytes", s.history_bytes),
        ],
    );
    w.push_str("\"drops\":");
    drops(&mut w, &s.drops);
    w.push_str(",\"rejected\":{");
    for (i, (status, n)) in s.rejected_by_status.iter().enumerate() {
        let _ = write!(w, "{}\"{status}\":{n}", if i > 0 { "," } else { "" });
    }
    w.push_str("},\"delivery\":");
    latency(&mut w, &s.delivery);
    w.push_str(",\"loop\":");
    latency(&mut w, &s.loop_time);
    w.push_str(",\"topics\":[");
    for (i, t) in s.per_topic.iter().enumerate() {
        let _ = write!(
            w,
            "{}{{\"name\":\"{}\",\"subs\":{},\"pubs\":{},\"messages_in\":{},\"bytes_in\":{},\
             \"messages_out\":{},\"bytes_out\":{},\"history\":{},\"history_bytes\":{},\
             \"history_evicted\":{},\"drops\":",
            if i > 0 { "," } else { "" },
            json_escape(&t.name),
            t.subscribers,
            t.publishers,
            t.messages_in,
            t.bytes_in,
            t.messages_out,
            t.bytes_out,
            t.history_messages,
            t.history_bytes,
            t.history_evicted
        );
        drops(&mut w, &t.drops);
        w.push('}');
    }
    let _ = write!(w, "],\"workers\":{},\"queues\":[", s.workers);
    for (i, q) in s.worker_queues.iter().enumerate() {
        queue(&mut w, i > 0, q);
    }
    w.push_str("],\"result_queue\":");
    queue(&mut w, false, &s.result_queue);
    w.push_str(",\"pipelines\":[");
    for (i, p) in s.pipelines.iter().enumerate() {
        let _ = write!(
            w,
            "{}{{\"name\":\"{}\",\"to\":\"{}\",\"from\":[",
            if i > 0 { "," } else { "" },
            json_escape(&p.name),
            json_escape(&p.to)
        );
        for (j, from) in p.from.iter().enumerate() {
            let _ = write!(w, "{}\"{}\"", if j > 0 { "," } else { "" }, json_escape(from));
        }
        w.push_str("],");
        let counters = p.counters.iter().map(|(f, n)| (f.name, n));
        fields(&mut w, counters.chain([("errors", p.errors())]));
        w.push('}');
    }
    w.push_str("],\"history\":[");
    for (i, h) in history.enumerate() {
        let _ = write!(
            w,
            "{}{{\"t\":{},\"n\":{},\"p50\":{},\"p99\":{},\"max\":{},\"in\":{},\"out\":{}}}",
            if i > 0 { "," } else { "" },
            h.unix_ms,
            h.delivery.count,
            h.delivery.p50_ns,
            h.delivery.p99_ns,
            h.delivery.max_ns,
            h.messages_in,
            h.messages_out
        );
    }
    w.push_str("]}");
    w
}

/// `"key":{"a":1,…},`
fn object<'a>(w: &mut String, key: &str, values: impl IntoIterator<Item = (&'a str, u64)>) {
    let _ = write!(w, "\"{key}\":{{");
    fields(w, values);
    w.push_str("},");
}

/// `"a":1,"b":2` (no braces).
fn fields<'a>(w: &mut String, values: impl IntoIterator<Item = (&'a str, u64)>) {
    for (i, (k, n)) in values.into_iter().enumerate() {
        let _ = write!(w, "{}\"{k}\":{n}", if i > 0 { "," } else { "" });
    }
}

/// `{"queued":n,"capacity":c}`, after a comma if `comma`.
fn queue(w: &mut String, comma: bool, q: &QueueStats) {
    w.push_str(if comma { ",{" } else { "{" });
    fields(w, [("queued", q.queued), ("capacity", q.capacity)]);
    w.push('}');
}

fn drops(w: &mut String, d: &Drops) {
    w.push('{');
    fields(w, d.iter());
    w.push('}');
}

fn latency(w: &mut String, l: &Latency) {
    let ns = |d: std::time::Duration| d.as_nanos() as u64;
    let _ = write!(
        w,
        "{{\"count\":{},\"p50_ns\":{},\"p90_ns\":{},\"p99_ns\":{},\"p999_ns\":{},\"max_ns\":{}}}",
        l.count,
        ns(l.p50),
        ns(l.p90),
        ns(l.p99),
        ns(l.p999),
        ns(l.max)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_valid_json_with_every_section() {
        let stats = Stats {
            per_topic: vec![crate::metrics::TopicStats {
                name: "a".into(),
                messages_in: 3,
                ..Default::default()
            }],
            rejected_by_status: vec![(404, 2), (431, 1)],
            worker_queues: vec![QueueStats::new(0, 8), QueueStats::new(5, 8)],
            result_queue: QueueStats::new(1, 4096),
            pipelines: vec![crate::PipelineStats {
                name: "win \"1\"".into(),
                from: vec!["a".into(), "b".into()],
                to: "c".into(),
                counters: crate::PipelineCounters {
                    windows_fired: 7,
                    updates: 2,
                    late_dropped: 1,
                    ..Default::default()
                },
            }],
            ..Stats::default()
        };
        let samples = [Sample::default(), Sample::default()];
        let text = render(&stats, samples.iter(), true, 5);
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["type"], "hello");
        assert_eq!(v["rejected"], serde_json::json!({"404": 2, "431": 1}));
        assert_eq!(v["topics"][0]["name"], "a");
        assert_eq!(v["topics"][0]["messages_in"], 3);
        assert_eq!(v["history"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            v["queues"],
            serde_json::json!([{"queued":0,"capacity":8},{"queued":5,"capacity":8}])
        );
        assert_eq!(v["result_queue"], serde_json::json!({"queued":1,"capacity":4096}));
        let p = &v["pipelines"][0];
        assert_eq!(p["name"], "win \"1\"");
        assert_eq!(p["from"], serde_json::json!(["a", "b"]));
        assert_eq!(
            (&p["to"], &p["windows_fired"], &p["updates"]),
            (&"c".into(), &7.into(), &2.into())
        );
        assert_eq!(p["late_dropped"], 1);
    }
}
