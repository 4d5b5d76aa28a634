//! The one type for a pipeline's counters, used everywhere they appear: the reactor's routing,
//! the workers (as atomics), `sluice replay`, [`crate::Stats::pipelines`], `/metrics` and the
//! dashboard feed.
//!
//! Adding a counter is one edit here: a field, and its entry in [`PipelineCounters::FIELDS`],
//! [`PipelineCounters::values`] and `values_mut` (the three lists are checked against each other
//! by a test). `/metrics` and the dashboard render every entry of `FIELDS`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Number of counters in [`PipelineCounters`].
pub const PIPELINE_COUNTERS: usize = 18;

/// Counters of one pipeline. Reading them: `messages_in` = `dropped_full` + the routing's
/// `invalid_json`/`key_errors`/`time_errors` + `records_in` (handed to a worker, once the
/// workers caught up); each record then ends as a result, `filtered`, or an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipelineCounters {
    /// Messages published to the pipeline's inputs (replay: input lines).
    pub messages_in: u64,
    /// Messages dropped because their worker's queue was full (the drop-newest policy).
    pub dropped_full: u64,
    /// Messages that entered the steps on a worker.
    pub records_in: u64,
    /// Results published to the output topic.
    pub records_out: u64,
    /// Messages removed by a filter (or a `map`/`flat_map` with no output).
    pub filtered: u64,
    /// Messages that were not valid JSON where JSON was needed (routing by key or a jq step).
    pub invalid_json: u64,
    /// Messages on which a jq expression failed at run time.
    pub expr_errors: u64,
    /// Messages whose key path does not apply (e.g. `.a.b` where `.a` is a number).
    pub key_errors: u64,
    /// Messages a custom operator (or a window's aggregate) reported as failed.
    pub operator_errors: u64,
    /// Messages whose event time could not be read (event-time pipelines).
    pub time_errors: u64,
    /// Window results published (late re-firings included).
    pub windows_fired: u64,
    /// Of those, late re-firings (`"update": true`).
    pub updates: u64,
    /// Events past the allowed lateness published to the late topic.
    pub late_out: u64,
    /// Events past the allowed lateness dropped (no late topic).
    pub late_dropped: u64,
    /// Events dropped because they would have opened a window beyond `max_windows`.
    pub windows_full: u64,
    /// Operator failures (panics): each reset the pipeline's state on one worker.
    pub operator_panics: u64,
    /// In a cluster: messages whose key group another node owns (that node handles them).
    pub elsewhere: u64,
    /// In a cluster: inputs that left their stream (past its history) before this node read
    /// them.
    pub expired: u64,
}

/// What a counter is, for renderers: its field name (the dashboard feed's key) and its
/// Prometheus family, with a label when several counters share one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterInfo {
    /// The field's name (`records_out`).
    pub name: &'static str,
    /// The `/metrics` family it is a sample of (`sluice_pipeline_records_out_total`).
    pub family: &'static str,
    /// The family's help text.
    pub help: &'static str,
    /// `(label, value)` telling this counter apart within a shared family (the `kind` of an
    /// error, the `action` of a late event).
    pub label: Option<(&'static str, &'static str)>,
    /// It counts failed messages (summed by [`PipelineCounters::errors`]).
    pub error: bool,
}

const fn own(name: &'static str, family: &'static str, help: &'static str) -> CounterInfo {
    CounterInfo { name, family, help, label: None, error: false }
}

const ERRORS: &str = "sluice_pipeline_errors_total";
const ERRORS_HELP: &str = "Messages of the pipeline that failed, by kind.";
const LATE: &str = "sluice_pipeline_late_events_total";
const LATE_HELP: &str =
    "Events past the allowed lateness of an event-time window, by what happened to them.";

const fn failed(name: &'static str, kind: &'static str) -> CounterInfo {
    CounterInfo {
        name,
        family: ERRORS,
        help: ERRORS_HELP,
        label: Some(("kind", kind)),
        error: true,
    }
}

const fn late(name: &'static str, action: &'static str) -> CounterInfo {
    CounterInfo {
        name,
        family: LATE,
        help: LATE_HELP,
        label: Some(("action", action)),
        error: false,
    }
}

impl PipelineCounters {
    /// Every counter, in the order of [`PipelineCounters::values`].
    pub const FIELDS: [CounterInfo; PIPELINE_COUNTERS] = [
        own(
            "messages_in",
            "sluice_pipeline_messages_in_total",
            "Messages published to the pipeline's inputs.",
        ),
        own(
            "dropped_full",
            "sluice_pipeline_dropped_total",
            "Messages dropped because their worker's queue was full (drop-newest).",
        ),
        own(
            "records_in",
            "sluice_pipeline_records_in_total",
            "Messages that entered the pipeline's steps on a worker.",
        ),
        own(
            "records_out",
            "sluice_pipeline_records_out_total",
            "Results published to the pipeline's output topic.",
        ),
        own("filtered", "sluice_pipeline_filtered_total", "Messages removed by a filter."),
        failed("invalid_json", "invalid_json"),
        failed("expr_errors", "expr"),
        failed("key_errors", "key"),
        failed("operator_errors", "operator"),
        failed("time_errors", "time"),
        own(
            "windows_fired",
            "sluice_pipeline_window_results_total",
            "Window results published (late re-firings included).",
        ),
        own(
            "updates",
            "sluice_pipeline_window_updates_total",
            "Window results that were late re-firings (\"update\": true).",
        ),
        late("late_out", "published"),
        late("late_dropped", "dropped"),
        own(
            "windows_full",
            "sluice_pipeline_windows_full_total",
            "Events dropped because they would have opened a window beyond max_windows.",
        ),
        own(
            "operator_panics",
            "sluice_pipeline_operator_panics_total",
            "Operator failures (panics); each reset the pipeline's state on one worker.",
        ),
        own(
            "elsewhere",
            "sluice_pipeline_elsewhere_total",
            "In a cluster: messages whose key group another node owns.",
        ),
        own(
            "expired",
            "sluice_pipeline_expired_total",
            "In a cluster: inputs that left their stream before this node read them.",
        ),
    ];

