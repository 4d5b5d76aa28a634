//! Keyed windows with Apache Flink's semantics: tumbling, sliding, session and count windows
//! over event time or processing time, with allowed lateness, late events to a side topic, and
//! incremental aggregates.
//!
//! A window step runs on the worker that owns the key (each key on one worker, so window state
//! needs no lock). Every rule below is Flink's DataStream behaviour (Flink 2.x sources, named so
//! they can be checked), and the conformance test `tests/flink_conformance.rs` runs the same
//! inputs through Flink's own `WindowOperator` and requires identical results.
//!
//! **Assignment** (`TimeWindow.getWindowStartWithOffset`, `TumblingEventTimeWindows`,
//! `SlidingEventTimeWindows`, `EventTimeSessionWindows`): a window is `[start, end)`, its last
//! timestamp `end - 1` (`TimeWindow.maxTimestamp`).
//!
//! - tumbling `size`, `offset`: `start = ts - ((ts - offset) mod size)`, with the remainder
//!   taken towards negative infinity, so negative timestamps fall in the right window
//!   (`|offset| < size`);
//! - sliding `size`, `slide`, `offset`: every `[s, s + size)` with
//!   `s = start(ts, offset, slide) - k·slide > ts - size`, newest first (`|offset| < slide`);
//! - session `gap`: `[ts, ts + gap)`, merged with every window of the key it intersects or
//!   touches (`TimeWindow.intersects`: `a.start <= b.end && a.end >= b.start`), repeatedly, as
//!   `TimeWindow.mergeWindows` and `MergingWindowSet.addWindow` do; accumulators merge;
//! - count `n` (`countWindow(n)`: `GlobalWindows` with `PurgingTrigger.of(CountTrigger.of(n))`):
//!   fires and clears every `n` events of a key; no time, no lateness, and what is left at the
//!   end of the input never fires.
//!
//! **Firing** (`EventTimeTrigger`, `WindowOperator.processElement`/`onEventTime`): a window fires
//! when the watermark reaches its last timestamp (`watermark >= end - 1`), once. An event that
//! arrives when the watermark is already at or past `end - 1` but within the allowed lateness is
//! added and fires its window again at once, with the updated result (marked `"update": true`).
//! A merged session window whose end is already behind the watermark fires the same way.
//! Processing time (`ProcessingTimeTrigger`): the window of the worker's clock at arrival,
//! firing once the clock passes `end - 1`.
//!
//! **Lateness** (`WindowOperator.isWindowLate`, `isElementLate`, `cleanupTime`): a window is
//! late when `end - 1 + allowed_lateness <= watermark` (overflow: never). An event is added to
//! each of its windows that is not late; if it was added to none and
//! `ts + allowed_lateness <= watermark`, it goes to the late topic (`sideOutputLateData`), or is
//! dropped and counted. A window's state is freed when the watermark reaches
//! `end - 1 + allowed_lateness` (processing time: when it fires).
//!
//! **Watermarks** arrive with the records: each event carries the watermark in force when the
//! reactor read it, and the operator moves to it (firing what is due) before it handles the
//! event, exactly as Flink's window operator sees `element, watermark, element, …` from a source
//! of parallelism 1. The end of a bounded input (`sluice replay`) is the watermark `i64::MAX`:
//! every window fires once (Flink's `Watermark.MAX_WATERMARK`).
//!
//! **State bound:** at most `max_windows` windows (one per key and window) are open per pipeline,
//! across all workers. An event that would open a window beyond the bound is dropped and counted
//! (`windows_full`); open windows carry on and free their slots when they are cleaned up.

mod agg;
mod builder;
mod builtin;
mod custom;
mod operator;
#[cfg(test)]
mod semantics;
mod session;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub(crate) use agg::AggSpec;
pub use agg::{AggKind, Aggregate, Aggregates, Fields};
pub use custom::Reduce;
pub(crate) use operator::{Cx, DynWindow};

/// The default bound on open windows per pipeline ([`crate::Pipeline::max_windows`]).
pub const DEFAULT_MAX_WINDOWS: usize = 100_000;

