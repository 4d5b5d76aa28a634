//! Deadlines without an async runtime: a min-heap of (instant, connection) whose earliest entry
//! gives `Poll::poll` its timeout, and what firing one means.
//!
//! Entries are never removed early. A connection remembers the instant its current timer is due
//! (`Conn::timer_at`); an entry that no longer matches (the connection re-armed, or the slot now
//! holds another connection, told apart by its unique id) is stale and skipped when it pops.
//! Keepalive does not touch the heap per message: the connection records when it last heard from
//! the peer, and the timer, when it fires, re-arms itself for the real deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Instant;

use super::Reactor;
use crate::conn::frames::{self, CloseReason};
use crate::conn::{State, TimerVerdict, Verdict};

/// Timer keys with this bit set belong to connectors (slab index in the other bits).
pub(super) const CONNECTOR_TIMER: usize = 1 << (usize::BITS - 1);

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

impl Reactor {
    /// Fire every timer due at `now`.
    pub(super) fn expire_timers(&mut self, now: Instant) {
        while let Some(entry) = self.timers.pop_due(now) {
            if entry.key & CONNECTOR_TIMER != 0 {
                self.connector_timer(entry.key & !CONNECTOR_TIMER, entry.id, entry.at, now);
                continue;
            }
            let Some(conn) = self.conns.get_id(entry.key, entry.id) else { continue };
            if conn.timer_at != Some(entry.at) {
                continue; // stale
            }
            conn.timer_at = None;
            let verdict = self.on_timer(entry.key, now);
            self.apply(entry.key, verdict, now);
        }
    }

    /// What connection `key`'s timer means now.
    fn on_timer(&mut self, key: usize, now: Instant) -> Verdict {
        let conn = &mut self.conns[key];
        match conn.on_timer(now, &self.policy.settings) {
            TimerVerdict::Idle => Verdict::Continue,
            TimerVerdict::Rearm(_) => {
                self.arm(key);
                Verdict::Continue
            }
            TimerVerdict::Ping(_) => {
                let mut ping = Vec::with_capacity(6);
                frames::encode_frame(&mut ping, frames::ping_opcode(), b"", conn.mask());
                self.arm(key);
                if self.conns.queue_control(key, Arc::from(ping)).is_err() {
                    self.observe.stats.slow_consumer_closes += 1;
                    let why = format!(
                        "slow consumer: more than {} bytes queued",
                        self.policy.limits.max_queued_bytes
                    );
                    let reason = CloseReason::new(frames::CLOSE_POLICY, why);
                    return Verdict::close(Some(reason), true);
                }
                Verdict::Continue
            }
            TimerVerdict::Close(reason) => {
                self.observe.stats.keepalive_closes += 1;
                log::info!("conn {} {}: {}", conn.id, conn.peer, reason.reason);
                Verdict::close(Some(reason), true)
            }
            TimerVerdict::Expired => {
                self.observe.stats.token_expiry_closes += 1;
                log::info!("conn {} {}: token expired", conn.id, conn.peer);
                let reason = CloseReason::new(frames::CLOSE_POLICY, "token expired");
                Verdict::close(Some(reason), true)
            }
            TimerVerdict::Drop => {
                if matches!(conn.state(), State::Http(_)) {
                    self.observe.stats.handshake_timeouts += 1;
                }
                Verdict::Drop
            }
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
