//! The reactor's side of the hand-off: route each message of a pipelined topic to its worker
//! (with the routing function `sluice replay` uses too, `crate::ops::Routing`), batch per
//! (pipeline, worker) for the length of one read, and `try_send` the batches.
//!
//! Event time: the routing stamps each message with its timestamp and the pipeline's watermark
//! *before* it, then advances the watermark ([`crate::ops::time`]). Each batch handed over
//! after a read carries the watermark as it is after the read; at the end of
//! the loop iteration, every worker that has not seen the current watermark gets it as a batch
//! of its own (at most one per worker and iteration). So a worker that gets no event still sees
//! the watermark in the iteration that moved it, behind whatever its queue already holds. A
//! watermark that could not be delivered (full queue) is sent again at the next iteration (the
//! reactor polls at least every millisecond while one is owed).
//!
//! Full-queue policy: **drop newest**. A batch that does not fit in its worker's queue is
//! dropped and its messages counted in `dropped_full`; nothing blocks and nothing else is
//! affected. (Pausing the publisher's socket instead would stall the publisher's other
//! consumers — the raw topic's subscribers and every other pipeline on it — for the slowest
//! one, and move the queue into TCP buffers where it cannot be seen or bounded per pipeline.)

use std::sync::atomic::{fence, Ordering};

use crossbeam_channel::TrySendError;

use super::batch::{Batch, Spares, BATCH_BYTES};
use super::Pool;
use crate::ops::{error_record, Pipeline, PipelineCounters, Routing};

/// Dispatch state: pending batches and counters.
pub(super) struct State {
    workers: usize,
    /// `[pipeline * workers + worker]`.
    pending: Vec<Option<Batch>>,
    touched: Vec<usize>,
    spares: Spares,
    /// Counters the reactor keeps per pipeline (it is their only writer).
    pub(super) counts: Vec<PipelineCounters>,
    /// Error records made on the reactor (a key that could not be read): (slot, record).
    pub(super) failures: Vec<(u32, Vec<u8>)>,
    /// Pipelines that dropped inputs (a full worker queue) since the last `take_losses`.
    losses: Vec<usize>,
    /// Per pipeline: its routing state (round-robin position, watermark).
    routing: Vec<Routing>,
    /// `[pipeline * workers + worker]`: the last watermark handed to that worker.
    sent: Vec<i64>,
    /// The pipeline clock's time at the last tick (publisher idleness).
    now_ms: u64,
}

impl State {
    pub(super) fn new(pipelines: &[Pipeline], workers: usize) -> State {
        State {
            workers,
            pending: (0..pipelines.len() * workers).map(|_| None).collect(),
            touched: Vec::new(),
            spares: Spares::default(),
            counts: vec![PipelineCounters::default(); pipelines.len()],
            failures: Vec::new(),
            losses: Vec::new(),
            routing: pipelines.iter().map(Routing::new).collect(),
            sent: vec![i64::MIN; pipelines.len() * workers],
            now_ms: 0,
        }
    }
}

impl Pool {
    /// Queue one message of a topic read by `pipes` (pipeline indexes), from `publisher`.
    pub(crate) fn push(&mut self, pipes: &[u32], publisher: u64, text: bool, payload: &[u8]) {
        for &p in pipes {
            let p = p as usize;
            let d = &mut self.dispatch;
            let n = d.workers;
            let pipeline = &self.pipelines[p];
            let counts = &mut d.counts[p];
            counts.messages_in += 1;
            let clock = &self.clock;
            let routed =
                d.routing[p].route(pipeline, publisher, payload, n, || clock.now_ms(), counts);
            let routed = match routed {
                Ok(r) if r.elsewhere => {
                    counts.elsewhere += 1;
                    continue;
                }
                Ok(r) => r,
                Err(why) => {
                    if let Some(slot) = self.outputs[p].errors {
                        let mut rec = Vec::new();
                        error_record(&mut rec, &pipeline.get_name(), 0, &why, payload);
                        d.failures.push((slot, rec));
                    }
                    continue;
                }
            };
            let i = p * n + routed.instance;
            let batch = match &mut d.pending[i] {
                Some(b) => b,
                slot @ None => {
                    d.touched.push(i);
                    slot.insert(d.spares.take(p as u32))
                }
            };
            match routed.stamp {
                Some((ts, wm)) => batch.push_timed(text, payload, routed.key, ts, wm),
                None => batch.push(text, payload, routed.key),
            }
            if batch.bytes() >= BATCH_BYTES {
                self.send(i);
            }
        }
    }

    /// Hand every pending batch to its worker (once per read); each carries its pipeline's
    /// watermark as it is after the read.
    pub(crate) fn flush(&mut self) {
        self.stamp_watermarks(false);
        while let Some(i) = self.dispatch.touched.pop() {
            self.send(i);
        }
    }