/// A window assigner: which windows an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Fixed-size, non-overlapping windows (milliseconds).
    Tumbling {
        /// Length.
        size: i64,
        /// Shift of the window starts (`|offset| < size`).
        offset: i64,
    },
    /// Fixed-size windows starting every `slide` (milliseconds).
    Sliding {
        /// Length.
        size: i64,
        /// Distance between window starts.
        slide: i64,
        /// Shift of the window starts (`|offset| < slide`).
        offset: i64,
    },
    /// Windows that grow while events keep coming less than `gap` apart (milliseconds).
    Session {
        /// Inactivity that closes a session.
        gap: i64,
    },
    /// Every `size` events of a key.
    Count {
        /// Events per window.
        size: u64,
    },
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Window {
    /// Tumbling windows of `size`.
    pub fn tumbling(size: Duration) -> Window {
        Window::Tumbling { size: ms(size), offset: 0 }
    }

    /// Sliding windows of `size`, one starting every `slide`.
    pub fn sliding(size: Duration, slide: Duration) -> Window {
        Window::Sliding { size: ms(size), slide: ms(slide), offset: 0 }
    }

    /// Session windows closed by `gap` without events.
    pub fn session(gap: Duration) -> Window {
        Window::Session { gap: ms(gap) }
    }

    /// A window every `size` events of a key.
    pub fn count(size: u64) -> Window {
        Window::Count { size }
    }

    /// Shift tumbling or sliding windows by `offset_ms` (may be negative; e.g. `-8h` for days
    /// that start at midnight UTC+8).
    pub fn offset_ms(self, offset_ms: i64) -> Window {
        match self {
            Window::Tumbling { size, .. } => Window::Tumbling { size, offset: offset_ms },
            Window::Sliding { size, slide, .. } => {
                Window::Sliding { size, slide, offset: offset_ms }
            }
            other => other,
        }
    }

    /// Whether the window needs time (all but count windows).
    pub fn is_timed(&self) -> bool {
        !matches!(self, Window::Count { .. })
    }

    /// Check the parameters (Flink's constructor checks, plus a bound on windows per event).
    pub fn check(&self) -> Result<(), String> {
        match *self {
            Window::Tumbling { size, offset } => {
                if size <= 0 {
                    return Err("a tumbling window's size must be at least 1ms".into());
                }
                if offset.unsigned_abs() >= size.unsigned_abs() {
                    return Err(format!(
                        "the offset ({offset}ms) must be smaller than the size ({size}ms)"
                    ));
                }
            }
            Window::Sliding { size, slide, offset } => {
                if size <= 0 || slide <= 0 {
                    return Err("a sliding window's size and slide must be at least 1ms".into());
                }
                if offset.unsigned_abs() >= slide.unsigned_abs() {
                    return Err(format!(
                        "the offset ({offset}ms) must be smaller than the slide ({slide}ms)"
                    ));
                }
                if size / slide > MAX_WINDOWS_PER_EVENT {
                    return Err(format!(
                        "size / slide is {}: an event would be in more than \
                         {MAX_WINDOWS_PER_EVENT} windows",
                        size / slide
                    ));
                }
            }
            Window::Session { gap } => {
                if gap <= 0 {
                    return Err("a session gap must be at least 1ms".into());
                }
            }
            Window::Count { size } => {
                if size == 0 {
                    return Err("a count window needs at least 1 event".into());
                }
            }
        }
        Ok(())
    }

    /// The windows of an event at `ts`, in Flink's order (tumbling and sliding only; sessions
    /// start as `[ts, ts + gap)` and count windows have no bounds).
    pub(crate) fn assign(&self, ts: i64, out: &mut Vec<(i64, i64)>) {
        out.clear();
        match *self {
            Window::Tumbling { size, offset } => {
                let start = window_start(ts, offset, size);
                out.push((start, start.wrapping_add(size)));
            }
            Window::Sliding { size, slide, offset } => {
                let last = window_start(ts, offset, slide);
                let lower = ts.wrapping_sub(size);
                let mut start = last;
                while start > lower {
                    out.push((start, start.wrapping_add(size)));
                    let next = start.wrapping_sub(slide);
                    if next > start {
                        break; // wrapped below i64::MIN
                    }
                    start = next;
                }
            }
            Window::Session { gap } => out.push((ts, ts.wrapping_add(gap))),
            Window::Count { .. } => out.push((i64::MIN, i64::MAX)),
        }
    }
}

/// Bound on `size / slide` (Flink allows 10 000 000; every window costs state and a result).
pub const MAX_WINDOWS_PER_EVENT: i64 = 100_000;

