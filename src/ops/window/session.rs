//! Session windows (merging) and count windows, for [`WindowOp`]: the two kinds whose windows
//! are not fixed by an event's time alone.
//!
//! Sessions follow `MergingWindowSet.addWindow` and `WindowOperator.processElement`'s merging
//! branch: the new window `[ts, ts + gap)` is merged with every window of the key it intersects
//! or touches; the merged window gets the accumulators (merged), a timer at its end (only if the
//! watermark has not passed it: `EventTimeTrigger.onMerge`), and the windows it replaced lose
//! theirs. A new window that merges with nothing and is already late is skipped (`retireWindow`).

use super::agg::Agg;
use super::operator::{Cx, Placed, WindowOp, FIRE};
use super::Window;
use crate::ops::Record;

impl<A: Agg> WindowOp<A> {
    /// Session windows (`WindowOperator.processElement`, merging branch, with
    /// `MergingWindowSet.addWindow` and `EventTimeTrigger.onMerge`).
    pub(super) fn add_session(
        &mut self,
        key: &[u8],
        ts: i64,
        r: &Record,
        cx: &mut Cx<'_>,
    ) -> Placed {
        let Window::Session { gap } = self.window else { return Placed::Skipped };
        let (start, end) = (ts, ts.wrapping_add(gap));
        let order = (ts, self.next_seq());
        // The key's windows never intersect each other, so the ones the new window intersects
        // (or touches) are a run, and nothing outside the run touches their cover.
        let (lo, hi) = match self.keys.get(key) {
            Some(&slot) => {
                let wins = &self.slab[slot].wins;
                let lo = wins.partition_point(|w| w.end < start);
                let hi = lo + wins[lo..].iter().take_while(|w| w.start <= end).count();
                (lo, hi)
            }
            None => (0, 0),
        };
        let slot;
        let i;
        if lo == hi {
            // A new session of its own.
            if self.is_window_late(end) {
                return Placed::Skipped;
            }
            let acc = match self.open_acc(r, order) {
                Ok(acc) => acc,
                Err(placed) => return placed,
            };
            slot = self.slot(key);
            let w = self.new_window(start, end, acc);
            self.slab[slot].wins.insert(lo, w);
            i = lo;
        } else {
            slot = self.keys[key];
            let first = &self.slab[slot].wins[lo];
            if hi - lo == 1 && first.start <= start && first.end >= end {
                // Inside an existing session: no merge.
                i = lo;
            } else {
                let merged_start = start.min(first.start);
                let merged_end = end.max(self.slab[slot].wins[hi - 1].end);
                let mut run = self.slab[slot].wins.drain(lo..hi);
                let mut acc = run.next().map(|w| w.acc).expect("a non-empty run");
                let rest: Vec<A::Acc> = run.map(|w| w.acc).collect();
                let freed = rest.len();
                for other in rest {
                    self.agg.merge(&mut acc, other);
                }
                self.held -= freed;
                self.budget.release(freed);
                let mut w = self.new_window(merged_start, merged_end, acc);
                let max_ts = merged_end.wrapping_sub(1);
                // onMerge: a timer only if the merged window is not already due.
                if max_ts > self.time {
                    w.timer = true;
                    let id = w.id;
                    self.push_timer(max_ts, FIRE, id, slot);
                }
                self.slab[slot].wins.insert(lo, w);
                i = lo;
            }
            if let Err(e) = self.agg.add(&mut self.slab[slot].wins[i].acc, r, order) {
                return Placed::Failed(e);
            }
        }
        self.on_element(slot, i, cx);
        Placed::Added
    }

    /// Count windows (`GlobalWindows` + `PurgingTrigger.of(CountTrigger.of(n))`).
    pub(super) fn add_count(&mut self, key: &[u8], r: &Record, cx: &mut Cx<'_>) -> Placed {
        let Window::Count { size } = self.window else { return Placed::Skipped };
        let order = (0, self.next_seq());
        let slot = match self.keys.get(key) {
            Some(&s) if !self.slab[s].wins.is_empty() => {
                if let Err(e) = self.agg.add(&mut self.slab[s].wins[0].acc, r, order) {
                    return Placed::Failed(e);
                }
                s
            }
            _ => {
                let acc = match self.open_acc(r, order) {
                    Ok(acc) => acc,
                    Err(placed) => return placed,
                };
                let s = self.slot(key);
                let w = self.new_window(i64::MIN, i64::MAX, acc);
                self.slab[s].wins.push(w);
                s
            }
        };
        self.slab[slot].wins[0].count += 1;
        if self.slab[slot].wins[0].count >= size {
            self.fire(slot, 0, false, cx);
            self.slab[slot].wins.clear();
            self.held -= 1;
            self.budget.release(1);
            self.forget_if_empty(slot);
        }
        Placed::Added
    }
}
