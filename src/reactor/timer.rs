//! Deadlines without an async runtime: a min-heap of (instant, connection) whose earliest entry
//! gives `Poll::poll` its timeout.
//!
//! Entries are never removed early. A connection remembers the instant its current timer is due
//! (`Conn::timer_at`); an entry that no longer matches (the connection re-armed, or the slot now
//! holds another connection, told apart by its unique id) is stale and skipped when it pops.
//! Keepalive does not touch the heap per message: the connection records when it last heard from
//! the peer, and the timer, when it fires, re-arms itself for the real deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// One armed deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Entry {
    pub(crate) at: Instant,
    pub(crate) key: usize,
    pub(crate) id: u64,
}

/// The reactor's timer heap.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
}

impl Timers {
    /// Arm a deadline for connection `key` (unique id `id`).
    pub(crate) fn arm(&mut self, at: Instant, key: usize, id: u64) {
        self.heap.push(Reverse(Entry { at, key, id }));
    }

    /// The earliest armed instant (possibly stale: waking early is harmless).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.0.at)
    }

    /// Pop the next entry due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Entry> {
        if self.heap.peek()?.0.at <= now {
            self.heap.pop().map(|e| e.0)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut t = Timers::default();
        t.arm(at(30), 3, 30);
        t.arm(at(10), 1, 10);
        t.arm(at(20), 2, 20);
        assert_eq!(t.next(), Some(at(10)));
        assert_eq!(t.pop_due(at(5)), None);
        assert_eq!(t.pop_due(at(25)).map(|e| e.key), Some(1));
        assert_eq!(t.pop_due(at(25)).map(|e| e.key), Some(2));
        assert_eq!(t.pop_due(at(25)), None);
        assert_eq!(t.pop_due(at(30)).map(|e| (e.key, e.id)), Some((3, 30)));
        assert_eq!(t.next(), None);
    }
}
