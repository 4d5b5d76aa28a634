//! Latency recording: HDR histograms per thread, merged at the end.
//!
//! Each measuring thread owns a [`Recorder`] (no sharing, no locks on the hot path). A received
//! message whose *intended* send time falls inside the measured window (after the warm-up,
//! before the end) is recorded twice: from its intended send time (what a user of an open-loop
//! system sees, coordinated omission corrected as in wrk2) and from its actual send time (what
//! the server and network alone cost). Values are nanoseconds, 3 significant digits, up to
//! 100 s; anything larger is clamped to the top (counted as such, never dropped).

use hdrhistogram::Histogram;

/// Highest trackable latency, ns.
pub const HIGHEST_NS: u64 = 100_000_000_000;

/// A new empty latency histogram (ns, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_NS, 3).expect("static bounds are valid")
}

/// The measured window, in ns on the bench clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Messages intended before this are warm-up and not recorded.
    pub start: u64,
    /// Messages intended at or after this are not recorded (drain traffic).
    pub end: u64,
}

impl Window {
    /// Is a message intended at `t` measured?
    #[inline]
    pub fn contains(&self, t: u64) -> bool {
        t >= self.start && t < self.end
    }
}

/// One thread's histograms.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latency from the intended send time (coordinated omission corrected).
    pub intended: Histogram<u64>,
    /// Latency from the actual send time.
    pub actual: Histogram<u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder { intended: histogram(), actual: histogram() }
    }
}

impl Recorder {
    /// Record a message received at `now` that was meant to leave at `intended` and left at
    /// `sent`. A clock reading before the send (impossible on one host) is clamped to 1 ns.
    #[inline]
    pub fn record(&mut self, intended: u64, sent: u64, now: u64) {
        self.intended.saturating_record(now.saturating_sub(intended).max(1));
        self.actual.saturating_record(now.saturating_sub(sent).max(1));
    }

    /// Add another recorder's values (merging per-thread recorders).
    pub fn merge(&mut self, other: &Recorder) {
        // Same bounds everywhere, so `add` cannot fail.
        self.intended.add(&other.intended).expect("same bounds");
        self.actual.add(&other.actual).expect("same bounds");
    }
}
