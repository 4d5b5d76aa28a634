//! The window operator on one worker: keyed window state, timers, firing, lateness, cleanup.
//! The rules it implements, with the Flink sources they come from, are in the
//! [module docs](super).
//!
//! State: a hash map from key (its JSON text) to a slot holding that key's open windows, sorted
//! by start, each with its accumulator. Timers: one min-heap of `(time, kind, window id)` for
//! the whole operator, like Flink's timer service; a timer of a window that was merged away or
//! freed is skipped when it comes up (window ids are never reused). Costs per event: one hash
//! lookup, a binary search among the key's windows, the aggregate update; a heap push only when a
//! window opens.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use slab::Slab;

use super::agg::{Agg, Fields};
use super::builtin::{Cell, Compiled};
use super::{Budget, Window};
use crate::ops::record::Pool;
use crate::ops::shard::{key_hash, mix64};
use crate::ops::{PipelineCounters, Record};

/// What a worker's window operator needs besides its aggregate.
#[derive(Clone)]
pub(crate) struct Setup {
    pub(crate) window: Window,
    /// `Some(allowed lateness)`: event time; `None`: processing time.
    pub(crate) lateness: Option<i64>,
    pub(crate) budget: Arc<Budget>,
}

/// Where the operator's output and counts go.
pub(crate) struct Cx<'a> {
    pub(crate) out: &'a mut Vec<Record>,
    pub(crate) late: &'a mut Vec<Record>,
    /// Late events are wanted (the pipeline has a late topic).
    pub(crate) keep_late: bool,
    pub(crate) pool: &'a mut Pool,
    pub(crate) counts: &'a mut PipelineCounters,
    /// (why, payload) of failed events, when the pipeline has an error topic.
    pub(crate) failures: Option<&'a mut Vec<(String, Vec<u8>)>>,
}

/// A window operator behind one virtual call per batch.
pub(crate) trait DynWindow {
    fn batch(&mut self, input: &mut Vec<Record>, cx: &mut Cx<'_>);
    /// A new watermark (acted on with event time).
    fn on_watermark(&mut self, wm: i64, cx: &mut Cx<'_>);
    /// The worker's clock (acted on with processing time).
    fn on_time(&mut self, now: i64, cx: &mut Cx<'_>);
    /// End of input: every time window fires (watermark, or clock, `i64::MAX`).
    fn end(&mut self, cx: &mut Cx<'_>);
}

impl Agg for Compiled {
    type Acc = Vec<Cell>;
    fn prepare(&mut self, r: &mut Record) -> Result<(), String> {
        Compiled::prepare(self, r)
    }
    fn create(&mut self) -> Vec<Cell> {
        Compiled::create(self)
    }
    fn add(&mut self, acc: &mut Vec<Cell>, _r: &Record, order: (i64, u64)) -> Result<(), String> {
        Compiled::add(self, acc, order);
        Ok(())
    }
    fn merge(&mut self, acc: &mut Vec<Cell>, other: Vec<Cell>) {
        Compiled::merge(acc, other);
    }
    fn write(&mut self, acc: &Vec<Cell>, out: &mut Fields<'_>) {
        Compiled::write(self, acc, out);
    }
}

/// Hashes keys with the relay's fixed key hash (no per-lookup SipHash).
#[derive(Clone, Copy, Default)]
pub(crate) struct KeyHash;

pub(crate) struct KeyHasher(u64);

impl BuildHasher for KeyHash {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = mix64(self.0 ^ key_hash(bytes));
    }
    fn write_usize(&mut self, n: usize) {
        self.0 ^= n as u64;
    }
}

pub(super) struct Win<Acc> {
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) id: u64,
    pub(super) acc: Acc,
    /// The trigger's timer at `end - 1` is registered.
    pub(super) timer: bool,
    /// The cleanup timer is registered.
    cleanup: bool,
    /// Events so far (count windows).
    pub(super) count: u64,
}

pub(super) struct KeyState<Acc> {
    key: Box<[u8]>,
    pub(super) wins: Vec<Win<Acc>>,
}

pub(super) const FIRE: u8 = 0;
const CLEANUP: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    pub(super) time: i64,
    kind: u8,
    id: u64,
    slot: u32,
}

/// How an event ended up.
pub(super) enum Placed {
    /// Added to at least one window.
    Added,
    /// All its windows are late.
    Skipped,
    /// It would open a window beyond the bound.
    Full,
    /// The aggregate refused it.
    Failed(String),
}

/// The window operator for one pipeline on one worker.
pub(crate) struct WindowOp<A: Agg> {
    pub(super) agg: A,
    pub(super) window: Window,
    pub(super) lateness: Option<i64>,
    pub(super) keys: HashMap<Box<[u8]>, usize, KeyHash>,
    pub(super) slab: Slab<KeyState<A::Acc>>,
    timers: BinaryHeap<Reverse<Timer>>,
    /// The watermark (event time) or the clock (processing time).
    pub(super) time: i64,
    next_id: u64,
    seq: u64,
    pub(super) budget: Arc<Budget>,
    /// Windows this instance holds (given back to the budget when dropped).
    pub(super) held: usize,
    assigned: Vec<(i64, i64)>,
}

impl<A: Agg> Drop for WindowOp<A> {
    fn drop(&mut self) {
        self.budget.release(self.held);
    }
}

impl<A: Agg> WindowOp<A> {
    pub(crate) fn new(agg: A, s: Setup) -> WindowOp<A> {
        WindowOp {
            agg,
            window: s.window,
            lateness: s.lateness,
            keys: HashMap::with_hasher(KeyHash),
            slab: Slab::new(),
            timers: BinaryHeap::new(),
            time: i64::MIN,
            next_id: 0,
            seq: 0,
            budget: s.budget,
            held: 0,
            assigned: Vec::new(),
        }
    }

