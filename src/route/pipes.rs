//! The router's side of pipelines: attaching the worker pool, handing pending batches over
//! after each read, fanning the workers' results out (encoded once, like any published
//! message, through the same `publish`), and the pipeline counters.
//!
//! The direct path is untouched: a topic no pipeline reads costs one branch per batch.

use std::time::Duration;

use super::envelope::WindowMeta;
use super::stream::Loss;
use super::{Outlets, Router};
use crate::metrics::PipelineStats;
use crate::worker::Pool;

/// Result batches from the workers fanned out per loop iteration.
pub(crate) const RESULT_BUDGET: usize = 1024;
/// Publisher id of results re-published by pipeline output slot `n` (`CHAINED | n`), for
/// pipelines that read another pipeline's output.
const CHAINED: u64 = 1 << 63;

impl Router {
    /// Attach a started worker pool: its topics live as long as the reactor, and each input
    /// topic learns which pipelines read it.
    pub(crate) fn attach_pool(&mut self, mut pool: Pool) {
        if let Some(c) = self.cluster.as_deref() {
            let members = c.config.members();
            let index = members.iter().position(|n| *n == c.config.node).unwrap_or(members.len());
            pool.set_key_groups(crate::ops::KeyGroups::new(
                c.config.key_groups,
                index,
                members.len(),
            ));
        }
        for (i, p) in pool.pipelines.iter().enumerate() {
            for from in &p.from {
                let id = self.intern(from);
                self.topics.pin(id);
                let t = self.topics.get_mut(id);
                let mut pipes = t.pipes.to_vec();
                pipes.push(i as u32);
                t.pipes = pipes.into_boxed_slice();
            }
        }
        let slots: Vec<String> = pool.slot_topics.clone();
        self.slot_topics = slots
            .iter()
            .map(|name| {
                let id = self.intern(name);
                self.topics.pin(id);
                id
            })
            .collect();
        self.pool = Some(pool);
    }

    /// Hand pending batches to the workers (once per read), and fan out the error records the
    /// routing made.
    pub(crate) fn flush_pipelines(&mut self, out: &mut Outlets<'_>) {
        let Some(pool) = &mut self.pool else { return };
        pool.flush();
        let failures = pool.take_failures();
        for slot in pool.take_losses() {
            let topic = self.slot_topics[slot as usize];
            self.mark_loss(topic, Loss::PipelineQueueFull, out);
        }
        let mut one = std::mem::take(&mut self.one);
        for (slot, record) in failures {
            one.push(true, &record);
            let topic = self.slot_topics[slot as usize];
            // Error records go to subscribers and sinks, not to pipelines.
            self.fan_out(topic, &mut one, out);
        }
        self.one = one;
    }

    /// Fan out result batches from the workers (at most [`RESULT_BUDGET`] per call). Results on
    /// a topic that another pipeline reads go on to that pipeline. True if results may be left.
    pub(crate) fn drain_results(&mut self, out: &mut Outlets<'_>) -> bool {
        let mut one = std::mem::take(&mut self.one);
        let mut more = true;
        for _ in 0..RESULT_BUDGET {
            let Some(pool) = &mut self.pool else {
                more = false;
                break;
            };
            let Ok(batch) = pool.results.try_recv() else {
                more = false;
                break;
            };
            let Some(&topic) = self.slot_topics.get(batch.route as usize) else {
                pool.recycle(batch);
                continue;
            };
            if batch.lost {
                self.mark_loss(topic, Loss::OperatorFailed, out);
            }
            let Some(pool) = &mut self.pool else { break };
            let stamps = batch.stamps();
            for (i, (text, payload, _)) in batch.iter().enumerate() {
                // Window results carry (watermark at firing, final) as stamps.
                let window = stamps
                    .get(i)
                    .filter(|s| s.0 != i64::MIN)
                    .map(|&(wm, last)| WindowMeta { watermark: wm, last: last != 0 });
                one.push_window(text, payload, window);
            }
            let publisher = CHAINED | u64::from(batch.route);
            pool.recycle(batch);
            self.publish(topic, &mut one, publisher, out);
        }
        self.one = one;
        self.flush_pipelines(out);
        more
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
        let Some(pool) = &self.pool else { return Vec::new() };
        pool.pipelines
            .iter()
            .enumerate()
            .map(|(i, p)| PipelineStats {
                name: p.get_name(),
                from: p.from.clone(),
                to: p.to.clone().unwrap_or_default(),
                counters: pool.counters(i),
            })
            .collect()
    }
}
