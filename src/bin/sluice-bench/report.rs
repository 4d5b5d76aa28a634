//! Results: the [`Summary`] every scenario produces, its text form, its JSON form, and the
//! HdrHistogram percentile spectrum (`.hgrm`).
//!
//! Latencies are recorded in nanoseconds and reported in microseconds. The JSON file carries
//! the percentile spectrum, so `sluice-bench plot` can draw any saved run later next to others.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Percentiles shown in summaries and JSON.
pub const PERCENTILES: [(&str, f64); 6] = [
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
    ("p99.99", 99.99),
    ("max", 100.0),
];

/// Percentiles and moments of one histogram, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// 99.99th percentile.
    pub p9999: f64,
    /// Largest value.
    pub max: f64,
    /// Smallest value.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub stdev: f64,
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

impl Latency {
    /// Summarize a histogram of nanoseconds.
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let p = |q: f64| us(h.value_at_quantile(q));
        Latency {
            count: h.len(),
            p50: p(0.5),
            p90: p(0.9),
            p99: p(0.99),
            p999: p(0.999),
            p9999: p(0.9999),
            max: us(h.max()),
            min: us(h.min()),
            mean: h.mean() / 1000.0,
            stdev: h.stdev() / 1000.0,
        }
    }

    fn cells(&self) -> [f64; 6] {
        [self.p50, self.p90, self.p99, self.p999, self.p9999, self.max]
    }
}

/// Message accounting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Messages sent (all, warm-up included).
    pub sent: u64,
    /// Messages sent whose intended time was in the measured window.
    pub sent_measured: u64,
    /// Deliveries expected (sent × subscribers for pubsub).
    pub expected: u64,
    /// Distinct deliveries.
    pub delivered: u64,
    /// Expected minus delivered.
    pub lost: u64,
    /// Deliveries seen twice.
    pub duplicated: u64,
    /// Deliveries that arrived after a later message of the same sender.
    pub out_of_order: u64,
    /// Messages without a readable stamp.
    pub unparsable: u64,
}

/// Rates, per second.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// The rate asked for (0: as fast as possible).
    pub offered: f64,
    /// Measured messages sent per second of the measured window.
    pub sent: f64,
    /// Deliveries per second of the measured window (all receivers).
    pub delivered: f64,
}

/// The tool's own cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overhead {
    /// CPU time of the bench's sending and receiving threads per message handled, ns.
    pub cpu_ns_per_msg: f64,
    /// CPU time of the bench's threads as a fraction of one core over the run.
    pub cpu_cores: f64,
    /// Times a socket did not take a whole write (the server was not reading fast enough).
    pub blocked_writes: u64,
}

/// Idle-connection memory results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Idle {
    /// Connections held open.
    pub connections: u64,
    /// Server RSS before connecting, bytes (0 if no `--pid`).
    pub rss_before: u64,
    /// Server RSS while the connections were held, bytes.
    pub rss_after: u64,
    /// (after − before) / connections.
    pub bytes_per_connection: f64,
    /// The bench's own RSS while holding them, bytes.
    pub bench_rss: u64,
}

/// One run's results, as written by `--json` and read by `plot` and `--compare`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `sluice-bench`.
    pub tool: String,
    /// Tool version.
    pub version: String,
    /// Scenario name.
    pub scenario: String,
    /// A name for this run on plots and tables (`--label`, else the target).
    pub label: String,
    /// The URLs measured.
    pub target: Vec<String>,
    /// Parameters, as given.
    pub params: serde_json::Value,
    /// Unix time the run started, seconds.
    pub started_unix: u64,
    /// Measured seconds (after warm-up).
    pub duration_s: f64,
    /// Message accounting.
    pub counts: Counts,
    /// Rates.
    pub rates: Rates,
    /// Latency from the intended send time (coordinated omission corrected), µs.
    pub latency: Latency,
    /// Latency from the actual send time, µs.
    pub latency_actual: Latency,
    /// Actual minus intended send time, µs.
    pub send_lag: Latency,
    /// Percentile spectrum of `latency`: (percentile, µs).
    pub spectrum: Vec<(f64, f64)>,
    /// Percentile spectrum of `latency_actual`.
    pub spectrum_actual: Vec<(f64, f64)>,
    /// The tool's own cost.
    pub overhead: Overhead,
    /// Idle-connection memory (the `idle` scenario).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<Idle>,
    /// Problems seen (server closes, failed dials, messages left unsent).
    pub errors: Vec<String>,
}