/// Flink's `TimeWindow.getWindowStartWithOffset`, with Java's wrapping `long` arithmetic.
pub fn window_start(ts: i64, offset: i64, size: i64) -> i64 {
    let remainder = ts.wrapping_sub(offset) % size;
    if remainder < 0 {
        ts.wrapping_sub(remainder.wrapping_add(size))
    } else {
        ts.wrapping_sub(remainder)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Window::Tumbling { size, offset: 0 } => write!(f, "tumbling {size}ms"),
            Window::Tumbling { size, offset } => write!(f, "tumbling {size}ms offset {offset}ms"),
            Window::Sliding { size, slide, offset } => {
                write!(f, "sliding {size}ms every {slide}ms offset {offset}ms")
            }
            Window::Session { gap } => write!(f, "session gap {gap}ms"),
            Window::Count { size } => write!(f, "count {size}"),
        }
    }
}

/// The open windows of one pipeline, counted across its workers, and their bound.
#[derive(Debug)]
pub(crate) struct Budget {
    open: AtomicUsize,
    max: usize,
}

impl Budget {
    pub(crate) fn new(max: usize) -> Arc<Budget> {
        Arc::new(Budget { open: AtomicUsize::new(0), max })
    }

    /// Take `n` slots, or none if that would pass the bound.
    pub(crate) fn reserve(&self, n: usize) -> bool {
        let before = self.open.fetch_add(n, Ordering::Relaxed);
        if before + n > self.max {
            self.open.fetch_sub(n, Ordering::Relaxed);
            return false;
        }
        true
    }

    pub(crate) fn release(&self, n: usize) {
        if n > 0 {
            self.open.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Windows open now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

/// A window step as declared: the assigner and how results are computed.
#[derive(Clone, Debug)]
pub(crate) struct WindowSpec {
    pub(crate) window: Window,
    pub(crate) agg: AggSpec,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(w: Window, ts: i64) -> Vec<(i64, i64)> {
        let mut v = Vec::new();
        w.assign(ts, &mut v);
        v
    }

    #[test]
    fn window_start_matches_flink_for_negative_timestamps_and_offsets() {
        assert_eq!(window_start(0, 0, 1000), 0);
        assert_eq!(window_start(999, 0, 1000), 0);
        assert_eq!(window_start(1000, 0, 1000), 1000);
        assert_eq!(window_start(-1, 0, 1000), -1000);
        assert_eq!(window_start(-1000, 0, 1000), -1000);
        assert_eq!(window_start(-1001, 0, 1000), -2000);
        assert_eq!(window_start(100, 250, 1000), -750);
        assert_eq!(window_start(250, 250, 1000), 250);
        assert_eq!(window_start(100, -250, 1000), -250);
        assert_eq!(window_start(-300, -250, 1000), -1250);
        assert_eq!(window_start(i64::MAX, 0, 1000), i64::MAX - i64::MAX % 1000);
    }

    #[test]
    fn sliding_assignment_is_newest_first() {
        let w = Window::sliding(Duration::from_secs(3), Duration::from_secs(1));
        assert_eq!(windows(w, 2500), [(2000, 5000), (1000, 4000), (0, 3000)]);
        assert_eq!(windows(w, -1), [(-1000, 2000), (-2000, 1000), (-3000, 0)]);
        let w = Window::sliding(Duration::from_millis(10), Duration::from_millis(4)).offset_ms(1);
        assert_eq!(windows(w, 6), [(5, 15), (1, 11), (-3, 7)]);
        assert_eq!(
            windows(Window::tumbling(Duration::from_secs(1)).offset_ms(-250), -250),
            [(-250, 750)]
        );
    }

    #[test]
    fn parameters_are_checked() {
        assert!(Window::tumbling(Duration::ZERO).check().is_err());
        assert!(Window::tumbling(Duration::from_secs(1)).offset_ms(1000).check().is_err());
        assert!(Window::tumbling(Duration::from_secs(1)).offset_ms(-999).check().is_ok());
        let s = Window::sliding(Duration::from_secs(1), Duration::from_millis(100));
        assert!(s.offset_ms(100).check().is_err());
        assert!(Window::sliding(Duration::from_secs(1000), Duration::from_millis(1))
            .check()
            .is_err());
        assert!(Window::session(Duration::ZERO).check().is_err());
        assert!(Window::count(0).check().is_err());
        assert!(Window::count(3).check().is_ok());
    }

    #[test]
    fn budget_bounds_and_releases() {
        let b = Budget::new(3);
        assert!(b.reserve(2));
        assert!(!b.reserve(2));
        assert!(b.reserve(1));
        b.release(3);
        assert_eq!(b.open(), 0);
    }
}
