//! Latency recorders backed by HDR histograms, and their public snapshot [`Latency`].
//!
//! A [`Recorder`] lives on the reactor thread (its only writer, so no atomics and no lock). It
//! records into two histograms: one since start (for `/metrics` and [`crate::Stats`]) and one for
//! the current dashboard interval, which [`Recorder::tick`] summarises and clears. Values are
//! nanoseconds between 1 ns and [`MAX_TRACKED`]; larger values are clamped to it, never lost.
//! Recording costs two array increments; nothing allocates after construction.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The largest latency tracked exactly; anything slower is recorded as this value.
pub const MAX_TRACKED: Duration = Duration::from_secs(60);

/// Upper bounds (`le`) of the Prometheus histogram buckets, in nanoseconds: 1 µs to 10 s.
pub const BUCKETS_NS: [u64; 22] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// A latency distribution: counts and percentiles since the reactor started.
///
/// Percentiles come from an HDR histogram with three significant digits, so each is within
/// 0.1 % of the true value. `sum` is exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Latency {
    /// Values recorded.
    pub count: u64,
    /// Sum of all values (exact, even for values clamped to [`MAX_TRACKED`] in the histogram).
    pub sum: Duration,
    /// Smallest value.
    pub min: Duration,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Largest value.
    pub max: Duration,
    /// Cumulative counts of values `<=` each bound of [`BUCKETS_NS`], in that order (the
    /// Prometheus `le` buckets; `+Inf` is `count`).
    pub buckets: Vec<u64>,
}

/// Percentiles of one dashboard interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntervalLatency {
    /// Values recorded in the interval.
    pub count: u64,
    /// Median, nanoseconds.
    pub p50_ns: u64,
    /// 99th percentile, nanoseconds.
    pub p99_ns: u64,
    /// Largest value, nanoseconds.
    pub max_ns: u64,
}

/// Records latencies on the reactor thread.
#[derive(Debug)]
pub struct Recorder {
    total: Histogram<u64>,
    /// The current interval's histogram, for recorders whose intervals are charted.
    interval: Option<Histogram<u64>>,
    sum_ns: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// An empty recorder with per-interval summaries (about 200 KiB of counters for the
    /// whole-run histogram, 30 KiB for the interval one).
    pub fn new() -> Recorder {
        let high = MAX_TRACKED.as_nanos() as u64;
        Recorder {
            // Two digits are plenty for a chart, and keep the per-second reset cheap.
            interval: Some(Histogram::new_with_bounds(1, high, 2).expect("valid histogram bounds")),
            ..Recorder::cumulative()
        }
    }

    /// An empty recorder of the whole run only: [`Recorder::tick`] reports nothing.
    pub fn cumulative() -> Recorder {
        let high = MAX_TRACKED.as_nanos() as u64;
        Recorder {
            total: Histogram::new_with_bounds(1, high, 3).expect("valid histogram bounds"),
            interval: None,
            sum_ns: 0,
        }
    }

    /// Record `n` values of `latency` (a batch of messages that shared one timestamp).
    #[inline]
    pub fn record_n(&mut self, latency: Duration, n: u64) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.total.saturating_record_n(ns, n);
        if let Some(h) = &mut self.interval {
            h.saturating_record_n(ns, n);
        }
        self.sum_ns = self.sum_ns.saturating_add(ns.saturating_mul(n));
    }

    /// Record one value.
    #[inline]
    pub fn record(&mut self, latency: Duration) {
        self.record_n(latency, 1);
    }

    /// Summarise the interval since the previous tick and start a new one (all zero for a
    /// [`Recorder::cumulative`] one).
    pub fn tick(&mut self) -> IntervalLatency {
        let Some(h) = &mut self.interval else { return IntervalLatency::default() };
        if h.is_empty() {
            return IntervalLatency::default();
        }
        let out = IntervalLatency {
            count: h.len(),
            p50_ns: h.value_at_quantile(0.5),
            p99_ns: h.value_at_quantile(0.99),
            max_ns: h.max(),
        };
        h.reset();
        out
    }

    /// The distribution since start.
    pub fn snapshot(&self) -> Latency {
        let h = &self.total;
        if h.is_empty() {
            return Latency { buckets: vec![0; BUCKETS_NS.len()], ..Latency::default() };
        }
        let ns = Duration::from_nanos;
        let mut buckets = Vec::with_capacity(BUCKETS_NS.len());
        let mut cumulative = 0;
        let mut low = 0;
        for &le in &BUCKETS_NS {
            // Counts between consecutive bounds, summed: each recorded value lands in exactly
            // one histogram slot, so the buckets are monotonic and the last ones reach `count`.
            if low <= le {
                cumulative += h.count_between(low, le);
                low = h.highest_equivalent(le) + 1;
            }
            buckets.push(cumulative.min(h.len()));
        }
        Latency {
            count: h.len(),
            sum: ns(self.sum_ns),
            min: ns(h.min_nz()),
            p50: ns(h.value_at_quantile(0.5)),
            p90: ns(h.value_at_quantile(0.9)),
            p99: ns(h.value_at_quantile(0.99)),
            p999: ns(h.value_at_quantile(0.999)),
            max: ns(h.max()),
            buckets,
        }
    }
}