/// The percentile spectrum of a histogram of ns: (percentile, µs) at the points
/// `iter_quantiles(ticks)` visits, as the `.hgrm` format lists them.
pub fn spectrum(h: &Histogram<u64>, ticks: u32) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    h.iter_quantiles(ticks)
        .map(|v| (v.quantile_iterated_to() * 100.0, us(v.value_iterated_to())))
        .collect()
}

/// The standard HdrHistogram percentile distribution text (as `outputPercentileDistribution`
/// writes it, values in µs with 3 decimals, 5 ticks per half-distance), readable by the
/// HdrHistogram plotter.
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let value = us(v.value_iterated_to());
        let q = v.quantile_iterated_to();
        if q < 1.0 {
            let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10} {:14.2}", 1.0 / (1.0 - q));
        } else {
            let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (h.mean() / 1000.0, h.stdev() / 1000.0, us(h.max()))
    };
    let _ = writeln!(out, "#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]");
    let _ = writeln!(out, "#[Max     = {max:12.3}, Total count    = {:12}]", h.len());
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        h.distinct_values()
    );
    out
}

fn fmt_us(v: f64) -> String {
    if v >= 100_000.0 {
        format!("{:.1}ms", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn row(out: &mut String, name: &str, l: &Latency) {
    let _ = write!(out, "  {name:<26}");
    for v in l.cells() {
        let _ = write!(out, "{:>10}", fmt_us(v));
    }
    let _ = writeln!(out);
}

/// The human summary printed at the end of a run.
pub fn text(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} {} — {}", s.tool, s.scenario, s.label);
    let c = &s.counts;
    if s.idle.is_none() {
        let _ = writeln!(
            out,
            "  sent {} ({} measured), expected {}, delivered {}, lost {}, duplicated {}, out of order {}{}",
            c.sent,
            c.sent_measured,
            c.expected,
            c.delivered,
            c.lost,
            c.duplicated,
            c.out_of_order,
            if c.unparsable > 0 { format!(", unparsable {}", c.unparsable) } else { String::new() }
        );
        let offered = if s.rates.offered > 0.0 {
            format!("{:.0}/s", s.rates.offered)
        } else {
            "max".to_string()
        };
        let _ = writeln!(
            out,
            "  rate: offered {offered}, sent {:.0}/s, delivered {:.0}/s over {:.2} s measured",
            s.rates.sent, s.rates.delivered, s.duration_s
        );
    }
    if s.latency.count > 0 {
        let _ = write!(out, "  {:<26}", "latency (µs)");
        for (name, _) in PERCENTILES {
            let _ = write!(out, "{name:>10}");
        }
        let _ = writeln!(out);
        row(&mut out, "from intended send time", &s.latency);
        if s.latency_actual.count > 0 {
            row(&mut out, "from actual send time", &s.latency_actual);
        }
        if s.send_lag.count > 0 {
            row(&mut out, "send lag (bench)", &s.send_lag);
        }
    }
    if let Some(i) = &s.idle {
        let _ = writeln!(out, "  {} idle connections held", i.connections);
        if i.rss_before > 0 {
            let _ = writeln!(
                out,
                "  server RSS {} KiB -> {} KiB: {:.0} bytes per connection",
                i.rss_before / 1024,
                i.rss_after / 1024,
                i.bytes_per_connection
            );
        } else {
            let _ =
                writeln!(out, "  (give --pid PID to measure the server's memory per connection)");
        }
        let _ = writeln!(out, "  bench RSS {} KiB", i.bench_rss / 1024);
    }
    let o = &s.overhead;
    if o.cpu_ns_per_msg > 0.0 {
        let _ = writeln!(
            out,
            "  bench overhead: {:.0} ns CPU per message, {:.2} cores; {} blocked writes",
            o.cpu_ns_per_msg, o.cpu_cores, o.blocked_writes
        );
    }
    for e in s.errors.iter().take(10) {
        let _ = writeln!(out, "  error: {e}");
    }
    if s.errors.len() > 10 {
        let _ = writeln!(out, "  … and {} more errors", s.errors.len() - 10);
    }
    out
}

/// Write a file, naming it in the error.
pub fn write_file(path: &std::path::Path, contents: &[u8]) -> Result<(), String> {
    std::fs::write(path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Read a summary written by `--json`.
pub fn read_summary(path: &std::path::Path) -> Result<Summary, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a sluice-bench result: {e}", path.display()))
}
