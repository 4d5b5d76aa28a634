//! Reconnect delays: exponential backoff with jitter, as a pure function of the attempt number
//! and a random number, so it is tested without clocks.
//!
//! Attempt `n` (1 for the first retry after a failure) waits
//! `ceiling(n) = min(max, initial × multiplier^(n-1))`, shortened by a random fraction of at most
//! `jitter`: `ceiling(n) × (1 - jitter × u)` with `u` uniform in `[0, 1)`. With the defaults
//! (100 ms, ×2, at most 30 s, jitter 0.5) the retries wait 50–100 ms, 100–200 ms, 200–400 ms, …,
//! then 15–30 s. Jitter spreads the reconnects of many relays that lost the same upstream at
//! the same instant, so they do not return in lockstep.

use std::time::Duration;

/// Exponential backoff settings of a connector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first retry (before jitter). Default 100 ms.
    pub initial: Duration,
    /// The longest delay. Default 30 s.
    pub max: Duration,
    /// Growth factor per failed attempt, at least 1. Default 2.
    pub multiplier: f64,
    /// The largest fraction of a delay removed at random, from 0 (none) to 1 ("full jitter").
    /// Default 0.5.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.5,
        }
    }
}

impl Backoff {
    /// The delay before attempt `attempt` (1-based) without jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(1000) as i32;
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exp);
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            return self.max;
        }
        Duration::from_secs_f64(secs)
    }

    /// The delay before attempt `attempt` with jitter, given `u` uniform in `[0, 1)`.
    pub fn delay(&self, attempt: u32, u: f64) -> Duration {
        let u = if u.is_finite() { u.clamp(0.0, 1.0) } else { 0.0 };
        self.ceiling(attempt).mul_f64(1.0 - self.jitter * u)
    }

    /// Check the settings; returns the offending field and what was expected.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.initial.is_zero() {
            return Err(("initial", "must be longer than 0".into()));
        }
        if self.max < self.initial {
            return Err(("max", format!("must be at least `initial` ({:?})", self.initial)));
        }
        if !(self.multiplier >= 1.0 && self.multiplier <= 100.0) {
            return Err((
                "multiplier",
                format!("must be from 1 to 100, found {}", self.multiplier),
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(("jitter", format!("must be from 0 to 1, found {}", self.jitter)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn grows_exponentially_up_to_the_maximum() {
        let b = Backoff { initial: MS(100), max: MS(1000), multiplier: 2.0, jitter: 0.0 };
        let got: Vec<Duration> = (1..=6).map(|n| b.delay(n, 0.7)).collect();
        assert_eq!(got, [MS(100), MS(200), MS(400), MS(800), MS(1000), MS(1000)]);
        assert_eq!(b.ceiling(u32::MAX), MS(1000));
        let flat = Backoff { multiplier: 1.0, ..b };
        assert_eq!(flat.ceiling(50), MS(100));
    }

    #[test]
    fn jitter_shortens_by_at_most_its_fraction() {
        let b = Backoff { initial: MS(400), max: MS(10_000), multiplier: 3.0, jitter: 0.5 };
        assert_eq!(b.delay(1, 0.0), MS(400));
        assert_eq!(b.delay(1, 0.5), MS(300));
        assert_eq!(b.delay(2, 0.999_999).as_millis(), 600);
        let full = Backoff { jitter: 1.0, ..b };
        assert_eq!(full.delay(1, 0.75), MS(100));
        // Out-of-range randomness is clamped, never a panic.
        assert_eq!(b.delay(1, f64::NAN), MS(400));
        assert_eq!(b.delay(1, 7.0), MS(200));
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(Backoff::default().validate(), Ok(()));
        let bad = |b: Backoff| b.validate().unwrap_err().0;
        assert_eq!(bad(Backoff { initial: Duration::ZERO, ..Backoff::default() }), "initial");
        assert_eq!(bad(Backoff { max: MS(10), ..Backoff::default() }), "max");
        assert_eq!(bad(Backoff { multiplier: 0.5, ..Backoff::default() }), "multiplier");
        assert_eq!(bad(Backoff { multiplier: f64::NAN, ..Backoff::default() }), "multiplier");
        assert_eq!(bad(Backoff { jitter: 1.5, ..Backoff::default() }), "jitter");
    }
}
