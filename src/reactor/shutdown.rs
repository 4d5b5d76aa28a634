//! The graceful stop: stop accepting, deliver the commands queued at that instant, stop the
//! connectors (open sinks send what they hold), close every client with `1001`, flush within
//! `shutdown_timeout`, then free what is left and stop the workers.

use std::io::Read;
use std::time::Instant;

use super::{Phase, Reactor};
use crate::conn::frames::{CloseReason, CLOSE_AWAY};
use crate::conn::{State, Verdict};

impl Reactor {
    /// Stop accepting, deliver pending commands, close every client with `1001`.
    pub(super) fn begin_shutdown(&mut self, now: Instant) {
        log::info!("stopping: closing {} connections", self.conns.len());
        self.observe.listening = false;
        if let Some(mut listener) = self.listener.take() {
            let _ = self.registry.deregister(&mut listener);
        }
        self.pending.accept_more = false;
        // Deliver what was sent before the stop; a producer that keeps sending cannot hold the
        // stop back, because only the commands queued at this instant are taken.
        let queued = self.control.commands.len();
        self.control.wake.clear();
        for _ in 0..queued {
            let Ok(cmd) = self.control.commands.try_recv() else { break };
            self.run_command(cmd, now);
        }
        self.flush_pipelines(now);
        self.pending.commands_more = false;
        self.stop_connectors(now);
        let reason = CloseReason::new(CLOSE_AWAY, "server shutting down");
        for key in self.conns.keys() {
            let verdict = match self.conns[key].state() {
                State::Http(_) | State::Connecting { .. } | State::Handshaking(_) => Verdict::Drop,
                State::Open(_) => Verdict::close(Some(reason.clone()), false),
                State::Closing { .. } | State::Linger { .. } => Verdict::Continue,
            };
            self.apply(key, verdict, now);
        }
        let until = now + self.policy.limits.shutdown_timeout;
        self.control.phase = Phase::Draining { until };
    }

    /// Done draining: nothing is left to send (every connection is gone or lingering).
    pub(super) fn drained(&self) -> bool {
        // In a cluster, what was published here waits for its acknowledgement too (while the
        // connection is up; the drain's deadline bounds the wait).
        let cluster_done =
            self.router.cluster.as_deref().is_none_or(|c| !c.is_ready() || c.inflight.len() == 0);
        cluster_done && self.conns.iter().all(|(_, c)| matches!(c.state(), State::Linger { .. }))
    }

    pub(super) fn finish_shutdown(&mut self) {
        let now = self.control.clock.instant();
        for key in self.conns.keys() {
            // Consume what the peer sent (its close reply) so closing sends FIN, not a RST
            // that could make the peer's kernel discard our close frame before it is read.
            let stream = &mut self.conns[key].stream;
            while matches!(stream.read(&mut self.scratch.read), Ok(n) if n > 0) {}
            self.free(key, now);
        }
        if let Some(mut pool) = self.router.pool.take() {
            pool.shutdown();
        }
        self.control.phase = Phase::Stopped;
        self.control.wake.set_stopped();
        let s = self.snapshot();
        log::info!(
            "stopped after {:.1}s: {} connections accepted, {} messages in, {} out, {} dropped, {} slow-consumer closes",
            s.uptime.as_secs_f64(),
            s.connections_accepted,
            s.messages_in,
            s.messages_out,
            s.drops.total(),
            s.slow_consumer_closes
        );
    }
}
