//! The loop's side of a connection's life: carrying out handlers' verdicts, starting a close,
//! retiring what an open connection was registered as, and freeing a slot — the one place a
//! connection is deregistered and removed from the table.

use std::time::Instant;

use super::Reactor;
use crate::conn::frames::{CloseReason, CLOSE_POLICY};
use crate::conn::{Conn, Role, Side, State, Verdict};
use crate::deflate::Receive;
use crate::route::{Batch, Outlets, Router};
use crate::topic::TopicId;

impl Reactor {
    /// Carry out a handler's verdict on connection `key`.
    pub(super) fn apply(&mut self, key: usize, verdict: Verdict, now: Instant) {
        match verdict {
            Verdict::Continue => {}
            Verdict::Close(c) => self.close(key, c.reason.as_ref(), c.discard, now),
            Verdict::Drop => self.free(key, now),
        }
    }

    /// Start the close handshake of an open connection (no-op in other states): it leaves its
    /// topics at once, sends its close frame, and lingers for the peer's answer.
    pub(super) fn close(
        &mut self,
        key: usize,
        reason: Option<&CloseReason>,
        discard: bool,
        now: Instant,
    ) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if !matches!(conn.state(), State::Open(_)) {
            return;
        }
        if matches!(conn.side, Side::Client(_)) {
            // What the connector still holds goes out before the close frame.
            self.upstream_closing(key, reason, now);
        }
        let conn = &mut self.conns[key];
        let publisher = conn.publisher_id();
        let deflate = negotiated(conn.state());
        if let Some(role) = conn.begin_close(reason, discard, now, &self.policy.settings) {
            self.observe.stats.compression.connections -= u64::from(deflate);
            self.retire(role, publisher);
        }
        self.conns.mark_dirty(key);
        self.arm(key);
    }

    /// An open connection stops being what it was registered as: a publisher, a subscriber, a
    /// dashboard feed.
    fn retire(&mut self, role: Role, publisher: u64) {
        match role {
            Role::Publish(topic) => self.router.leave_publisher(topic, publisher),
            Role::Subscribe(subs) => {
                for &(topic, slot) in subs.list.iter() {
                    self.router.unsubscribe(topic, slot);
                }
            }
            Role::Feed(slot) => {
                self.observe.feed.try_remove(slot);
            }
            Role::Echo | Role::Upstream(_) => {}
        }
    }

    /// Deregister and free a connection: the only place a slot is emptied.
    pub(super) fn free(&mut self, key: usize, now: Instant) {
        let Some(mut conn) = self.conns.remove(key) else { return };
        let _ = self.registry.deregister(conn.stream.tcp());
        let publisher = conn.publisher_id();
        let mut state = conn.set_state(State::Closing { deadline: now });
        self.observe.stats.compression.connections -= u64::from(negotiated(&state));
        if let State::Open(open) = &mut state {
            self.retire(std::mem::replace(&mut open.role, Role::Echo), publisher);
        }
        match std::mem::replace(&mut conn.side, Side::Accepted) {
            // Only accepted connections were admitted (counted per client IP).
            Side::Accepted => self.policy.admission.release(conn.peer.ip()),
            Side::Client(client) => self.upstream_dropped(conn.id, &state, *client, now),
        }
    }

    /// Register a new connection's slot and arm its first deadline.
    pub(super) fn insert(&mut self, conn: Conn) -> usize {
        let key = self.conns.insert(conn);
        self.arm(key);
        key
    }

    /// Make sure a timer is armed no later than the connection's next deadline. An earlier armed
    /// timer is kept: when it fires, the connection re-arms for its real deadline.
    pub(super) fn arm(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        let Some(at) = conn.next_deadline(&self.policy.settings) else { return };
        if conn.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        conn.timer_at = Some(at);
        self.timers.arm(at, key, conn.id);
    }

    /// Lend the router the connections and connectors for one call, then apply the
    /// slow-consumer policy to the subscribers it found over their bound.
    pub(super) fn route<R>(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut Router, &mut Batch, &mut Outlets<'_>) -> R,
    ) -> R {
        let mut out = Outlets {
            conns: &mut self.conns,
            connectors: &mut self.connectors,
            slow: &mut self.scratch.slow,
            stamp_ns: self.observe.metrics.stamp(),
            now,
        };
        let result = f(&mut self.router, &mut self.scratch.batch, &mut out);
        self.close_slow(now);
        result
    }

    /// Publish the scratch batch (the messages just parsed) to `topic` from `publisher`.
    pub(super) fn publish_batch(&mut self, topic: TopicId, publisher: u64, now: Instant) {
        self.route(now, |router, batch, out| router.publish(topic, batch, publisher, out));
    }

    /// Publish one message to a topic by name (handles, status events); its offset goes to
    /// `reply`.
    pub(super) fn publish_named(
        &mut self,
        topic: &str,
        text: bool,
        payload: &[u8],
        reply: Option<crossbeam_channel::Sender<u64>>,
        now: Instant,
    ) {
        self.route(now, |router, _, out| {
            // Handle publishes and status events count as one publisher (id 0).
            router.publish_named(topic, text, payload, 0, reply, out);
            router.flush_pipelines(out);
        })
    }

    /// Hand the batches routed to pipelines over to the workers (after each read).
    pub(super) fn flush_pipelines(&mut self, now: Instant) {
        if self.router.pool.is_some() {
            self.route(now, |router, _, out| router.flush_pipelines(out));
        }
    }

    /// Fan out the workers' results (bounded per iteration).
    pub(super) fn drain_results(&mut self, now: Instant) {
        self.pending.results_more = self.route(now, |router, _, out| router.drain_results(out));
    }

    /// The slow-consumer policy: a subscriber whose queue could not take a batch is closed with
    /// `1008`, its unsent messages discarded.
    pub(super) fn close_slow(&mut self, now: Instant) {
        while let Some(key) = self.scratch.slow.pop() {
            let Some(conn) = self.conns.get(key) else { continue };
            if !matches!(conn.state(), State::Open(_)) {
                continue;
            }
            self.observe.stats.slow_consumer_closes += 1;
            let bound = self.policy.limits.max_queued_bytes;
            log::warn!(
                "conn {} {}: slow consumer closed (1008): {} bytes queued, bound {bound}",
                conn.id,
                conn.peer,
                conn.out.queued(),
            );
            let why = format!("slow consumer: more than {bound} bytes queued");
            self.close(key, Some(&CloseReason::new(CLOSE_POLICY, why)), true, now);
        }
    }
}

/// An open connection with permessage-deflate negotiated (counted in
/// `sluice_deflate_connections` until it leaves `Open`).
fn negotiated(state: &State) -> bool {
    matches!(state, State::Open(open) if open.reader.receive() != Receive::Off)
}