    /// Put the current watermark of event-time pipelines on the pending batch of every worker
    /// that has not seen it; with `all`, make a batch for those that have none.
    fn stamp_watermarks(&mut self, all: bool) {
        let d = &mut self.dispatch;
        for (p, r) in d.routing.iter().enumerate() {
            let Some(w) = r.watermarks_ref() else { continue };
            let wm = w.current();
            for worker in 0..d.workers {
                let i = p * d.workers + worker;
                if d.sent[i] >= wm {
                    continue;
                }
                let batch = match &mut d.pending[i] {
                    Some(b) => b,
                    None if !all => continue,
                    slot @ None => {
                        d.touched.push(i);
                        slot.insert(d.spares.take(p as u32))
                    }
                };
                batch.watermark = wm;
            }
        }
    }

    /// Once per reactor iteration: publisher idleness (per-publisher watermarks), then the
    /// watermark to every worker that got no event with it (one batch per worker and
    /// iteration at most, however many reads moved it). True if a watermark is still owed (a
    /// full queue): the reactor should come back within a millisecond.
    pub(crate) fn tick(&mut self) -> bool {
        let d = &mut self.dispatch;
        if d.routing.iter().all(|r| r.watermarks_ref().is_none()) {
            return false;
        }
        d.now_ms = self.clock.now_ms();
        for w in d.routing.iter_mut().filter_map(Routing::watermarks) {
            w.tick(d.now_ms);
        }
        if self.owes_watermark() {
            self.stamp_watermarks(true);
            while let Some(i) = self.dispatch.touched.pop() {
                self.send(i);
            }
        }
        self.owes_watermark()
    }

    /// The pipeline clock at the last tick.
    pub(crate) fn now_ms(&self) -> u64 {
        self.dispatch.now_ms
    }

    /// When the next publisher becomes idle, in pipeline-clock milliseconds.
    pub(crate) fn next_idle_ms(&self) -> Option<u64> {
        self.dispatch.routing.iter().filter_map(|r| r.watermarks_ref()?.next_idle_ms()).min()
    }

    fn owes_watermark(&self) -> bool {
        let d = &self.dispatch;
        d.routing.iter().enumerate().any(|(p, r)| {
            r.watermarks_ref().is_some_and(|w| {
                d.sent[p * d.workers..(p + 1) * d.workers].iter().any(|&s| s < w.current())
            })
        })
    }

    /// In a cluster: route only the key groups this node owns.
    pub(crate) fn set_key_groups(&mut self, groups: crate::ops::KeyGroups) {
        for r in &mut self.dispatch.routing {
            r.set_groups(groups.clone());
        }
    }

    /// A publisher connection is closing: it no longer holds back per-publisher watermarks
    /// (the new watermark goes out at the end of the loop iteration).
    pub(crate) fn publisher_gone(&mut self, publisher: u64) {
        for w in self.dispatch.routing.iter_mut().filter_map(Routing::watermarks) {
            w.remove_publisher(publisher);
        }
    }

    fn send(&mut self, i: usize) {
        let d = &mut self.dispatch;
        let Some(batch) = d.pending[i].take() else { return };
        let (p, worker) = (i / d.workers, i % d.workers);
        let link = &self.links[worker];
        let watermark = batch.watermark;
        match link.tx.try_send(batch) {
            Ok(()) => {
                d.sent[i] = d.sent[i].max(watermark);
                // Pairs with the fence in `Worker::park`.
                fence(Ordering::SeqCst);
                if link.sleeping.load(Ordering::Relaxed) {
                    link.thread.unpark();
                }
            }
            Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) if b.len() == 0 => {
                // A watermark alone: owed, sent again at the next tick.
                d.spares.give(b);
            }
            Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => {
                let c = &mut d.counts[p];
                c.dropped_full += b.len() as u64;
                if !d.losses.contains(&p) {
                    d.losses.push(p);
                }
                if c.dropped_full == b.len() as u64 || c.dropped_full.is_power_of_two() {
                    log::warn!(
                        "pipeline `{}`: worker {worker} queue full, dropped {} message(s) so far",
                        self.pipelines[p].get_name(),
                        c.dropped_full
                    );
                }
                d.spares.give(b);
            }
        }
    }

    /// `n` inputs of the pipelines `pipes` are gone before they were read (in a cluster, past
    /// their stream's history): counted; returns the output slot of each, whose topic tells.
    pub(crate) fn expired(&mut self, pipes: &[u32], n: u64) -> Vec<u32> {
        pipes
            .iter()
            .map(|&p| {
                self.dispatch.counts[p as usize].expired += n;
                self.outputs[p as usize].to
            })
            .collect()
    }

    /// Give a result batch back for reuse.
    pub(crate) fn recycle(&mut self, b: Batch) {
        self.dispatch.spares.give(b);
    }

    /// The output slot of every pipeline that dropped inputs since the last call (its results
    /// have a hole the output topic must tell of).
    pub(crate) fn take_losses(&mut self) -> Vec<u32> {
        let losses = std::mem::take(&mut self.dispatch.losses);
        losses.into_iter().map(|p| self.outputs[p].to).collect()
    }

    /// Error records made by the reactor since the last call.
    pub(crate) fn take_failures(&mut self) -> Vec<(u32, Vec<u8>)> {
        std::mem::take(&mut self.dispatch.failures)
    }
}
