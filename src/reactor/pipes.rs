//! The reactor's side of pipelines: adding them, starting the worker pool at the first loop
//! iteration, handing pending batches over after each read, fanning the workers' results out
//! (encoded once, like any published message), and the pipeline counters.
//!
//! The direct path is untouched: the per-message frame loop does not know about pipelines.
//! After a read, the frames it encoded for a topic that pipelines read are walked once more
//! (their headers, which the reactor wrote itself) and handed to the pool. A topic no pipeline
//! reads costs one branch per read.

use std::time::{Duration, Instant};

use super::core::Core;
use super::stats::PipelineStats;
use super::Reactor;
use crate::clock::Clock;
use crate::config::check_pipelines;
use crate::conn::frames;
use crate::error::Error;
use crate::ops::{Pipeline, PipelineError};
use crate::topic::TopicId;
use crate::worker::Pool;

/// Result batches from the workers fanned out per loop iteration.
pub const RESULT_BUDGET: usize = 1024;
/// Publisher id of results re-published by pipeline output slot `n` (`CHAINED | n`), for
/// pipelines that read another pipeline's output.
const CHAINED: u64 = 1 << 63;

impl Reactor {
    /// Add a pipeline (before the first [`Reactor::run`] or [`Reactor::poll_once`], when the
    /// worker pool starts with every pipeline added so far).
    pub fn add_pipeline(&mut self, pipeline: Pipeline) -> Result<(), Error> {
        if self.started {
            return Err(Error::Pipeline(PipelineError {
                pipeline: pipeline.get_name(),
                message: "pipelines must be added before the reactor starts".into(),
            }));
        }
        pipeline.validate().map_err(Error::Pipeline)?;
        self.pipelines.push(pipeline);
        if let Err((i, _, message)) = check_pipelines(&self.pipelines) {
            let bad = self.pipelines.pop().map(|p| p.get_name());
            return Err(Error::Pipeline(PipelineError {
                pipeline: bad.unwrap_or_else(|| format!("#{i}")),
                message,
            }));
        }
        Ok(())
    }

    /// The clock pipelines' time-driven operators see (default: the system clock). Set it
    /// before the reactor starts; a [`Clock::manual`] clock makes them testable without sleeps.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Start the worker pool if there are pipelines (once, at the first loop iteration).
    pub(super) fn start(&mut self) -> Result<(), Error> {
        self.started = true;
        if self.pipelines.is_empty() {
            return Ok(());
        }
        let pipelines = std::mem::take(&mut self.pipelines);
        let pool = Pool::start(pipelines, &self.workers, self.shared.clone(), self.clock.clone())?;
        self.core.attach_pool(pool);
        Ok(())
    }
}

impl Core {
    /// Attach a started worker pool: its topics live as long as the reactor, and each input
    /// topic learns which pipelines read it.
    pub(crate) fn attach_pool(&mut self, pool: Pool) {
        for (i, p) in pool.pipelines.iter().enumerate() {
            for from in &p.from {
                let id = self.topics.intern(from, &mut self.metrics.topics);
                self.topics.pin(id);
                let t = self.topics.get_mut(id);
                let mut pipes = t.pipes.to_vec();
                pipes.push(i as u32);
                t.pipes = pipes.into_boxed_slice();
            }
        }
        self.slot_topics = pool
            .slot_topics
            .iter()
            .map(|name| {
                let id = self.topics.intern(name, &mut self.metrics.topics);
                self.topics.pin(id);
                id
            })
            .collect();
        self.pool = Some(pool);
    }

    /// Hand the messages encoded in the current batch for `topic` to the pipelines reading it.
    pub(super) fn dispatch_batch(&mut self, topic: TopicId, publisher: u64) {
        let Some(pool) = &mut self.pool else { return };
        let pipes = &self.topics.get(topic).pipes;
        if pipes.is_empty() {
            return;
        }
        let mut rest = &self.batch[..];
        while let Some((text, payload, after)) = next_frame(rest) {
            pool.push(pipes, publisher, text, payload);
            rest = after;
        }
    }

    /// Hand pending batches to the workers, and publish error records the routing made.
    pub(crate) fn flush_pipelines(&mut self, now: Instant) {
        let Some(pool) = &mut self.pool else { return };
        pool.flush();
        let failures = pool.take_failures();
        for (slot, record) in failures {
            let topic = self.slot_topics[slot as usize];
            frames::encode_frame(&mut self.batch, frames::data_opcode(true), &record, None);
            self.batch_msgs += 1;
            self.batch_payload += record.len() as u64;
            self.fan_out(topic, now);
        }
    }

