//! The open-loop schedule, as wrk2 keeps it: message `k` is *intended* to leave at
//! `t0 + k / rate`, whatever happened to the messages before it.
//!
//! A sender that wakes up late (scheduler delay, a full socket, a stalled server) sends every
//! message that has come due at once, each stamped with its own intended time. Latency measured
//! from that time includes the wait the message would have had in a real open system, so a
//! stall is not hidden by the sender politely slowing down (coordinated omission). Messages are
//! spread round-robin over the senders: message `k` goes on sender `k % n` as its sequence
//! number `k / n`.

/// A constant-rate schedule over `senders` connections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    t0: u64,
    /// Picoseconds between messages (integer, so long runs do not drift).
    period_ps: u128,
    senders: u64,
}

impl Schedule {
    /// Messages at `rate` per second in total from `t0` (ns), over `senders` connections.
    pub fn new(t0: u64, rate: f64, senders: usize) -> Schedule {
        let period_ps = (1e12 / rate.max(1e-3)).round().max(1.0) as u128;
        Schedule { t0, period_ps, senders: senders.max(1) as u64 }
    }

    /// Intended send time of message `k`, ns.
    #[inline]
    pub fn intended(&self, k: u64) -> u64 {
        self.t0 + (u128::from(k) * self.period_ps / 1000) as u64
    }

    /// Number of messages intended at or before `now`.
    #[inline]
    pub fn due_by(&self, now: u64) -> u64 {
        self.count_before(now.saturating_add(1))
    }

    /// Number of messages intended strictly before `t`: the `k` with `intended(k) < t`.
    ///
    /// `intended(k) = t0 + ⌊k·p/1000⌋ < t` ⟺ `k·p < 1000·(t − t0)` ⟺ `k < ⌈1000·(t − t0)/p⌉`, so
    /// this agrees exactly with [`Schedule::intended`] (a sender that stops at
    /// `count_before(end)` never waits for a message the schedule will not produce).
    #[inline]
    pub fn count_before(&self, t: u64) -> u64 {
        if t <= self.t0 {
            return 0;
        }
        (u128::from(t - self.t0) * 1000).div_ceil(self.period_ps) as u64
    }

    /// Which sender carries message `k`, and its sequence number there.
    #[inline]
    pub fn route(&self, k: u64) -> (usize, u64) {
        ((k % self.senders) as usize, k / self.senders)
    }
}