    fn event_time(&self) -> bool {
        self.lateness.is_some() && self.window.is_timed()
    }

    /// `end - 1 + lateness`, or `i64::MAX` on overflow (Flink's `cleanupTime`); processing
    /// time: `end - 1`.
    pub(super) fn cleanup_time(&self, end: i64) -> i64 {
        let max_ts = end.wrapping_sub(1);
        match self.lateness {
            Some(l) => {
                let c = max_ts.wrapping_add(l);
                if c >= max_ts {
                    c
                } else {
                    i64::MAX
                }
            }
            None => max_ts,
        }
    }

    pub(super) fn is_window_late(&self, end: i64) -> bool {
        self.event_time() && self.cleanup_time(end) <= self.time
    }

    fn is_element_late(&self, ts: i64) -> bool {
        self.event_time() && ts.wrapping_add(self.lateness.unwrap_or(0)) <= self.time
    }

    pub(super) fn slot(&mut self, key: &[u8]) -> usize {
        if let Some(&s) = self.keys.get(key) {
            return s;
        }
        let s = self.slab.insert(KeyState { key: key.into(), wins: Vec::new() });
        self.keys.insert(key.into(), s);
        s
    }

    pub(super) fn forget_if_empty(&mut self, slot: usize) {
        if self.slab.get(slot).is_some_and(|k| k.wins.is_empty()) {
            let k = self.slab.remove(slot);
            self.keys.remove(&k.key);
        }
    }

    /// The accumulator of a window about to be opened for `r`: reserves its place in the budget
    /// (`Full` if there is none) and adds `r` (`Failed`, place released, if the aggregate
    /// refuses it).
    pub(super) fn open_acc(&mut self, r: &Record, order: (i64, u64)) -> Result<A::Acc, Placed> {
        if !self.budget.reserve(1) {
            return Err(Placed::Full);
        }
        let mut acc = self.agg.create();
        if let Err(e) = self.agg.add(&mut acc, r, order) {
            self.budget.release(1);
            return Err(Placed::Failed(e));
        }
        self.held += 1;
        Ok(acc)
    }

    pub(super) fn new_window(&mut self, start: i64, end: i64, acc: A::Acc) -> Win<A::Acc> {
        self.next_id += 1;
        Win { start, end, id: self.next_id, acc, timer: false, cleanup: false, count: 0 }
    }

    pub(super) fn push_timer(&mut self, time: i64, kind: u8, id: u64, slot: usize) {
        self.timers.push(Reverse(Timer { time, kind, id, slot: slot as u32 }));
    }

