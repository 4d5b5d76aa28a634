//! Commands from other threads ([`crate::Handle`]s, the name resolver): drained once the waker
//! fires, at most [`COMMAND_BUDGET`] per loop iteration.

use std::time::Instant;

use super::{Reactor, COMMAND_BUDGET};
use crate::handle::Command;

impl Reactor {
    /// Take pending commands (within the budget) and run them.
    pub(super) fn drain_commands(&mut self, now: Instant) {
        self.control.wake.clear();
        self.pending.commands_more = false;
        for _ in 0..COMMAND_BUDGET {
            match self.control.commands.try_recv() {
                Ok(cmd) => self.run_command(cmd, now),
                Err(_) => {
                    self.flush_pipelines(now);
                    return;
                }
            }
        }
        self.flush_pipelines(now);
        self.pending.commands_more = true;
    }

    pub(super) fn run_command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::Publish { topic, message, offset } => {
                let (text, payload) = message.parts();
                // Handle publishes count as one publisher (id 0).
                let at = self.publish_named(&topic, text, payload, 0, now);
                if let Some(reply) = offset {
                    let _ = reply.try_send(at);
                }
            }
            Command::History { topic, from, max, reply } => {
                let _ = reply.try_send(self.router.history(&topic, from, max));
            }
            Command::Stats(reply) => {
                let _ = reply.try_send(self.snapshot());
            }
            Command::AddConnector(c, reply) => {
                if c.url.ip.is_none() {
                    self.ensure_resolver();
                }
                let _ = reply.try_send(self.add_prepared(*c, now));
            }
            Command::RemoveConnector(name, reply) => {
                let _ = reply.try_send(self.remove_named(&name, now));
            }
            Command::Resolved(r) => self.on_resolved(r, now),
        }
    }
}
