//! sluice-bench: coordinated-omission correction through the open-loop schedule, histogram
//! merging, the `.hgrm` text, JSON results and SVG plots.

#![allow(dead_code)]

#[path = "../src/bin/sluice-bench/plot.rs"]
mod plot;
#[path = "../src/bin/sluice-bench/recorder.rs"]
mod recorder;
#[path = "../src/bin/sluice-bench/report.rs"]
mod report;
#[path = "../src/bin/sluice-bench/schedule.rs"]
mod schedule;

use recorder::{Recorder, Window};
use schedule::Schedule;

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

#[test]
fn the_schedule_is_exact_and_routes_round_robin() {
    let s = Schedule::new(1_000 * MS, 10_000.0, 3);
    assert_eq!(s.intended(0), 1_000 * MS);
    assert_eq!(s.intended(1), 1_000 * MS + 100 * US);
    assert_eq!(s.intended(10_000_000), 1_000 * MS + 1_000_000 * MS, "no drift over long runs");
    assert_eq!(s.due_by(999 * MS), 0);
    assert_eq!(s.due_by(1_000 * MS), 1);
    assert_eq!(s.due_by(1_001 * MS), 11);
    assert_eq!(s.count_before(1_001 * MS), 10);
    assert_eq!(s.route(0), (0, 0));
    assert_eq!(s.route(4), (1, 1));
    assert_eq!(s.route(8), (2, 2));
}

#[test]
fn schedule_counts_agree_with_intended_times() {
    // Awkward rates whose period is not a whole number of nanoseconds.
    for (rate, senders) in [(3_000.0, 3), (7_000.0, 1), (333.0, 2), (1e6 / 3.0, 4), (10_000.0, 1)] {
        let s = Schedule::new(5_000, rate, senders);
        for k in 0..5_000u64 {
            let t = s.intended(k);
            assert_eq!(s.count_before(t), k, "rate {rate} k {k}");
            assert_eq!(s.due_by(t), k + 1, "rate {rate} k {k}");
            assert_eq!(s.count_before(t + 1), k + 1);
        }
        let end = 5_000 + 400_000_000;
        let total = s.count_before(end);
        assert!(s.intended(total - 1) < end && s.intended(total) >= end);
    }
}

/// A sender stalled for 10 ms at 10k msg/s: the 100 messages that came due meanwhile go out at
/// once. Measured from their actual send time they look fast; measured from their intended
/// time they carry the stall, spread as a real open system would see it (wrk2's correction).
#[test]
fn latency_from_the_intended_time_corrects_coordinated_omission() {
    let t0 = 1_000 * MS;
    let s = Schedule::new(t0, 10_000.0, 1);
    let window = Window { start: t0, end: t0 + 1_000 * MS };
    let mut rec = Recorder::default();
    let service = 20 * US;
    // 100 messages on time, then a 10 ms stall, then on time again.
    let stall_from = s.intended(100);
    let resume = stall_from + 10 * MS;
    for k in 0..1000 {
        let intended = s.intended(k);
        let sent = if (stall_from..resume).contains(&intended) { resume } else { intended };
        if window.contains(intended) {
            rec.record(intended, sent, sent + service);
        }
    }
    assert_eq!(rec.intended.len(), 1000);
    assert_eq!(rec.actual.len(), 1000);
    // Actual-time latency: every message took the 20 µs service time.
    assert!(rec.actual.equivalent(rec.actual.max(), service));
    // Intended-time latency: 100 stalled messages waited 10 ms down to 0.1 ms (+ service).
    let max = rec.intended.max();
    assert!(rec.intended.equivalent(max, 10 * MS + service), "max {max}");
    let over_5ms = rec.intended.count_between(5 * MS, 20 * MS);
    assert!((49..=51).contains(&over_5ms), "half the stalled messages waited > 5 ms: {over_5ms}");
    let q = rec.intended.value_at_quantile(0.95);
    assert!(q > 5 * MS, "p95 shows the stall: {q}");
    assert!(rec.actual.value_at_quantile(0.95) < 25 * US);
}

#[test]
fn warm_up_and_drain_traffic_are_not_recorded() {
    let w = Window { start: 100, end: 200 };
    assert!(!w.contains(99));
    assert!(w.contains(100));
    assert!(w.contains(199));
    assert!(!w.contains(200));
}

