//! The pipeline clock: milliseconds since the Unix epoch, from the system or set by hand.
//!
//! Workers read it once per duty cycle and pass the value to time-driven operators
//! ([`crate::Operator::on_time`]). A [`Clock::manual`] clock only moves when a test moves it, so
//! time-dependent operators are tested without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of "now" in milliseconds. Cheap to clone; clones share a manual clock's time.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// Wall-clock time.
    #[default]
    System,
    /// Time set with [`Clock::set`] / [`Clock::advance`].
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A manual clock starting at `start_ms`.
    pub fn manual(start_ms: u64) -> Clock {
        Clock::Manual(Arc::new(AtomicU64::new(start_ms)))
    }

    /// Now, in milliseconds since the Unix epoch (or the manual time).
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => {
                SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
            }
            Clock::Manual(t) => t.load(Ordering::Acquire),
        }
    }

    /// Set a manual clock (no effect on the system clock).
    pub fn set(&self, ms: u64) {
        if let Clock::Manual(t) = self {
            t.store(ms, Ordering::Release);
        }
    }

    /// Move a manual clock forward (no effect on the system clock).
    pub fn advance(&self, ms: u64) {
        if let Clock::Manual(t) = self {
            t.fetch_add(ms, Ordering::AcqRel);
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
        c.set(7);
        assert_eq!(shared.now_ms(), 7);
        assert!(Clock::System.now_ms() > 1_600_000_000_000);
    }
}
