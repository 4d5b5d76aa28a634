//! Per-stream accounting: what arrived, in what order, and what arrived twice.
//!
//! One [`Track`] follows one sender as seen by one receiver. It remembers the highest sequence
//! number seen and a 128-bit window of the numbers just below it, so a duplicate is told apart
//! from a late (out-of-order) arrival in O(1) time and 32 bytes, whatever the run length. A
//! message more than 128 behind the highest seen is counted as late and unique (it cannot be
//! checked against the window). Loss is what is left: expected minus unique.

const WINDOW: u64 = 128;

/// Counters of one sender–receiver stream, or their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Distinct messages received.
    pub unique: u64,
    /// Messages received again.
    pub duplicates: u64,
    /// Messages that arrived after a higher sequence number had.
    pub out_of_order: u64,
}

impl Counts {
    /// Add another stream's counters.
    pub fn add(&mut self, o: &Counts) {
        self.unique += o.unique;
        self.duplicates += o.duplicates;
        self.out_of_order += o.out_of_order;
    }
}

/// Order, duplicate and loss tracking for one stream.
#[derive(Debug, Clone, Default)]
pub struct Track {
    /// One more than the highest sequence number seen (0: nothing yet).
    next: u64,
    /// Bit `i` set: `next - 1 - i` was seen.
    seen: u128,
    /// The counters.
    pub counts: Counts,
}

impl Track {
    /// Account for sequence number `seq`. Returns true if it is new (not a duplicate).
    #[inline]
    pub fn on_seq(&mut self, seq: u64) -> bool {
        if seq >= self.next {
            let shift = seq + 1 - self.next;
            self.seen = if shift >= WINDOW { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.next = seq + 1;
            self.counts.unique += 1;
            return true;
        }
        let back = self.next - 1 - seq;
        if back < WINDOW {
            let bit = 1u128 << back;
            if self.seen & bit != 0 {
                self.counts.duplicates += 1;
                return false;
            }
            self.seen |= bit;
        }
        self.counts.unique += 1;
        self.counts.out_of_order += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_gaps_and_duplicates() {
        let mut t = Track::default();
        for s in [0, 1, 2, 4, 3, 3, 5, 0] {
            t.on_seq(s);
        }
        assert_eq!(t.counts, Counts { unique: 6, duplicates: 2, out_of_order: 1 });
    }
}