/// Batches whose last byte was written during one loop iteration, waiting to be recorded.
///
/// Every batch read in one loop iteration carries that iteration's instant, so entries are
/// merged by instant: a message fanned out to a thousand subscribers is one entry with a
/// count, not a thousand clock reads. The reactor records them with the clock it reads once at
/// the end of each loop iteration, so a latency is never under-reported: a subscriber written
/// early in the iteration is charged until the iteration ends. The vector is reused; it holds
/// one entry per distinct read iteration with completions (usually one).
#[derive(Debug, Default)]
pub(crate) struct Completions {
    /// (read instant in nanoseconds since `started`, messages).
    entries: Vec<(u64, u64)>,
}

impl Completions {
    /// Note `messages` messages read at `at_ns` as fully written.
    #[inline]
    pub(crate) fn add(&mut self, at_ns: u64, messages: u64) {
        match self.entries.last_mut() {
            Some(last) if last.0 == at_ns => last.1 += messages,
            _ => self.add_slow(at_ns, messages),
        }
    }

    #[cold]
    fn add_slow(&mut self, at_ns: u64, messages: u64) {
        match self.entries.iter_mut().rev().take(8).find(|e| e.0 == at_ns) {
            Some(e) => e.1 += messages,
            None => self.entries.push((at_ns, messages)),
        }
    }

    /// Record every noted batch into `into`, measured to `now_ns` (on the stamps' clock), and
    /// forget them.
    #[inline]
    pub(crate) fn record(&mut self, into: &mut Recorder, now_ns: u64) {
        if self.entries.is_empty() {
            return;
        }
        for (at_ns, n) in self.entries.drain(..) {
            into.record_n(Duration::from_nanos(now_ns.saturating_sub(at_ns)), n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_counts_sums_and_buckets() {
        let mut r = Recorder::new();
        r.record_n(Duration::from_micros(3), 10);
        r.record(Duration::from_millis(2));
        r.record(Duration::from_secs(3600)); // clamped, still counted
        let s = r.snapshot();
        assert_eq!(s.count, 12);
        assert_eq!(
            s.sum,
            Duration::from_micros(30) + Duration::from_millis(2) + Duration::from_secs(3600)
        );
        assert!(s.p50 >= Duration::from_nanos(2997) && s.p50 <= Duration::from_nanos(3003));
        assert_eq!(s.buckets[0], 0, "nothing at or under 1 µs");
        assert_eq!(s.buckets[2], 10, "the ten 3 µs values are under 5 µs");
        assert_eq!(s.buckets[10], 11, "the 2 ms value is under 2.5 ms");
        assert_eq!(*s.buckets.last().unwrap(), 11, "the clamped 60 s value is only in +Inf");
        assert!(s.buckets.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn tick_summarises_and_clears_the_interval_only() {
        let mut r = Recorder::new();
        for us in 1..=100 {
            r.record(Duration::from_micros(us));
        }
        let i = r.tick();
        assert_eq!(i.count, 100);
        assert!((49_000..=51_000).contains(&i.p50_ns), "{i:?}");
        assert!((98_000..=101_000).contains(&i.p99_ns), "{i:?}");
        assert_eq!(r.tick(), IntervalLatency::default());
        assert_eq!(r.snapshot().count, 100);
    }

    #[test]
    fn completions_merge_by_instant_and_record_once() {
        let mut c = Completions::default();
        for _ in 0..1000 {
            c.add(10, 2);
        }
        c.add(20, 1);
        c.add(10, 1);
        assert_eq!(c.entries, [(10, 2001), (20, 1)]);
        let mut r = Recorder::new();
        c.record(&mut r, 1000);
        assert!(c.entries.is_empty());
        assert_eq!(r.snapshot().count, 2002);
    }

    #[test]
    fn empty_snapshot_has_zero_buckets() {
        let s = Recorder::new().snapshot();
        assert_eq!(s.count, 0);
        assert_eq!(s.buckets, vec![0; BUCKETS_NS.len()]);
    }
}