    /// Fan out result batches from the workers (at most [`RESULT_BUDGET`] per iteration), each
    /// encoded once for all the subscribers of its topic. Results on a topic that another
    /// pipeline reads go on to that pipeline.
    pub(crate) fn drain_results(&mut self, now: Instant) {
        self.results_more = false;
        for _ in 0..RESULT_BUDGET {
            let Some(pool) = &mut self.pool else { return };
            let Ok(batch) = pool.results.try_recv() else {
                self.flush_pipelines(now);
                return;
            };
            let Some(&topic) = self.slot_topics.get(batch.route as usize) else {
                pool.recycle(batch);
                continue;
            };
            let pipes = &self.topics.get(topic).pipes;
            for (text, payload, _) in batch.iter() {
                frames::encode_frame(&mut self.batch, frames::data_opcode(text), payload, None);
                self.batch_msgs += 1;
                self.batch_payload += payload.len() as u64;
                if !pipes.is_empty() {
                    pool.push(pipes, CHAINED | u64::from(batch.route), text, payload);
                }
            }
            pool.recycle(batch);
            self.fan_out(topic, now);
        }
        self.flush_pipelines(now);
        self.results_more = true;
    }

    /// Once per loop iteration: publisher idleness and owed watermarks of event-time pipelines.
    /// Returns how soon the reactor must come back for them (`None`: nothing pending).
    pub(crate) fn tick_pipelines(&mut self) -> Option<Duration> {
        let pool = self.pool.as_mut()?;
        if pool.tick() {
            return Some(Duration::from_millis(1));
        }
        let next = pool.next_idle_ms()?;
        let now = pool.now_ms();
        // Capped, so a manual clock moved by a test is noticed too.
        Some(Duration::from_millis(next.saturating_sub(now).clamp(1, 10)))
    }

    /// Counters of every pipeline.
    pub(crate) fn pipeline_stats(&self) -> Vec<PipelineStats> {
        let mut pipelines = Vec::new();
        if let Some(pool) = &self.pool {
            for (i, p) in pool.pipelines.iter().enumerate() {
                let r = pool.reactor_counts(i);
                let w = pool.worker_counts(i);
                pipelines.push(PipelineStats {
                    name: p.get_name(),
                    from: p.from.clone(),
                    to: p.to.clone().unwrap_or_default(),
                    messages_in: r.messages_in,
                    dropped_full: r.dropped_full,
                    records_in: w.records_in,
                    records_out: w.records_out,
                    filtered: w.filtered,
                    invalid_json: r.invalid_json + w.invalid_json,
                    expr_errors: w.expr_errors,
                    key_errors: r.key_errors,
                    operator_errors: w.operator_errors,
                    time_errors: r.time_errors,
                    windows_fired: w.windows_fired,
                    updates: w.updates,
                    late_out: w.late_out,
                    late_dropped: w.late_dropped,
                    windows_full: w.windows_full,
                });
            }
        }
        pipelines
    }
}

/// Split the first frame off a buffer of unmasked data frames the reactor encoded itself:
/// (text, payload, the rest).
pub(super) fn next_frame(buf: &[u8]) -> Option<(bool, &[u8], &[u8])> {
    let (&b0, rest) = buf.split_first()?;
    let (&b1, rest) = rest.split_first()?;
    let (len, rest) = match b1 & 0x7f {
        126 => {
            let (n, rest) = rest.split_at_checked(2)?;
            (usize::from(u16::from_be_bytes([n[0], n[1]])), rest)
        }
        127 => {
            let (n, rest) = rest.split_at_checked(8)?;
            (u64::from_be_bytes(n.try_into().ok()?) as usize, rest)
        }
        n => (usize::from(n), rest),
    };
    let (payload, rest) = rest.split_at_checked(len)?;
    Some((b0 & 0x0f == 0x1, payload, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_frames_split_back_into_messages() {
        let mut buf = Vec::new();
        let big = vec![7u8; 70_000];
        let mid = vec![b'x'; 300];
        for (text, payload) in
            [(true, &b"hi"[..]), (false, &big[..]), (true, &mid[..]), (true, b"")]
        {
            frames::encode_frame(&mut buf, frames::data_opcode(text), payload, None);
        }
        let mut got = Vec::new();
        let mut rest = &buf[..];
        while let Some((text, payload, after)) = next_frame(rest) {
            got.push((text, payload.len()));
            rest = after;
        }
        assert_eq!(got, [(true, 2), (false, 70_000), (true, 300), (true, 0)]);
        assert!(rest.is_empty());
    }
}
