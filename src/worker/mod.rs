//! The worker pool: pinned threads that run pipelines, fed by the reactor over bounded
//! lock-free channels.
//!
//! ```text
//!  reactor ──try_send(Batch)──▶ worker i inbound (bounded, one per worker)
//!     ▲                              │ duty cycle: drain ≤ DRAIN_LIMIT batches → run chains
//!     │                              │ → hand results over → wake the reactor once → idle
//!     └──── mio::Waker ◀── results (bounded, shared by the workers) ◀─┘
//! ```
//!
//! Contracts:
//!
//! - The reactor only `try_send`s. A full worker queue drops the batch that did not fit and
//!   counts its messages (`PipelineStats::dropped_full`): the publisher, the other pipelines
//!   and the raw topic's subscribers are not held up by a slow pipeline.
//! - A worker blocks only on its own idle strategy and on a full result channel (back-pressure:
//!   its inbound queue then fills and the reactor starts dropping, counted). It wakes the
//!   reactor once per duty cycle, and only if no wake-up is already pending.
//! - Each pipeline has an instance on every worker; a message is handled by exactly one of them
//!   (see `worker/dispatch.rs`): per-key or per-publisher order, no locks on state.
//! - Counters are written by their worker alone (relaxed atomics, once per cycle) and summed in
//!   [`crate::Stats::pipelines`].
//!
//! Time: every cycle the worker reads the pipeline [`Clock`] once and, when the millisecond has
//! changed, calls `on_time` on the operators (a parked worker wakes at least every
//! [`idle::PARK_MAX`]). Keyed state and timers (windows) live inside operators on the worker
//! that owns the key; a control message such as a watermark can travel to every worker as its
//! own kind of batch on the same queues, keeping its order relative to the data.

pub(crate) mod batch;
mod dispatch;
mod guard;
pub mod idle;
mod pin;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use crate::clock::Clock;
use crate::metrics::QueueStats;
use crate::ops::{Chain, Pipeline, PipelineCounters, Record, SharedCounters, TimeMode};
use crate::wake::Wake;
use batch::{Batch, Spares};
pub use idle::IdleStrategy;
use idle::{Action, Idler, PARK_MAX};

/// Inbound batches a worker takes per duty cycle before it hands results back.
pub(crate) const DRAIN_LIMIT: usize = 64;
/// Capacity of the result channel shared by the workers, in batches.
pub(crate) const RESULT_CAPACITY: usize = 4096;

/// How the pool runs (from the `[workers]` configuration).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSettings {
    /// Worker threads (at least 1).
    pub(crate) threads: usize,
    /// Bound of each worker's inbound queue, in batches.
    pub(crate) queue: usize,
    /// What an idle worker does.
    pub(crate) idle: IdleStrategy,
    /// Pin each worker to its own core.
    pub(crate) pin: bool,
}

/// Where a pipeline's results go: output slots, resolved to topics by the reactor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outputs {
    pub(crate) to: u32,
    pub(crate) errors: Option<u32>,
    pub(crate) late: Option<u32>,
}

/// The reactor's side of one worker.
struct Link {
    tx: Sender<Batch>,
    sleeping: Arc<AtomicBool>,
    thread: Thread,
}

/// The running pool, owned by the reactor.
pub(crate) struct Pool {
    pub(crate) pipelines: Arc<Vec<Pipeline>>,
    pub(crate) outputs: Vec<Outputs>,
    /// Topic names of the output slots.
    pub(crate) slot_topics: Vec<String>,
    links: Vec<Link>,
    joins: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    pub(crate) results: Receiver<Batch>,
    /// `[worker * pipelines + pipeline]`.
    counters: Arc<Vec<SharedCounters>>,
    dispatch: dispatch::State,
    /// The pipeline clock (publisher idleness of event-time pipelines).
    clock: Clock,
}

