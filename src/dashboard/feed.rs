//! The dashboard's live feed: one JSON text message per tick, built from a [`Stats`] snapshot.
//!
//! The first message on a new feed connection has `"type":"hello"` and carries the whole
//! history ring (the last [`crate::metrics::HISTORY_LEN`] seconds), so the page draws a full
//! chart at once; later messages have `"type":"tick"` and carry the newest sample only.
//! Counters are cumulative; the page turns them into rates from consecutive messages.
//!
//! The JSON is written by hand: its shape is fixed, and every string in it is either a constant
//! or a topic name, which is restricted to `[A-Za-z0-9._:-]` (escaped anyway).

use std::fmt::Write;

use crate::logging::json_escape;
use crate::metrics::{Drops, Latency, Sample};
use crate::reactor::stats::Stats;

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
    let _ = write!(
        w,
        "\"conns\":{{\"open\":{},\"accepted\":{},\"upgrades\":{},\"dashboards\":{},\
         \"rejected\":{},\"handshake_timeouts\":{},\"accept_errors\":{}}},",
        s.connections_open,
        s.connections_accepted,
        s.upgrades,
        s.dashboards,
        s.handshakes_rejected,
        s.handshake_timeouts,
        s.accept_errors
    );
    let _ = write!(
        w,
        "\"closes\":{{\"slow_consumer\":{},\"protocol\":{},\"keepalive\":{}}},",
        s.slow_consumer_closes, s.protocol_closes, s.keepalive_closes
    );
    let _ = write!(
        w,
        "\"totals\":{{\"messages_in\":{},\"bytes_in\":{},\"messages_out\":{},\"bytes_out\":{},\
         \"unrouted\":{},\"ignored\":{},\"topics\":{}}},",
        s.messages_in,
        s.bytes_in,
        s.messages_out,
        s.bytes_out,
        s.messages_unrouted,
        s.messages_ignored,
        s.topics
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
             \"messages_out\":{},\"bytes_out\":{},\"drops\":",
            if i > 0 { "," } else { "" },
            json_escape(&t.name),
            t.subscribers,
            t.publishers,
            t.messages_in,
            t.bytes_in,
            t.messages_out,
            t.bytes_out
        );
        drops(&mut w, &t.drops);
        w.push('}');
    }
    let _ = write!(w, "],\"workers\":{},\"pipelines\":[", s.workers);
    for (i, p) in s.pipelines.iter().enumerate() {
        let _ = write!(
            w,
            "{}{{\"name\":\"{}\",\"messages_in\":{},\"records_in\":{},\"records_out\":{},\
             \"filtered\":{},\"dropped_full\":{},\"errors\":{}}}",
            if i > 0 { "," } else { "" },
            json_escape(&p.name),
            p.messages_in,
            p.records_in,
            p.records_out,
            p.filtered,
            p.dropped_full,
            p.errors()
        );
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

fn drops(w: &mut String, d: &Drops) {
    w.push('{');
    for (i, (reason, n)) in d.iter().enumerate() {
        let _ = write!(w, "{}\"{reason}\":{n}", if i > 0 { "," } else { "" });
    }
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
    fn renders_balanced_json_with_every_section() {
        let stats = Stats {
            per_topic: vec![crate::metrics::TopicStats {
                name: "a".into(),
                messages_in: 3,
                ..Default::default()
            }],
            rejected_by_status: vec![(404, 2), (431, 1)],
            ..Stats::default()
        };
        let samples = [Sample::default(), Sample::default()];
        let text = render(&stats, samples.iter(), true, 5);
        for key in [
            "\"type\":\"hello\"",
            "\"conns\"",
            "\"rejected\":{\"404\":2,\"431\":1}",
            "\"topics\":[{\"name\":\"a\"",
            "\"history\":[{",
        ] {
            assert!(text.contains(key), "{key} missing from {text}");
        }
        let depth = text.chars().fold(0i32, |d, c| match c {
            '{' | '[' => d + 1,
            '}' | ']' => d - 1,
            _ => d,
        });
        assert_eq!(depth, 0);
    }
}