#[test]
fn per_thread_histograms_merge_into_the_whole() {
    let mut a = Recorder::default();
    let mut b = Recorder::default();
    for v in 1..=500u64 {
        a.record(0, 0, v * US);
    }
    for v in 501..=1000u64 {
        b.record(0, v * US / 2, v * US);
    }
    let mut all = Recorder::default();
    all.merge(&a);
    all.merge(&b);
    assert_eq!(all.intended.len(), 1000);
    assert!(all.intended.equivalent(all.intended.value_at_quantile(0.5), 500 * US));
    assert!(all.intended.equivalent(all.intended.max(), 1000 * US));
    assert!(all.actual.equivalent(all.actual.max(), 500 * US));
    // A value beyond the top is clamped, not lost.
    let mut c = Recorder::default();
    c.record(0, 0, recorder::HIGHEST_NS * 10);
    assert_eq!(c.intended.len(), 1);
}

fn sample() -> Recorder {
    let mut r = Recorder::default();
    for v in 1..=10_000u64 {
        r.record(0, 0, v * US);
    }
    r
}

#[test]
fn hgrm_is_the_standard_percentile_distribution() {
    let text = report::hgrm(&sample().intended);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    );
    assert_eq!(lines[1], "");
    // Data lines: value (µs, 3 decimals), percentile, cumulative count, 1/(1-p).
    let data: Vec<Vec<f64>> = lines[2..]
        .iter()
        .take_while(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(|f| f.parse().unwrap()).collect())
        .collect();
    assert!(data.len() > 20);
    let first = &data[0];
    assert!((first[0] - 1.0).abs() < 0.01 && first[1] == 0.0 && first[3] == 1.0);
    let last = data.last().unwrap();
    assert_eq!(last.len(), 3, "the 100% line has no 1/(1-p) column");
    assert_eq!(last[1], 1.0);
    assert_eq!(last[2], 10_000.0);
    assert!((last[0] - 10_000.0).abs() / 10_000.0 < 0.001);
    let median = data.iter().find(|d| d[1] >= 0.5).unwrap();
    assert!((median[0] - 5_000.0).abs() < 10.0, "{median:?}");
    assert!(data.windows(2).all(|w| w[0][0] <= w[1][0] && w[0][2] <= w[1][2]));
    assert!(
        text.contains("#[Mean    =     5000.") && text.contains("Total count    =        10000]")
    );
    assert!(text.lines().last().unwrap().starts_with("#[Buckets = "));
}

#[test]
fn json_results_round_trip_and_plot() {
    let r = sample();
    let s = report::Summary {
        tool: "sluice-bench".into(),
        scenario: "pubsub".into(),
        label: "a <b>".into(),
        latency: report::Latency::of(&r.intended),
        spectrum: report::spectrum(&r.intended, 5),
        counts: report::Counts {
            sent: 10,
            expected: 30,
            delivered: 29,
            lost: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    assert!((s.latency.p50 - 5000.0).abs() < 5.0);
    assert!((s.latency.p99 - 9900.0).abs() < 10.0);
    let dir = std::env::temp_dir().join(format!("bench-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.json");
    report::write_file(&path, serde_json::to_string_pretty(&s).unwrap().as_bytes()).unwrap();
    let back = report::read_summary(&path).unwrap();
    assert_eq!(
        (&back.label, &back.counts, back.spectrum.len()),
        (&s.label, &s.counts, s.spectrum.len())
    );
    assert!((back.latency.p99 - s.latency.p99).abs() < 1e-6);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["counts"]["lost"], 1);
    assert!(v["latency"]["p999"].as_f64().unwrap() > 9_980.0);
    let svg = plot::summaries("t", &[s.clone(), back]);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<polyline").count(), 2);
    assert!(svg.contains("a &lt;b&gt;"), "labels are escaped");
    assert!(svg.contains(">99.9%<"), "log-scaled percentile axis");
    assert!(report::read_summary(&dir.join("missing.json")).unwrap_err().contains("missing.json"));
    std::fs::remove_dir_all(&dir).unwrap();
    let text = report::text(&s);
    assert!(text.contains("lost 1"));
}
