//! The time and window part of the [`Pipeline`] builder.
//!
//! ```
//! use std::time::Duration;
//! use sluice::ops::window::{Aggregates, Window};
//! use sluice::{EventTime, Pipeline};
//!
//! let p = Pipeline::from_topic("trades")
//!     .key_by(".symbol")
//!     .event_time(
//!         EventTime::new(".ts")
//!             .unwrap()
//!             .out_of_orderness(Duration::from_millis(200))
//!             .allowed_lateness(Duration::from_secs(1)),
//!     )
//!     .window(Window::tumbling(Duration::from_secs(1)))
//!     .aggregate(Aggregates::new().count("trades").sum("volume", ".qty").max("high", ".price"))
//!     .late_to("trades.late")
//!     .to_topic("trades.1s");
//! assert!(p.validate().is_ok());
//! ```

use std::sync::Arc;

use super::agg::AggSpec;
use super::custom::{CustomProto, Reduce};
use super::operator::{DynWindow, Setup, WindowOp};
use super::{Aggregate, Aggregates, Budget, Window, WindowSpec};
use crate::ops::time::{EventTime, TimeMode};
use crate::ops::{Partition, Pipeline, Record, StepSpec};
use crate::topic::validate_topic;

impl Pipeline {
    /// Use event time read from each message (see [`EventTime`]): the reactor reads it from the
    /// message as published and keeps the pipeline's watermark.
    pub fn event_time(mut self, t: EventTime) -> Pipeline {
        self.time = Some(TimeMode::Event(t));
        self
    }

    /// Use processing time: the worker's clock when it handles an event.
    pub fn processing_time(mut self) -> Pipeline {
        self.time = Some(TimeMode::Processing);
        self
    }

    /// Start a window step; the next call must say what it computes
    /// ([`aggregate`](Pipeline::aggregate), [`aggregate_with`](Pipeline::aggregate_with) or
    /// [`reduce`](Pipeline::reduce)). Steps before it run on every event; steps after it run on
    /// its results. Without [`key_by`](Pipeline::key_by), one window covers every event (all go
    /// to one worker, like Flink's `windowAll`).
    pub fn window(mut self, w: Window) -> Pipeline {
        if self.pending_window.replace(w).is_some() {
            self.fail("window(…) follows a window(…) that has no aggregate".into());
        }
        if let Err(e) = w.check() {
            self.fail(format!("window: {e}"));
        }
        if self.partition == Partition::Publisher {
            self.partition = Partition::Single;
        }
        self
    }

    /// The built-in aggregates of the window started by [`window`](Pipeline::window).
    pub fn aggregate(self, a: Aggregates) -> Pipeline {
        match a.check() {
            Ok(()) => self.push_window(AggSpec::Builtin(a)),
            Err(e) => {
                let mut p = self.push_window(AggSpec::Builtin(a));
                p.fail(e);
                p
            }
        }
    }

    /// A custom aggregate ([`Aggregate`], Flink's `AggregateFunction`) for the window started by
    /// [`window`](Pipeline::window); each worker gets its own clone.
    pub fn aggregate_with<A: Aggregate>(self, a: A) -> Pipeline {
        self.push_window(AggSpec::Custom(Arc::new(CustomProto(a))))
    }

    /// A reduce (Flink's `ReduceFunction`) for the window started by
    /// [`window`](Pipeline::window): `lift` turns each event into a value (an `Err` fails the
    /// event), `combine` folds two values into one; the result is written under `name`.
    pub fn reduce<T, L, C>(self, name: &str, lift: L, combine: C) -> Pipeline
    where
        T: serde::Serialize + 'static,
        L: FnMut(&Record) -> Result<T, String> + Clone + Send + Sync + 'static,
        C: FnMut(T, T) -> T + Clone + Send + Sync + 'static,
    {
        self.aggregate_with(Reduce::new(name, lift, combine))
    }

    /// Send events that are too late for every window they belong to (past the allowed
    /// lateness) to `topic`, unchanged, instead of dropping them (Flink's
    /// `sideOutputLateData`).
    pub fn late_to(mut self, topic: &str) -> Pipeline {
        self.late = Some(topic.to_string());
        self
    }

    /// Bound the windows open at once in this pipeline, over all workers (default
    /// [`super::DEFAULT_MAX_WINDOWS`]). An event that would open one more is dropped and counted
    /// (`windows_full`).
    pub fn max_windows(mut self, n: usize) -> Pipeline {
        self.max_windows = n;
        self
    }

    fn push_window(mut self, agg: AggSpec) -> Pipeline {
        match self.pending_window.take() {
            Some(window) => self.steps.push(StepSpec::Window(WindowSpec { window, agg })),
            None => self.fail("an aggregate must follow window(…)".into()),
        }
        self
    }

    /// Whether the pipeline has a window step.
    pub fn has_window(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, StepSpec::Window(_)))
    }

    /// The pipeline's event-time settings, if it uses event time.
    pub fn event_time_spec(&self) -> Option<&EventTime> {
        match &self.time {
            Some(TimeMode::Event(t)) => Some(t),
            _ => None,
        }
    }

    /// A fresh bound on open windows, shared by every instance of the pipeline.
    pub(crate) fn window_budget(&self) -> Arc<Budget> {
        Budget::new(self.max_windows)
    }

    /// The window operator of one worker.
    pub(crate) fn make_window(&self, w: &WindowSpec, budget: Arc<Budget>) -> Box<dyn DynWindow> {
        let setup = Setup {
            window: w.window,
            lateness: self.event_time_spec().map(|t| t.allowed_lateness),
            budget,
        };
        match &w.agg {
            AggSpec::Builtin(a) => Box::new(WindowOp::new(a.compile(), setup)),
            AggSpec::Custom(f) => f.make(setup),
        }
    }

    /// The time and window checks of [`Pipeline::validate`].
    pub(crate) fn validate_time(&self) -> Result<(), String> {
        self.time_problem().map_or(Ok(()), |(_, m)| Err(m))
    }

    /// The first time or window problem, with the configuration key it belongs to.
    pub(crate) fn time_problem(&self) -> Option<(&'static str, String)> {
        if let Some(w) = self.pending_window {
            return Some(("window", format!("window({w}) needs an aggregate")));
        }
        let timed =
            self.steps.iter().any(|s| matches!(s, StepSpec::Window(w) if w.window.is_timed()));
        if timed && self.time.is_none() {
            return Some((
                "window",
                "a time window needs event time (`time = { event = \".ts\" }`, \
                 `event_time(…)`) or processing time (`time = \"processing\"`)"
                    .into(),
            ));
        }
        if self.has_window() && self.partition == Partition::RoundRobin {
            return Some((
                "partition",
                "a window needs its events in order: use a key, not round-robin".into(),
            ));
        }
        if self.max_windows == 0 {
            return Some(("max_windows", "must be at least 1".into()));
        }
        if let Some(late) = &self.late {
            if let Err(x) = validate_topic(late) {
                return Some(("late", format!("late topic `{late}`: {x}")));
            }
            if self.from.contains(late) {
                return Some((
                    "late",
                    format!("late topic `{late}` is also an input: it would loop"),
                ));
            }
            if self.event_time_spec().is_none() || !timed {
                return Some((
                    "late",
                    format!("late topic `{late}`: only event-time windows have late events"),
                ));
            }
        }
        None
    }
}
