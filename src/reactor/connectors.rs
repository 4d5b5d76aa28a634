//! The public face of upstream connectors on the reactor: adding and removing them, their
//! counters, and the name resolver they share.

use super::Reactor;
use crate::connector::resolve::Resolver;
use crate::connector::{Connector, ConnectorState, ConnectorStats};
use crate::error::Error;
use crate::handle::{Command, HandleError};

impl Reactor {
    /// Add an upstream connector ([`Connector::source`] or [`Connector::sink`]). Before the
    /// reactor runs it waits for the first loop iteration; afterwards it starts at once. Fails if
    /// the definition does not validate or the name is taken.
    pub fn add_connector(&mut self, connector: Connector) -> Result<(), Error> {
        let prepared = connector.prepare().map_err(Error::Connector)?;
        if prepared.url.ip.is_none() && self.control.started {
            self.ensure_resolver();
        }
        let now = self.control.clock.instant();
        self.add_prepared(prepared, now).map_err(Error::Connector)
    }

    /// Remove a connector by name: it stops reconnecting; an open connection sends what is
    /// buffered and closes with `1000`. False if there is no such connector.
    pub fn remove_connector(&mut self, name: &str) -> bool {
        let now = self.control.clock.instant();
        self.remove_named(name, now)
    }

    /// Counters and state of every connector (other threads: [`crate::Handle::stats`]).
    pub fn connectors(&self) -> Vec<ConnectorStats> {
        self.connectors.stats()
    }

    /// The state of every connector, by name: what a readiness check needs, without copying
    /// the counters.
    pub fn connector_states(&self) -> impl Iterator<Item = (&str, ConnectorState)> {
        self.connectors.states()
    }

    /// Start the connectors at the first loop iteration.
    pub(super) fn start_connectors_now(&mut self) {
        if self.connectors.live.iter().any(|(_, l)| l.url.ip.is_none()) {
            self.ensure_resolver();
        }
        let now = self.control.clock.instant();
        self.start_connectors(now);
    }

    /// Start the resolver thread (once): its answers come back as commands.
    pub(super) fn ensure_resolver(&mut self) {
        if self.connectors.resolver.is_some() {
            return;
        }
        let handle = self.control.handle.clone();
        let answer = move |r| handle.command(Command::Resolved(r)) != Err(HandleError::Stopped);
        match Resolver::start(answer) {
            Ok(r) => self.connectors.resolver = Some(r),
            Err(e) => log::error!("cannot start the name resolver thread: {e}"),
        }
    }
}
