//! The reactor's side of upstream connectors: adding and removing them, starting attempts
//! (resolving, the non-blocking connect), and deciding what an ended connection means for its
//! connector (retry the next address, back off, reconnect). The connection's own I/O — the
//! handshake, its keepalive, writing the sink buffer — is in `io.rs`.
//!
//! Rules that keep this safe inside the loop:
//!
//! - An attempt is only ever started from a timer (`expire_timers`) or a command, never from
//!   inside the handler of another connection. Even "try the next address now" is a timer due
//!   now.
//! - A connector lets go of its connection as soon as it closes (`Reactor::close`) or is freed
//!   (`Reactor::free`); a closing connection finishes its close handshake on its own while the
//!   connector already waits to reconnect. Hooks check the connection id, so a late event from
//!   an old connection changes nothing.
//! - Only the connector's current, open connection writes its buffer. Control frames
//!   (pongs, pings, the close frame) and `subscribe` messages go through the connection's own
//!   queue, written between whole data frames: a data frame written in part is always finished
//!   first, so frames never interleave.

mod io;

pub(super) use io::flush_upstream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::Interest;

use super::timers::CONNECTOR_TIMER;
use super::token::conn_token;
use super::Reactor;
use crate::conn::client::Client;
use crate::conn::frames::{self, CloseReason};
use crate::conn::{Conn, State};
use crate::connector::resolve::{Request, Resolved};
use crate::connector::status::{self, StatusEvent};
use crate::connector::table::{Live, SOURCE_PUBLISHERS};
use crate::connector::{ConnectorError, ConnectorState, Prepared};

impl Reactor {
    /// Add a prepared connector; it starts at once if the reactor has started.
    pub(super) fn add_prepared(
        &mut self,
        prepared: Prepared,
        now: Instant,
    ) -> Result<(), ConnectorError> {
        let Prepared { spec, url, tls } = prepared;
        if self.connectors.find(&spec.name).is_some() {
            return Err(ConnectorError {
                connector: spec.name.clone(),
                key: "name".into(),
                message: "another connector has this name".into(),
            });
        }
        let uid = self.connectors.next_uid();
        let idx = self.connectors.live.vacant_key();
        let mut live = Live::new(spec, url, tls, uid);
        if let Some(t) = live.spec.publish_to() {
            live.publish_to = Some(self.router.join_publisher(t));
        }
        if let Some(t) = live.spec.sends_from() {
            let id = self.router.intern(t);
            self.router.topics.add_sink(id, idx);
            live.send_from = Some(id);
        }
        self.connectors.live.insert(live);
        if self.connectors.started && !self.connectors.stopping {
            self.arm_connector(idx, now);
        }
        Ok(())
    }

    /// Start every connector added before the reactor started.
    pub(super) fn start_connectors(&mut self, now: Instant) {
        self.connectors.started = true;
        let idle: Vec<usize> = self
            .connectors
            .live
            .iter()
            .filter(|(_, l)| l.state == ConnectorState::Idle)
            .map(|(i, _)| i)
            .collect();
        for idx in idle {
            self.arm_connector(idx, now);
        }
    }

    /// Remove a connector by name (see [`crate::Handle::remove_connector`]).
    pub(super) fn remove_named(&mut self, name: &str, now: Instant) -> bool {
        let Some(idx) = self.connectors.find(name) else { return false };
        self.retire_connector(idx, frames::CLOSE_NORMAL, "connector removed", now);
        let live = self.connectors.live.remove(idx);
        if let Some(t) = live.publish_to {
            self.router.leave_publisher(t, SOURCE_PUBLISHERS | live.uid);
        }
        if let Some(t) = live.send_from {
            self.router.topics.remove_sink(t, idx);
        }
        log::info!("connector `{}`: removed", live.spec.name);
        true
    }