    /// After an event went into window `i` of `slot`: the trigger's `onElement`, then the
    /// cleanup timer (`WindowOperator.registerCleanupTimer`).
    pub(super) fn on_element(&mut self, slot: usize, i: usize, cx: &mut Cx<'_>) {
        let w = &self.slab[slot].wins[i];
        let (id, max_ts, cleanup) = (w.id, w.end.wrapping_sub(1), self.cleanup_time(w.end));
        if self.event_time() && max_ts <= self.time {
            self.fire(slot, i, true, cx);
        } else if !self.slab[slot].wins[i].timer {
            self.slab[slot].wins[i].timer = true;
            self.push_timer(max_ts, FIRE, id, slot);
        }
        if cleanup != i64::MAX && !self.slab[slot].wins[i].cleanup {
            self.slab[slot].wins[i].cleanup = true;
            self.push_timer(cleanup, CLEANUP, id, slot);
        }
    }

    /// Emit window `i` of `slot`: `{"key":…,"window_start":…,"window_end":…,<aggregates>}`.
    pub(super) fn fire(&mut self, slot: usize, i: usize, update: bool, cx: &mut Cx<'_>) {
        let ks = &self.slab[slot];
        let w = &ks.wins[i];
        let mut buf = cx.pool.buffer();
        buf.extend_from_slice(b"{\"key\":");
        buf.extend_from_slice(&ks.key);
        if self.window.is_timed() {
            buf.extend_from_slice(b",\"window_start\":");
            buf.extend_from_slice(w.start.to_string().as_bytes());
            buf.extend_from_slice(b",\"window_end\":");
            buf.extend_from_slice(w.end.to_string().as_bytes());
        } else {
            buf.extend_from_slice(b",\"window_start\":null,\"window_end\":null");
        }
        self.agg.write(&w.acc, &mut Fields::new(&mut buf));
        if update {
            buf.extend_from_slice(b",\"update\":true");
        }
        buf.push(b'}');
        let mut r = Record::from_parts(true, buf);
        let mut key = cx.pool.buffer();
        key.extend_from_slice(&ks.key);
        r.key = Some(key);
        r.ts = if self.window.is_timed() { w.end.wrapping_sub(1) } else { i64::MAX };
        r.wm = self.time;
        // Final unless allowed lateness may still bring an update (before its cleanup time).
        r.window_final = Some(!self.window.is_timed() || self.time >= self.cleanup_time(w.end));
        cx.out.push(r);
        cx.counts.windows_fired += 1;
        if update {
            cx.counts.updates += 1;
        }
    }

    /// Move time to `t`, firing and freeing what is due (event time: timers `<= t`; processing
    /// time: timers `< t`, as Flink's processing-time service fires a timer at `T + 1`).
    fn move_to(&mut self, t: i64, cx: &mut Cx<'_>) {
        if t <= self.time {
            return;
        }
        self.time = t;
        let event = self.lateness.is_some();
        while let Some(&Reverse(tm)) = self.timers.peek() {
            if (event && tm.time > t) || (!event && tm.time >= t) {
                break;
            }
            self.timers.pop();
            let slot = tm.slot as usize;
            let Some(i) =
                self.slab.get(slot).and_then(|k| k.wins.iter().position(|w| w.id == tm.id))
            else {
                continue;
            };
            let w = &mut self.slab[slot].wins[i];
            if tm.kind == FIRE {
                if w.timer {
                    w.timer = false;
                    self.fire(slot, i, false, cx);
                }
            } else if w.cleanup {
                self.slab[slot].wins.remove(i);
                self.held -= 1;
                self.budget.release(1);
                self.forget_if_empty(slot);
            }
        }
    }

