//! Idle strategies: what a worker does when a duty cycle found no work.
//!
//! | strategy | while idle | wake-up latency | CPU while idle |
//! |---|---|---|---|
//! | `spin` | busy-polls its queue | lowest (the next poll) | one full core per worker |
//! | `spin-then-park` (default) | spins for `spin` (default 50 µs), yields for as long again, then parks | like `spin` during a burst; a futex wake-up after a pause | near zero between bursts |
//! | `park` | parks at once | a futex wake-up (tens of µs) for every batch that finds it parked | near zero |
//!
//! A parked worker is woken by the reactor (`Thread::unpark`) when it hands over work, and in
//! any case after [`PARK_MAX`], so time-driven operators still see time pass. `Idler` is the
//! pure decision (`work, idle time → action`); the worker loop carries it out.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The longest a parked worker sleeps before it looks at the clock and its queue again.
pub const PARK_MAX: Duration = Duration::from_millis(10);

/// What a worker does when it has nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleStrategy {
    /// Busy-poll: lowest latency, burns a core per worker.
    Spin,
    /// Spin for `spin`, then yield for as long again, then park.
    SpinThenPark {
        /// How long to spin after the last work before backing off.
        spin: Duration,
    },
    /// Park at once; the reactor unparks the worker when it hands over work.
    Park,
}

impl Default for IdleStrategy {
    fn default() -> Self {
        IdleStrategy::SpinThenPark { spin: DEFAULT_SPIN }
    }
}

/// Default spinning time of `spin-then-park`.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);

impl FromStr for IdleStrategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "spin" => Ok(IdleStrategy::Spin),
            "spin-then-park" => Ok(IdleStrategy::default()),
            "park" => Ok(IdleStrategy::Park),
            other => Err(format!(
                "unknown idle strategy `{other}`: expected spin, spin-then-park or park"
            )),
        }
    }
}

impl fmt::Display for IdleStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdleStrategy::Spin => f.write_str("spin"),
            IdleStrategy::SpinThenPark { .. } => f.write_str("spin-then-park"),
            IdleStrategy::Park => f.write_str("park"),
        }
    }
}

/// One idle step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Poll again at once (a CPU spin hint).
    Spin,
    /// Give the core to another thread, then poll again.
    Yield,
    /// Sleep until unparked or [`PARK_MAX`].
    Park,
}

/// The idle decision of one worker.
#[derive(Debug)]
pub(crate) struct Idler {
    strategy: IdleStrategy,
}

impl Idler {
    pub(crate) fn new(strategy: IdleStrategy) -> Idler {
        Idler { strategy }
    }

    /// What to do after a cycle that did `work` units, having been idle for `idle_for` (the
    /// time since the last cycle that did work).
    pub(crate) fn decide(&self, work: usize, idle_for: Duration) -> Action {
        if work > 0 {
            return Action::Spin;
        }
        match self.strategy {
            IdleStrategy::Spin => Action::Spin,
            IdleStrategy::Park => Action::Park,
            IdleStrategy::SpinThenPark { spin } if idle_for < spin => Action::Spin,
            IdleStrategy::SpinThenPark { spin } if idle_for < spin * 2 => Action::Yield,
            IdleStrategy::SpinThenPark { .. } => Action::Park,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn spin_never_parks() {
        let i = Idler::new(IdleStrategy::Spin);
        for t in [0, 10, 1_000_000] {
            assert_eq!(i.decide(0, US * t), Action::Spin);
        }
    }

    #[test]
    fn park_parks_as_soon_as_idle() {
        let i = Idler::new(IdleStrategy::Park);
        assert_eq!(i.decide(0, Duration::ZERO), Action::Park);
        assert_eq!(i.decide(3, Duration::ZERO), Action::Spin, "work means poll again");
    }

    #[test]
    fn spin_then_park_backs_off_in_stages() {
        let i = Idler::new(IdleStrategy::SpinThenPark { spin: US * 50 });
        assert_eq!(i.decide(0, Duration::ZERO), Action::Spin);
        assert_eq!(i.decide(0, US * 49), Action::Spin);
        assert_eq!(i.decide(0, US * 50), Action::Yield);
        assert_eq!(i.decide(0, US * 99), Action::Yield);
        assert_eq!(i.decide(0, US * 100), Action::Park);
        assert_eq!(i.decide(1, US * 1000), Action::Spin);
    }

    #[test]
    fn names_parse_and_print() {
        for s in ["spin", "spin-then-park", "park"] {
            assert_eq!(s.parse::<IdleStrategy>().unwrap().to_string(), s);
        }
        assert!("nap".parse::<IdleStrategy>().unwrap_err().contains("spin-then-park"));
    }
}