    /// The relay is stopping: every connector stops; open sinks send what they hold first.
    pub(super) fn stop_connectors(&mut self, now: Instant) {
        self.connectors.stopping = true;
        let all: Vec<usize> = self.connectors.live.iter().map(|(i, _)| i).collect();
        for idx in all {
            self.retire_connector(idx, frames::CLOSE_AWAY, "relay stopping", now);
        }
    }

    /// Stop one connector: no more attempts; an open connection is handed the whole buffer and
    /// closed after it; a `stopped` event is published.
    fn retire_connector(&mut self, idx: usize, code: u16, why: &str, now: Instant) {
        let live = &mut self.connectors.live[idx];
        live.state = ConnectorState::Stopped;
        live.timer_at = None;
        if let Some((key, id)) = live.conn.take() {
            match self.conns.get_id(key, id) {
                Some(conn) if matches!(conn.state(), State::Open(_)) => {
                    if let Some(ring) = &mut live.ring {
                        if ring.partial().is_some() {
                            conn.out.discard_unstarted();
                        }
                        let (bytes, (msgs, sent)) = ring.take_all();
                        live.stats.messages_out += msgs;
                        live.stats.bytes_out += sent;
                        conn.out.push_essential(Arc::from(bytes), false);
                    }
                    self.close(key, Some(&CloseReason::new(code, why)), false, now);
                }
                Some(_) => self.free(key, now),
                None => {}
            }
        }
        let live = &mut self.connectors.live[idx];
        if let Some(ring) = &mut live.ring {
            let left = ring.messages() as u64;
            if left > 0 {
                live.stats.dropped_at_stop += left;
                log::warn!(
                    "connector `{}`: {left} buffered messages not delivered ({why})",
                    live.spec.name
                );
                let _ = ring.take_all();
            }
        }
        self.publish_status(idx, StatusEvent::Stopped, now);
    }

    fn arm_connector(&mut self, idx: usize, at: Instant) {
        let live = &mut self.connectors.live[idx];
        live.timer_at = Some(at);
        self.timers.arm(at, CONNECTOR_TIMER | idx, live.uid);
    }

    /// A connector's timer fired: start an attempt, or give up on a name resolution.
    pub(super) fn connector_timer(&mut self, idx: usize, uid: u64, at: Instant, now: Instant) {
        let Some(live) = self.connectors.get_mut(idx, uid) else { return };
        if live.timer_at != Some(at) {
            return; // stale
        }
        live.timer_at = None;
        match live.state {
            ConnectorState::Idle => self.begin_attempt(idx, now),
            ConnectorState::Backoff => {
                live.stats.reconnect_attempts += 1;
                self.begin_attempt(idx, now);
            }
            ConnectorState::Resolving => {
                let why = format!(
                    "name resolution of `{}` timed out after {:?}",
                    live.url.host, live.spec.connect_timeout
                );
                self.attempt_failed(idx, why, now);
            }
            ConnectorState::Connecting if live.conn.is_none() => self.connect_next(idx, now),
            _ => {}
        }
    }

    fn begin_attempt(&mut self, idx: usize, now: Instant) {
        let live = &mut self.connectors.live[idx];
        live.attempts += 1;
        live.generation += 1;
        live.addrs.clear();
        live.next_addr = 0;
        if let Some(addr) = live.url.socket_addr() {
            live.addrs.push(addr);
            live.state = ConnectorState::Connecting;
            return self.connect_next(idx, now);
        }
        live.state = ConnectorState::Resolving;
        let req = Request {
            connector: idx,
            uid: live.uid,
            generation: live.generation,
            host: live.url.host.clone(),
            port: live.url.port,
        };
        let deadline = now + live.spec.connect_timeout;
        if !self.connectors.resolver.as_ref().is_some_and(|r| r.request(req)) {
            return self.attempt_failed(idx, "the name resolver is not available".into(), now);
        }
        self.arm_connector(idx, deadline);
    }