    /// Tumbling and sliding windows (`WindowOperator.processElement`, non-merging branch).
    fn add_fixed(&mut self, key: &[u8], ts: i64, r: &Record, cx: &mut Cx<'_>) -> Placed {
        let mut assigned = std::mem::take(&mut self.assigned);
        self.window.assign(ts, &mut assigned);
        let existing = self.keys.get(key).copied();
        let find = |this: &Self, slot: Option<usize>, start: i64| {
            slot.and_then(|s| this.slab[s].wins.binary_search_by_key(&start, |w| w.start).ok())
        };
        let need = assigned
            .iter()
            .filter(|&&(s, e)| !self.is_window_late(e) && find(self, existing, s).is_none())
            .count();
        if need > 0 && !self.budget.reserve(need) {
            self.assigned = assigned;
            return Placed::Full;
        }
        self.held += need;
        let order = (ts, self.next_seq());
        let mut placed = Placed::Skipped;
        let mut created = 0;
        for &(start, end) in &assigned {
            if self.is_window_late(end) {
                continue;
            }
            let slot = self.slot(key);
            let i = match self.slab[slot].wins.binary_search_by_key(&start, |w| w.start) {
                Ok(i) => match self.agg.add(&mut self.slab[slot].wins[i].acc, r, order) {
                    Ok(()) => i,
                    Err(e) => {
                        placed = Placed::Failed(e);
                        break;
                    }
                },
                Err(i) => {
                    let mut acc = self.agg.create();
                    if let Err(e) = self.agg.add(&mut acc, r, order) {
                        placed = Placed::Failed(e);
                        self.forget_if_empty(slot);
                        break;
                    }
                    let w = self.new_window(start, end, acc);
                    self.slab[slot].wins.insert(i, w);
                    created += 1;
                    i
                }
            };
            placed = Placed::Added;
            self.on_element(slot, i, cx);
        }
        // A failure leaves reserved slots unused.
        self.held -= need - created;
        self.budget.release(need - created);
        self.assigned = assigned;
        placed
    }

    pub(super) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

impl<A: Agg> WindowOp<A> {
    fn process(&mut self, mut r: Record, cx: &mut Cx<'_>) {
        let event = self.lateness.is_some();
        let ts = match (event, r.timestamp()) {
            (_, Some(ts)) => ts,
            (false, None) => self.time,
            (true, None) => {
                return fail(cx, r, "the record has no event time", Kind::Operator);
            }
        };
        // The watermark (or clock) this event was read under comes first.
        let t = if event { r.wm } else { ts };
        self.move_to(t, cx);
        if let Err(e) = self.agg.prepare(&mut r) {
            let kind = if e.starts_with("invalid JSON") { Kind::Json } else { Kind::Expr };
            return fail(cx, r, &e, kind);
        }
        let key: &[u8] = r.key().unwrap_or(b"null");
        let placed = match self.window {
            Window::Tumbling { .. } | Window::Sliding { .. } => self.add_fixed(key, ts, &r, cx),
            Window::Session { .. } => self.add_session(key, ts, &r, cx),
            Window::Count { .. } => self.add_count(key, &r, cx),
        };
        match placed {
            Placed::Added => cx.pool.recycle(r),
            Placed::Skipped if self.is_element_late(ts) => {
                if cx.keep_late {
                    cx.counts.late_out += 1;
                    cx.late.push(r);
                } else {
                    cx.counts.late_dropped += 1;
                    cx.pool.recycle(r);
                }
            }
            Placed::Skipped => cx.pool.recycle(r),
            Placed::Full => {
                cx.counts.windows_full += 1;
                if cx.counts.windows_full.is_power_of_two() {
                    log::warn!(
                        "window state full ({} open windows): dropped {} event(s) so far",
                        self.budget.open(),
                        cx.counts.windows_full
                    );
                }
                cx.pool.recycle(r);
            }
            Placed::Failed(e) => fail(cx, r, &e, Kind::Operator),
        }
    }
}

enum Kind {
    Json,
    Expr,
    Operator,
}

fn fail(cx: &mut Cx<'_>, mut r: Record, why: &str, kind: Kind) {
    match kind {
        Kind::Json => cx.counts.invalid_json += 1,
        Kind::Expr => cx.counts.expr_errors += 1,
        Kind::Operator => cx.counts.operator_errors += 1,
    }
    if let Some(f) = cx.failures.as_deref_mut() {
        r.materialize();
        f.push((why.to_string(), r.payload().to_vec()));
    }
    cx.pool.recycle(r);
}

impl<A: Agg> DynWindow for WindowOp<A> {
    fn batch(&mut self, input: &mut Vec<Record>, cx: &mut Cx<'_>) {
        for r in input.drain(..) {
            self.process(r, cx);
        }
    }

    fn on_watermark(&mut self, wm: i64, cx: &mut Cx<'_>) {
        if self.lateness.is_some() {
            self.move_to(wm, cx);
        }
    }

    fn on_time(&mut self, now: i64, cx: &mut Cx<'_>) {
        if self.lateness.is_none() {
            self.move_to(now, cx);
        }
    }

    fn end(&mut self, cx: &mut Cx<'_>) {
        if self.window.is_timed() {
            self.move_to(i64::MAX, cx);
        }
    }
}