impl Pool {
    /// Start `config.threads` workers running `pipelines`.
    pub(crate) fn start(
        pipelines: Vec<Pipeline>,
        config: &PoolSettings,
        wake: Arc<Wake>,
        clock: Clock,
    ) -> std::io::Result<Pool> {
        let n = config.threads.max(1);
        let mut slot_topics = Vec::new();
        let mut slot = |topic: &str| match slot_topics.iter().position(|t| t == topic) {
            Some(i) => i as u32,
            None => {
                slot_topics.push(topic.to_string());
                (slot_topics.len() - 1) as u32
            }
        };
        let outputs: Vec<Outputs> = pipelines
            .iter()
            .map(|p| Outputs {
                to: slot(p.to.as_deref().expect("validated")),
                errors: p.errors.as_deref().map(&mut slot),
                late: p.late.as_deref().map(&mut slot),
            })
            .collect();
        let budgets: Arc<Vec<_>> =
            Arc::new(pipelines.iter().map(Pipeline::window_budget).collect());
        let pipelines = Arc::new(pipelines);
        let counters: Arc<Vec<SharedCounters>> =
            Arc::new((0..n * pipelines.len()).map(|_| SharedCounters::default()).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let (results_tx, results) = crossbeam_channel::bounded(RESULT_CAPACITY);
        let mut links: Vec<Link> = Vec::with_capacity(n);
        let mut joins: Vec<JoinHandle<()>> = Vec::with_capacity(n);
        for index in 0..n {
            let (tx, rx) = crossbeam_channel::bounded(config.queue);
            let sleeping = Arc::new(AtomicBool::new(false));
            let worker = Worker {
                index,
                rx,
                results: results_tx.clone(),
                pipelines: pipelines.clone(),
                outputs: outputs.clone(),
                wake: wake.clone(),
                stop: stop.clone(),
                sleeping: sleeping.clone(),
                counters: counters.clone(),
                idle: config.idle,
                pin: config.pin,
                clock: clock.clone(),
                budgets: budgets.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("sluice-worker-{index}"))
                .spawn(move || worker.run());
            let join = match spawned {
                Ok(join) => join,
                Err(e) => {
                    // Stop the workers already started before giving up.
                    stop.store(true, Ordering::Release);
                    for (link, join) in links.iter().zip(joins) {
                        link.thread.unpark();
                        let _ = join.join();
                    }
                    return Err(e);
                }
            };
            links.push(Link { tx, sleeping, thread: join.thread().clone() });
            joins.push(join);
        }
        log::info!(
            "{} pipeline(s) on {n} worker(s), idle strategy {}, pinning {}",
            pipelines.len(),
            config.idle,
            if config.pin { "on" } else { "off" }
        );
        let dispatch = dispatch::State::new(&pipelines, n);
        Ok(Pool {
            clock,
            pipelines,
            outputs,
            slot_topics,
            links,
            joins,
            stop,
            results,
            counters,
            dispatch,
        })
    }

    /// Number of workers.
    pub(crate) fn workers(&self) -> usize {
        self.links.len()
    }

    /// Each worker's inbound queue, then the shared result queue: batches waiting now and the
    /// bound. A few atomic loads per worker: for snapshots, never per message.
    pub(crate) fn queues(&self) -> (Vec<QueueStats>, QueueStats) {
        let depth =
            |len: usize, cap: Option<usize>| QueueStats::new(len as u64, cap.unwrap_or(0) as u64);
        let inbound = self.links.iter().map(|l| depth(l.tx.len(), l.tx.capacity())).collect();
        (inbound, depth(self.results.len(), self.results.capacity()))
    }

    /// Counters of pipeline `p`: the reactor's routing and every worker's, summed.
    pub(crate) fn counters(&self, p: usize) -> PipelineCounters {
        let np = self.pipelines.len();
        let mut sum = self.dispatch.counts[p];
        for w in 0..self.links.len() {
            sum.add(&self.counters[w * np + p].load());
        }
        sum
    }

    /// Stop every worker and wait for it (in-flight messages are dropped).
    pub(crate) fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        for link in &self.links {
            link.thread.unpark();
        }
        for join in self.joins.drain(..) {
            if join.join().is_err() {
                log::error!("a worker thread panicked");
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One worker thread's state.
struct Worker {
    index: usize,
    rx: Receiver<Batch>,
    results: Sender<Batch>,
    pipelines: Arc<Vec<Pipeline>>,
    outputs: Vec<Outputs>,
    wake: Arc<Wake>,
    stop: Arc<AtomicBool>,
    sleeping: Arc<AtomicBool>,
    counters: Arc<Vec<SharedCounters>>,
    idle: IdleStrategy,
    pin: bool,
    clock: Clock,
    /// Per pipeline: the bound on its open windows, shared by the workers.
    budgets: Arc<Vec<Arc<crate::ops::window::Budget>>>,
}

/// Results of one duty cycle, per output slot.
struct Out {
    pending: Vec<Option<Batch>>,
    touched: Vec<u32>,
    spares: Spares,
}

impl Out {
    fn push(&mut self, slot: u32, text: bool, payload: &[u8]) {
        self.batch(slot).push(text, payload, None);
    }

    /// A result of a chain: window results carry (watermark, final) as the batch's stamps
    /// (every message of a result batch with stamps has one: `(i64::MIN, 0)` for others).
    fn push_result(&mut self, slot: u32, r: &Record) {
        let b = self.batch(slot);
        match r.window_final {
            Some(last) => {
                if b.stamps().is_empty() && b.len() > 0 {
                    b.pad_stamps(i64::MIN, 0);
                }
                b.push_timed(r.is_text(), r.payload(), None, r.wm, i64::from(last));
            }
            None if !b.stamps().is_empty() => {
                b.push_timed(r.is_text(), r.payload(), None, i64::MIN, 0)
            }
            None => b.push(r.is_text(), r.payload(), None),
        }
    }

    /// The results of `slot` have a hole before what follows (an operator failed).
    fn mark_lost(&mut self, slot: u32) {
        self.batch(slot).lost = true;
    }

    fn batch(&mut self, slot: u32) -> &mut Batch {
        let Out { pending, touched, spares } = self;
        let b = &mut pending[slot as usize];
        if b.is_none() {
            touched.push(slot);
        }
        b.get_or_insert_with(|| spares.take(slot))
    }
}

impl Worker {
    fn run(self) {
        if self.pin {
            pin::pin_current(self.index);
        }
        let mut chains: Vec<Chain> =
            self.pipelines.iter().zip(self.budgets.iter()).map(|(p, b)| Chain::new(p, b)).collect();
        let slots = self
            .outputs
            .iter()
            .map(|o| o.to.max(o.errors.unwrap_or(0)).max(o.late.unwrap_or(0)))
            .max();
        let mut out = Out {
            pending: (0..=slots.unwrap_or(0)).map(|_| None).collect(),
            touched: Vec::new(),
            spares: Spares::default(),
        };
        let idler = Idler::new(self.idle);
        let mut last_work = Instant::now();
        let mut last_ms = self.clock.now_ms();
        loop {
            let mut work = 0;
            while work < DRAIN_LIMIT {
                match self.rx.try_recv() {
                    Ok(batch) => {
                        self.process(&mut chains, batch, &mut out);
                        work += 1;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            let now_ms = self.clock.now_ms();
            if now_ms != last_ms {
                last_ms = now_ms;
                for p in 0..chains.len() {
                    let o = self.outputs[p];
                    self.guarded(&mut chains, p, &mut out, |chain, out| {
                        chain.on_time(now_ms, &mut |r| out.push_result(o.to, r));
                        Worker::drain_side(chain, o, out);
                    });
                }
            }
            if !out.touched.is_empty() && !self.hand_over(&mut out) {
                return;
            }
            let np = self.pipelines.len();
            for (p, chain) in chains.iter_mut().enumerate() {
                let c = chain.take_counts();
                if c != PipelineCounters::default() {
                    self.counters[self.index * np + p].add(&c);
                }
            }
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            let now = Instant::now();
            if work > 0 {
                last_work = now;
            }
            match idler.decide(work, now - last_work) {
                Action::Spin => std::hint::spin_loop(),
                Action::Yield => std::thread::yield_now(),
                Action::Park => self.park(),
            }
        }
    }

    fn process(&self, chains: &mut [Chain], batch: Batch, out: &mut Out) {
        let p = batch.route as usize;
        let (Some(_), Some(&o)) = (chains.get(p), self.outputs.get(p)) else {
            out.spares.give(batch);
            return;
        };
        let processing = self.pipelines[p].time == Some(TimeMode::Processing);
        let now = i64::try_from(self.clock.now_ms()).unwrap_or(i64::MAX);
        self.guarded(chains, p, out, |chain, out| {
            Worker::run_batch(chain, o, batch, processing, now, out)
        });
    }

    /// One batch through one pipeline's chain.
    fn run_batch(
        chain: &mut Chain,
        o: Outputs,
        batch: Batch,
        processing: bool,
        now: i64,
        out: &mut Out,
    ) {
        let stamps = batch.stamps();
        if !stamps.is_empty() {
            for ((text, payload, key), &(ts, wm)) in batch.iter().zip(stamps) {
                chain.push_timed(text, payload, key, ts, wm);
            }
        } else if processing {
            // Processing time: the worker's clock when it takes the batch.
            for (text, payload, key) in batch.iter() {
                chain.push_timed(text, payload, key, now, i64::MIN);
            }
        } else {
            for (text, payload, key) in batch.iter() {
                chain.push(text, payload, key);
            }
        }
        let watermark = batch.watermark;
        out.spares.give(batch);
        chain.run(&mut |r| out.push_result(o.to, r));
        if watermark != i64::MIN {
            chain.on_watermark(watermark, &mut |r| out.push_result(o.to, r));
        }
        Worker::drain_side(chain, o, out);
    }

    /// Error records to the error topic, late events to the late topic.
    fn drain_side(chain: &mut Chain, o: Outputs, out: &mut Out) {
        if let Some(slot) = o.errors {
            chain.drain_failures(|e| out.push(slot, true, e));
        }
        match o.late {
            Some(slot) => chain.drain_late(|text, payload| out.push(slot, text, payload)),
            None => chain.drain_late(|_, _| {}),
        }
    }

    /// Send every result batch, then wake the reactor once. False when stopping.
    fn hand_over(&self, out: &mut Out) -> bool {
        for slot in out.touched.drain(..) {
            let Some(mut batch) = out.pending[slot as usize].take() else { continue };
            loop {
                match self.results.send_timeout(batch, Duration::from_millis(10)) {
                    Ok(()) => break,
                    Err(crossbeam_channel::SendTimeoutError::Timeout(b)) => {
                        // The reactor is behind: make sure it is awake, then wait again.
                        self.wake.wake_now();
                        if self.stop.load(Ordering::Acquire) {
                            return false;
                        }
                        batch = b;
                    }
                    Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return false,
                }
            }
        }
        self.wake.wake();
        true
    }

    /// Park until the reactor hands over work (it unparks a sleeping worker) or `PARK_MAX`.
    fn park(&self) {
        self.sleeping.store(true, Ordering::SeqCst);
        // Pairs with the fence in `dispatch`: either the reactor sees `sleeping` and unparks,
        // or this check sees its batch.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.rx.is_empty() && !self.stop.load(Ordering::Acquire) {
            std::thread::park_timeout(PARK_MAX);
        }
        self.sleeping.store(false, Ordering::Relaxed);
    }
}
