//! The public face of upstream connectors on the reactor: adding and removing them, their
//! counters, and the commands that reach them from other threads (handles, the resolver).

use std::time::Instant;

use super::handle::Command;
use super::Reactor;
use crate::connector::resolve::Resolver;
use crate::connector::{Connector, ConnectorState, ConnectorStats};
use crate::error::Error;

impl Reactor {
    /// Add an upstream connector ([`Connector::source`] or [`Connector::sink`]). Before the
    /// reactor runs it waits for the first loop iteration; afterwards it starts at once. Fails if
    /// the definition does not validate or the name is taken.
    pub fn add_connector(&mut self, connector: Connector) -> Result<(), Error> {
        let prepared = connector.prepare().map_err(Error::Connector)?;
        if prepared.url.ip.is_none() && self.started {
            self.ensure_resolver();
        }
        self.core.add_connector(prepared, Instant::now()).map_err(Error::Connector)
    }

    /// Remove a connector by name: it stops reconnecting; an open connection sends what is
    /// buffered and closes with `1000`. False if there is no such connector.
    pub fn remove_connector(&mut self, name: &str) -> bool {
        self.core.remove_connector(name, Instant::now())
    }

    /// Counters and state of every connector (other threads: [`crate::Handle::stats`]).
    pub fn connectors(&self) -> Vec<ConnectorStats> {
        self.core.connectors.stats()
    }

    /// The state of every connector, by name: what a readiness check needs, without copying
    /// the counters.
    pub fn connector_states(&self) -> impl Iterator<Item = (&str, ConnectorState)> {
        self.core.connectors.states()
    }

    /// Start the connectors at the first loop iteration.
    pub(super) fn start_connectors(&mut self) {
        if self.core.connectors.live.iter().any(|(_, l)| l.url.ip.is_none()) {
            self.ensure_resolver();
        }
        self.core.start_connectors(Instant::now());
    }

    fn ensure_resolver(&mut self) {
        if self.core.connectors.resolver.is_some() {
            return;
        }
        match Resolver::start(self.handle.clone()) {
            Ok(r) => self.core.connectors.resolver = Some(r),
            Err(e) => log::error!("cannot start the name resolver thread: {e}"),
        }
    }

    pub(super) fn connector_command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::AddConnector(c, reply) => {
                if c.url.ip.is_none() {
                    self.ensure_resolver();
                }
                let _ = reply.try_send(self.core.add_connector(*c, now));
            }
            Command::RemoveConnector(name, reply) => {
                let _ = reply.try_send(self.core.remove_connector(&name, now));
            }
            Command::Resolved(r) => self.core.on_resolved(r, now),
            Command::Publish { .. } | Command::Stats(_) => {}
        }
    }
}