    /// The resolver answered.
    pub(super) fn on_resolved(&mut self, r: Resolved, now: Instant) {
        let Some(live) = self.connectors.get_mut(r.connector, r.uid) else { return };
        if live.state != ConnectorState::Resolving || live.generation != r.generation {
            return; // an abandoned attempt
        }
        live.timer_at = None;
        match r.result {
            Ok(addrs) => {
                live.addrs = addrs;
                live.state = ConnectorState::Connecting;
                self.connect_next(r.connector, now);
            }
            Err(why) => self.attempt_failed(r.connector, why, now),
        }
    }

    /// Connect to the next address of the attempt (or fail the attempt if none is left).
    fn connect_next(&mut self, idx: usize, now: Instant) {
        let mut why = String::from("no address to connect to");
        loop {
            let live = &mut self.connectors.live[idx];
            let Some(&addr) = live.addrs.get(live.next_addr) else { break };
            live.next_addr += 1;
            let mut stream = match TcpStream::connect(addr).and_then(|s| io::transport(live, s)) {
                Ok(s) => s,
                Err(e) => {
                    why = format!("connect to {addr}: {e}");
                    continue;
                }
            };
            let key = self.conns.vacant_key();
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) = self.registry.register(stream.tcp(), conn_token(key), interest) {
                why = format!("cannot register a connection to {addr}: {e}");
                continue;
            }
            let id = self.connectors.next_conn_id();
            let live = &mut self.connectors.live[idx];
            let spec = &live.spec;
            let client = Client {
                connector: idx,
                uid: live.uid,
                publish_to: live.publish_to,
                publisher: SOURCE_PUBLISHERS | live.uid,
                subprotocol: spec.subprotocol.as_deref().map(Into::into),
                compression: spec.compression,
                connect_timeout: spec.connect_timeout,
                ping_interval: spec.ping_interval,
                stall_timeout: spec.stall_timeout,
                reason: None,
                stalled: false,
            };
            live.conn = Some((key, id));
            live.state = ConnectorState::Connecting;
            log::debug!("connector `{}`: connecting to {addr}", spec.name);
            let conn = Conn::dialing(stream, addr, id, now, client, &self.policy.settings);
            self.insert(conn);
            return;
        }
        self.attempt_failed(idx, why, now);
    }

    fn attempt_failed(&mut self, idx: usize, why: String, now: Instant) {
        let live = &mut self.connectors.live[idx];
        live.failed(&why);
        let attempt = live.attempts;
        let delay = self.retry_later(idx, now);
        let live = &self.connectors.live[idx];
        log::warn!(
            "connector `{}`: attempt {attempt} to {} failed: {why}; retrying in {delay:?}",
            live.spec.name,
            live.spec.url
        );
        let retry_in_ms = delay.as_millis() as u64;
        self.publish_status(
            idx,
            StatusEvent::ConnectFailed { reason: &why, attempt, retry_in_ms },
            now,
        );
    }

    fn disconnected(&mut self, idx: usize, why: String, now: Instant) {
        self.connectors.live[idx].lost(&why, now);
        let delay = self.retry_later(idx, now);
        let live = &self.connectors.live[idx];
        log::warn!(
            "connector `{}`: disconnected from {}: {why}; reconnecting in {delay:?}",
            live.spec.name,
            live.spec.url
        );
        let retry_in_ms = delay.as_millis() as u64;
        self.publish_status(idx, StatusEvent::Disconnected { reason: &why, retry_in_ms }, now);
    }

    /// After a failure has been counted: arm the next attempt after the backoff delay, and
    /// return the delay.
    fn retry_later(&mut self, idx: usize, now: Instant) -> Duration {
        let delay = self.connectors.live[idx].next_delay();
        self.arm_connector(idx, now + delay);
        delay
    }

    /// Publish a connector's status event (a text message, like any other publish).
    fn publish_status(&mut self, idx: usize, event: StatusEvent<'_>, now: Instant) {
        let live = &self.connectors.live[idx];
        let json = status::encode(&live.subject(), &event, status::now_ms());
        let topic = live.status_topic.clone();
        self.publish_named(&topic, true, json.as_bytes(), None, now);
    }
}
