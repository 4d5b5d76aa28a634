//! The clock: milliseconds since the Unix epoch for pipelines, and a monotonic [`Instant`] for
//! the reactor's timers, from the system or set by hand.
//!
//! Workers read it once per duty cycle and pass the value to time-driven operators
//! ([`crate::Operator::on_time`]); the reactor reads it once per loop iteration and passes that
//! instant to every handler and timer (handshake deadlines, keepalive, close linger). A
//! [`Clock::manual`] clock only moves when a test moves it, so time-dependent behaviour is
//! tested without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of "now". Cheap to clone; clones share a manual clock's time.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// Wall-clock time (and the monotonic clock for instants).
    #[default]
    System,
    /// Time set with [`Clock::set`] / [`Clock::advance`].
    Manual(Arc<ManualTime>),
}

/// The state of a manual clock.
#[derive(Debug)]
pub struct ManualTime {
    ms: AtomicU64,
    start_ms: u64,
    /// The instant that stands for `start_ms`.
    base: Instant,
}

impl Clock {
    /// A manual clock starting at `start_ms`.
    pub fn manual(start_ms: u64) -> Clock {
        Clock::Manual(Arc::new(ManualTime {
            ms: AtomicU64::new(start_ms),
            start_ms,
            base: Instant::now(),
        }))
    }

    /// Now, as a monotonic instant (a manual clock: the instant it was made, plus how far it
    /// has been moved since; never before that instant).
    pub fn instant(&self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            Clock::Manual(t) => {
                let ms = t.ms.load(Ordering::Acquire).saturating_sub(t.start_ms);
                t.base + Duration::from_millis(ms)
            }
        }
    }

    /// The clock's instant for a moment the monotonic clock read as `real`: `real` itself for
    /// the system clock (no second clock read), the manual time otherwise.
    #[inline]
    pub fn instant_at(&self, real: Instant) -> Instant {
        match self {
            Clock::System => real,
            Clock::Manual(_) => self.instant(),
        }
    }

    /// Now, in milliseconds since the Unix epoch (or the manual time).
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => {
                SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
            }
            Clock::Manual(t) => t.ms.load(Ordering::Acquire),
        }
    }

    /// Set a manual clock (no effect on the system clock).
    pub fn set(&self, ms: u64) {
        if let Clock::Manual(t) = self {
            t.ms.store(ms, Ordering::Release);
        }
    }

    /// Move a manual clock forward (no effect on the system clock).
    pub fn advance(&self, ms: u64) {
        if let Clock::Manual(t) = self {
            t.ms.fetch_add(ms, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = Clock::manual(1000);
        let shared = c.clone();
        assert_eq!(c.now_ms(), 1000);
        shared.advance(5);
        assert_eq!(c.now_ms(), 1005);
        let at = c.instant();
        shared.advance(250);
        assert_eq!(c.instant() - at, Duration::from_millis(250));
        c.set(7);
        assert_eq!(shared.now_ms(), 7);
        assert!(Clock::System.now_ms() > 1_600_000_000_000);
    }
}