    /// Every counter's value, in the order of [`PipelineCounters::FIELDS`].
    pub fn values(&self) -> [u64; PIPELINE_COUNTERS] {
        [
            self.messages_in,
            self.dropped_full,
            self.records_in,
            self.records_out,
            self.filtered,
            self.invalid_json,
            self.expr_errors,
            self.key_errors,
            self.operator_errors,
            self.time_errors,
            self.windows_fired,
            self.updates,
            self.late_out,
            self.late_dropped,
            self.windows_full,
            self.operator_panics,
            self.elsewhere,
            self.expired,
        ]
    }

    fn values_mut(&mut self) -> [&mut u64; PIPELINE_COUNTERS] {
        [
            &mut self.messages_in,
            &mut self.dropped_full,
            &mut self.records_in,
            &mut self.records_out,
            &mut self.filtered,
            &mut self.invalid_json,
            &mut self.expr_errors,
            &mut self.key_errors,
            &mut self.operator_errors,
            &mut self.time_errors,
            &mut self.windows_fired,
            &mut self.updates,
            &mut self.late_out,
            &mut self.late_dropped,
            &mut self.windows_full,
            &mut self.operator_panics,
            &mut self.elsewhere,
            &mut self.expired,
        ]
    }

    /// Counters from values in the order of [`PipelineCounters::FIELDS`].
    pub fn from_values(values: [u64; PIPELINE_COUNTERS]) -> PipelineCounters {
        let mut c = PipelineCounters::default();
        for (slot, v) in c.values_mut().into_iter().zip(values) {
            *slot = v;
        }
        c
    }

    /// Add another set of counters to these.
    pub fn add(&mut self, other: &PipelineCounters) {
        for (slot, v) in self.values_mut().into_iter().zip(other.values()) {
            *slot += v;
        }
    }

    /// Every message that failed, of any kind.
    pub fn errors(&self) -> u64 {
        Self::FIELDS.iter().zip(self.values()).filter(|(f, _)| f.error).map(|(_, v)| v).sum()
    }

    /// Every counter with what it is.
    pub fn iter(&self) -> impl Iterator<Item = (&'static CounterInfo, u64)> {
        Self::FIELDS.iter().zip(self.values())
    }
}

/// [`PipelineCounters`] written by one thread and read by others: relaxed atomics, added to
/// once per duty cycle (never per message), alone on their cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct SharedCounters([AtomicU64; PIPELINE_COUNTERS]);

impl SharedCounters {
    /// Add `c` (only the writer thread calls this).
    pub(crate) fn add(&self, c: &PipelineCounters) {
        for (a, v) in self.0.iter().zip(c.values()) {
            if v > 0 {
                a.fetch_add(v, Ordering::Relaxed);
            }
        }
    }

    /// The counters now.
    pub(crate) fn load(&self) -> PipelineCounters {
        PipelineCounters::from_values(std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_lists_agree() {
        // Each field set alone shows up at its own index, under its own name.
        for i in 0..PIPELINE_COUNTERS {
            let mut v = [0; PIPELINE_COUNTERS];
            v[i] = i as u64 + 1;
            let c = PipelineCounters::from_values(v);
            assert_eq!(c.values(), v);
            let debug = format!("{c:?}");
            let name = PipelineCounters::FIELDS[i].name;
            assert!(debug.contains(&format!("{name}: {}", i + 1)), "{name} in {debug}");
        }
        let names: std::collections::HashSet<_> =
            PipelineCounters::FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(names.len(), PIPELINE_COUNTERS);
    }

    #[test]
    fn sums_errors_and_shared_counters() {
        let c = PipelineCounters {
            invalid_json: 1,
            key_errors: 2,
            time_errors: 3,
            records_out: 9,
            ..Default::default()
        };
        assert_eq!(c.errors(), 6);
        let shared = SharedCounters::default();
        shared.add(&c);
        shared.add(&c);
        let mut twice = c;
        twice.add(&c);
        assert_eq!(shared.load(), twice);
        let kinds: Vec<_> =
            c.iter().filter(|(f, n)| f.error && *n > 0).map(|(f, n)| (f.label, n)).collect();
        assert_eq!(
            kinds,
            [
                (Some(("kind", "invalid_json")), 1),
                (Some(("kind", "key")), 2),
                (Some(("kind", "time")), 3)
            ]
        );
    }
}
