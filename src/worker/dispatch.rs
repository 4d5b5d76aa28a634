//! The reactor's side of the hand-off: route each message of a pipelined topic to its worker,
//! batch per (pipeline, worker) for the length of one read, and `try_send` the batches.
//!
//! Routing is one pure function per partition kind:
//!
//! | partition | worker |
//! |---|---|
//! | key (`key_by`) | `shard(key_hash(key), N)`: one worker per key, per-key order |
//! | publisher (default) | `shard(mix64(connection id), N)`: per-publisher order |
//! | round-robin | the next worker, message by message: no order |
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
use crate::ops::key::KeyError;
use crate::ops::shard::{key_hash, mix64, shard};
use crate::ops::{error_record, Partition, Pipeline};

/// Counters the reactor keeps per pipeline (it is their only writer).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ReactorCounts {
    pub(crate) messages_in: u64,
    pub(crate) dropped_full: u64,
    pub(crate) invalid_json: u64,
    pub(crate) key_errors: u64,
}

/// Dispatch state: pending batches and counters.
pub(super) struct State {
    workers: usize,
    /// `[pipeline * workers + worker]`.
    pending: Vec<Option<Batch>>,
    touched: Vec<usize>,
    spares: Spares,
    rr: usize,
    pub(super) counts: Vec<ReactorCounts>,
    /// Error records made on the reactor (a key that could not be read): (slot, record).
    pub(super) failures: Vec<(u32, Vec<u8>)>,
}

impl State {
    pub(super) fn new(pipelines: &[Pipeline], workers: usize) -> State {
        State {
            workers,
            pending: (0..pipelines.len() * workers).map(|_| None).collect(),
            touched: Vec::new(),
            spares: Spares::default(),
            rr: 0,
            counts: vec![ReactorCounts::default(); pipelines.len()],
            failures: Vec::new(),
        }
    }
}

impl Pool {
    /// Queue one message of a topic read by `pipes` (pipeline indexes), from `publisher`.
    pub(crate) fn push(&mut self, pipes: &[u32], publisher: u64, text: bool, payload: &[u8]) {
        for &p in pipes {
            let p = p as usize;
            let d = &mut self.dispatch;
            d.counts[p].messages_in += 1;
            let n = d.workers;
            let (worker, key) = match &self.pipelines[p].partition {
                Partition::Publisher => (shard(mix64(publisher), n), None),
                Partition::RoundRobin => {
                    d.rr = d.rr.wrapping_add(1);
                    (d.rr % n, None)
                }
                Partition::Key(path) => match path.extract(payload) {
                    Ok(k) => (shard(key_hash(k), n), Some(k)),
                    Err(e) => {
                        let why = match e {
                            KeyError::InvalidJson => {
                                d.counts[p].invalid_json += 1;
                                format!("invalid JSON: {e}")
                            }
                            KeyError::NotIndexable => {
                                d.counts[p].key_errors += 1;
                                format!("key {}: {e}", path.source())
                            }
                        };
                        if let Some(slot) = self.outputs[p].errors {
                            let mut rec = Vec::new();
                            let name = self.pipelines[p].get_name();
                            error_record(&mut rec, &name, 0, &why, payload);
                            d.failures.push((slot, rec));
                        }
                        continue;
                    }
                },
            };
            let i = p * n + worker;
            let batch = match &mut d.pending[i] {
                Some(b) => b,
                slot @ None => {
                    d.touched.push(i);
                    slot.insert(d.spares.take(p as u32))
                }
            };
            batch.push(text, payload, key);
            if batch.bytes() >= BATCH_BYTES {
                self.send(i);
            }
        }
    }

    /// Hand every pending batch to its worker (once per read).
    pub(crate) fn flush(&mut self) {
        while let Some(i) = self.dispatch.touched.pop() {
            self.send(i);
        }
    }

    fn send(&mut self, i: usize) {
        let d = &mut self.dispatch;
        let Some(batch) = d.pending[i].take() else { return };
        let (p, worker) = (i / d.workers, i % d.workers);
        let link = &self.links[worker];
        match link.tx.try_send(batch) {
            Ok(()) => {
                // Pairs with the fence in `Worker::park`.
                fence(Ordering::SeqCst);
                if link.sleeping.load(Ordering::Relaxed) {
                    link.thread.unpark();
                }
            }
            Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => {
                let c = &mut d.counts[p];
                c.dropped_full += b.len() as u64;
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

    /// Give a result batch back for reuse.
    pub(crate) fn recycle(&mut self, b: Batch) {
        self.dispatch.spares.give(b);
    }

    /// Error records made by the reactor since the last call.
    pub(crate) fn take_failures(&mut self) -> Vec<(u32, Vec<u8>)> {
        std::mem::take(&mut self.dispatch.failures)
    }

    pub(crate) fn reactor_counts(&self, p: usize) -> ReactorCounts {
        self.dispatch.counts[p]
    }
}
