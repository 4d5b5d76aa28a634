//! Metrics: counters, HDR-histogram latency recorders, and the Prometheus text exposition.
//!
//! Contract:
//!
//! - The reactor thread is the only writer. Counters are plain integers in the reactor's
//!   `Registry` and in its `Stats`; nothing here is atomic, locked or allocated per message.
//! - Everything Sluice reports goes through one snapshot type, [`Stats`]: `/metrics`
//!   renders it with [`render`], the dashboard feed serialises it, embedders read it from
//!   [`crate::Handle::stats`]. The numbers agree because they are the same numbers.
//! - Label cardinality is bounded: at most `metrics.max_topic_series` topic label values, then
//!   one [`OTHER_TOPICS`] series for the rest; drop reasons and HTTP statuses are small fixed
//!   sets.
//!
//! Adding a subsystem's numbers: add fields (or a table) to `Stats`, fill them in the
//! reactor's snapshot, and add their families to [`render`] (a subsystem beside the core, like
//! the workers, pipelines and connectors, in `expose/subsystems.rs`).

mod expose;
mod history;
mod latency;
mod stats;
mod topics;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use expose::{render, CONTENT_TYPE};
pub use history::{Sample, HISTORY_LEN};
pub use latency::{IntervalLatency, Latency, Recorder, BUCKETS_NS, MAX_TRACKED};

pub(crate) use latency::Completions;
pub use stats::{ClusterStats, CompressionStats, PipelineStats, QueueStats, Stats};
pub use topics::{Drops, TopicStats, OTHER_TOPICS};

pub(crate) use history::History;
pub(crate) use topics::{Counters, SeriesId, TopicTable};

/// Default cap on per-topic series (`metrics.max_topic_series`).
pub const DEFAULT_MAX_TOPIC_SERIES: usize = 100;

/// The reactor's metric state beyond the flat counters of `Stats`.
#[derive(Debug)]
pub(crate) struct Registry {
    pub(crate) started: Instant,
    /// The current loop iteration's start, in nanoseconds since `started` (the stamp clock).
    pub(crate) now_ns: u64,
    /// `metrics.latency_histograms`: stamp batches and record the latency histograms.
    pub(crate) latency: bool,
    pub(crate) delivery: Recorder,
    /// Batches written completely during the current loop iteration, not yet recorded.
    pub(crate) completions: Completions,
    pub(crate) loop_time: Recorder,
    /// Requests refused before the upgrade, by status.
    pub(crate) rejected: BTreeMap<u16, u64>,
    pub(crate) history: History,
    /// `(messages_in, messages_out)` at the previous tick, for per-interval deltas.
    last_totals: (u64, u64),
}

impl Registry {
    pub(crate) fn new(latency: bool, now: Instant) -> Registry {
        Registry {
            started: now,
            now_ns: 0,
            latency,
            delivery: Recorder::new(),
            completions: Completions::default(),
            loop_time: Recorder::cumulative(),
            rejected: BTreeMap::new(),
            history: History::default(),
            last_totals: (0, 0),
        }
    }

    /// The stamp of batches read in this loop iteration, if latency is measured.
    #[inline]
    pub(crate) fn stamp(&self) -> Option<u64> {
        self.latency.then_some(self.now_ns)
    }

    /// Start of a loop iteration at `now`: every batch read in it is stamped with this.
    #[inline]
    pub(crate) fn begin_iteration(&mut self, now: Instant) {
        self.now_ns = now.saturating_duration_since(self.started).as_nanos() as u64;
    }

    /// End of the loop iteration at `end`: record its busy time, and the delivery latency of
    /// every batch completed in it, both measured to `end`.
    #[inline]
    pub(crate) fn end_iteration(&mut self, end: Instant) {
        let end_ns = end.saturating_duration_since(self.started).as_nanos() as u64;
        self.loop_time.record(Duration::from_nanos(end_ns.saturating_sub(self.now_ns)));
        self.completions.record(&mut self.delivery, end_ns);
    }

    /// Close the current interval: push a history sample built from the totals now.
    pub(crate) fn tick(&mut self, messages_in: u64, messages_out: u64) {
        let delivery = self.delivery.tick();
        self.loop_time.tick();
        let (last_in, last_out) =
            std::mem::replace(&mut self.last_totals, (messages_in, messages_out));
        self.history.push(Sample {
            unix_ms: unix_ms(),
            delivery,
            messages_in: messages_in - last_in,
            messages_out: messages_out - last_out,
        });
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
