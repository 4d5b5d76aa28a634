//! The reactor's side of upstream connectors: starting attempts, the non-blocking connect, the
//! client handshake, feeding sinks' buffers from topics, writing them out, and deciding what an
//! ended connection means for its connector (retry the next address, back off, reconnect).
//!
//! Rules that keep this safe inside the loop:
//!
//! - An attempt is only ever started from a timer (`expire_timers`) or a command, never from
//!   inside the handler of another connection: a freed slab slot is never refilled while the
//!   read loop may still look at it. Even "try the next address now" is a timer due now.
//! - A connector lets go of its connection as soon as it closes (`Core::close`) or is freed
//!   (`Core::drop_conn`); a closing connection finishes its close handshake on its own while the
//!   connector already waits to reconnect. Hooks check the connection id, so a late event from
//!   an old connection changes nothing.
//! - Only the connector's current, open connection writes its buffer. Control frames
//!   (pongs, pings, the close frame) and `subscribe` messages go through the connection's own
//!   queue, written between whole data frames: a data frame written in part is always finished
//!   first, so frames never interleave.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::Interest;

use super::core::{arm, mark_dirty, Core};
use super::pipes::next_frame;
use super::token::conn_token;
use crate::conn::client::Client;
use crate::conn::frames::{self, CloseReason};
use crate::conn::out::{Flushed, Stamp};
use crate::conn::transport::Transport;
use crate::conn::{Conn, State};
use crate::connector::handshake;
use crate::connector::resolve::{Request, Resolved};
use crate::connector::status::{self, StatusEvent};
use crate::connector::table::{Live, SOURCE_PUBLISHERS};
use crate::connector::{ConnectorError, ConnectorState, Prepared};
use crate::topic::TopicId;

/// Timer keys with this bit set belong to connectors (slab index in the other bits).
pub(crate) const CONNECTOR_TIMER: usize = 1 << (usize::BITS - 1);

impl Core {
    /// Add a connector; it starts at once if the reactor has started.
    pub(crate) fn add_connector(
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
            let id = self.topics.intern(t, &mut self.metrics.topics);
            self.topics.add_publisher(id);
            live.publish_to = Some(id);
        }
        if let Some(t) = live.spec.sends_from() {
            let id = self.topics.intern(t, &mut self.metrics.topics);
            self.topics.add_sink(id, idx);
            live.send_from = Some(id);
        }
        self.connectors.live.insert(live);
        if self.connectors.started && !self.connectors.stopping {
            self.arm_connector(idx, now);
        }
        Ok(())
    }

    /// Start every connector added before the reactor started.
    pub(crate) fn start_connectors(&mut self, now: Instant) {
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
    pub(crate) fn remove_connector(&mut self, name: &str, now: Instant) -> bool {
        let Some(idx) = self.connectors.find(name) else { return false };
        self.retire(idx, frames::CLOSE_NORMAL, "connector removed", now);
        let live = self.connectors.live.remove(idx);
        if let Some(t) = live.publish_to {
            self.topics.remove_publisher(t);
        }
        if let Some(t) = live.send_from {
            self.topics.remove_sink(t, idx);
        }
        log::info!("connector `{}`: removed", live.spec.name);
        true
    }

    /// The relay is stopping: every connector stops; open sinks send what they hold first.
    pub(crate) fn stop_connectors(&mut self, now: Instant) {
        self.connectors.stopping = true;
        let all: Vec<usize> = self.connectors.live.iter().map(|(i, _)| i).collect();
        for idx in all {
            self.retire(idx, frames::CLOSE_AWAY, "relay stopping", now);
        }
    }

    /// Stop one connector: no more attempts; an open connection is handed the whole buffer and
    /// closed after it; a `stopped` event is published.
    fn retire(&mut self, idx: usize, code: u16, why: &str, now: Instant) {
        let live = &mut self.connectors.live[idx];
        live.state = ConnectorState::Stopped;
        live.timer_at = None;
        if let Some((key, id)) = live.conn.take() {
            match self.conns.get_mut(key).filter(|c| c.id == id) {
                Some(conn) if conn.state() == State::Open => {
                    if let Some(ring) = &mut live.ring {
                        if ring.partial().is_some() {
                            conn.out.discard_unstarted();
                        }
                        let (bytes, (msgs, sent)) = ring.take_all();
                        live.stats.messages_out += msgs;
                        live.stats.bytes_out += sent;
                        conn.out.push(Arc::from(bytes));
                    }
                    self.close(key, Some(&CloseReason::new(code, why)), false, now);
                }
                Some(_) => self.drop_conn(key),
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
    pub(crate) fn on_resolved(&mut self, r: Resolved, now: Instant) {
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
            let stream = match TcpStream::connect(addr).and_then(|s| transport(live, s)) {
                Ok(s) => s,
                Err(e) => {
                    why = format!("connect to {addr}: {e}");
                    continue;
                }
            };
            let mut stream = stream;
            let key = self.conns.vacant_key();
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) = self.registry().register(stream.tcp(), conn_token(key), interest) {
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
                accept: String::new(),
                subprotocol: spec.subprotocol.as_deref().map(Into::into),
                connect_timeout: spec.connect_timeout,
                ping_interval: spec.ping_interval,
                stall_timeout: spec.stall_timeout,
                reason: None,
                stalled: false,
            };
            live.conn = Some((key, id));
            live.state = ConnectorState::Connecting;
            log::debug!("connector `{}`: connecting to {addr}", spec.name);
            self.insert(Conn::client(stream, addr, id, now, client));
            return;
        }
        self.attempt_failed(idx, why, now);
    }

    /// A writable event on a client connection: the end of a non-blocking connect, or room to
    /// write.
    pub(super) fn upstream_writable(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        if conn.state() != State::Connecting {
            mark_dirty(&mut self.dirty, key, conn);
            return;
        }
        let failed = match conn.stream.tcp().take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match conn.stream.tcp().peer_addr() {
                Ok(_) => None,
                // A spurious wake-up: the connect is still in progress.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => Some(e),
            },
        };
        if let Some(e) = failed {
            conn.note(format!("connect to {}: {e}", conn.peer));
            return self.drop_conn(key);
        }
        let _ = conn.stream.tcp().set_nodelay(true);
        let Some((idx, uid)) = conn.client.as_deref().map(|c| (c.connector, c.uid)) else { return };
        let Some(live) = self.connectors.get_mut(idx, uid) else { return };
        let ws_key = tungstenite::handshake::client::generate_key();
        let spec = &live.spec;
        let request =
            handshake::request(&live.url, &ws_key, spec.subprotocol.as_deref(), &spec.headers);
        if let Some(client) = conn.client.as_deref_mut() {
            client.accept = tungstenite::handshake::derive_accept_key(ws_key.as_bytes());
        }
        conn.out.push(Arc::from(request));
        conn.set_state(State::Handshaking);
        live.state = ConnectorState::Handshaking;
        mark_dirty(&mut self.dirty, key, conn);
    }

    /// Bytes from a client connection before its upgrade is complete: the response head.
    pub(super) fn on_response(&mut self, key: usize, data: &mut [u8], now: Instant) -> usize {
        let conn = &mut self.conns[key];
        if conn.state() == State::Connecting {
            conn.note("the upstream sent data before the upgrade request");
            self.drop_conn(key);
            return data.len();
        }
        let Some(client) = conn.client.as_deref() else { return data.len() };
        let limits = &self.limits;
        match handshake::check_response(
            data,
            &client.accept,
            client.subprotocol.as_deref(),
            limits.max_headers,
            limits.max_header_bytes,
        ) {
            Ok(None) => 0,
            Ok(Some(len)) => {
                self.upstream_open(key, now);
                len + self.on_frames(key, &mut data[len..], now)
            }
            Err(e) => {
                conn.note(e.to_string());
                self.drop_conn(key);
                data.len()
            }
        }
    }

    fn upstream_open(&mut self, key: usize, now: Instant) {
        let conn = &mut self.conns[key];
        conn.set_state(State::Open);
        conn.last_rx = now;
        conn.ping_sent = None;
        let Some((idx, uid)) = conn.client.as_deref().map(|c| (c.connector, c.uid)) else { return };
        let Some(live) = self.connectors.get_mut(idx, uid) else { return };
        live.state = ConnectorState::Open;
        live.opened_at = Some(now);
        live.stats.connects += 1;
        for m in &live.spec.subscribe {
            let mut frame = Vec::with_capacity(m.len() + 14);
            frames::encode_frame(&mut frame, frames::data_opcode(true), m.as_bytes(), conn.mask());
            conn.out.push(Arc::from(frame));
        }
        let attempt = live.attempts;
        let down_ms = live.down_since.take().map(|t| now.duration_since(t).as_millis() as u64);
        log::info!(
            "connector `{}`: connected to {} ({}attempt {attempt})",
            live.spec.name,
            live.spec.url,
            if down_ms.is_some() { "reconnected, " } else { "" }
        );
        mark_dirty(&mut self.dirty, key, conn);
        arm(&mut self.timers, key, conn, &self.limits);
        self.publish_status(idx, StatusEvent::Connected { attempt, down_ms }, now);
    }

    /// An open client connection starts closing (either side): the connector lets go of it and
    /// waits to reconnect. Messages queued before the close go out before the close frame, in
    /// order, as an echo would; a stalled connection only finishes a frame written in part, and
    /// leaves the rest for the next connection.
    pub(super) fn upstream_closing(
        &mut self,
        key: usize,
        reason: Option<&CloseReason>,
        now: Instant,
    ) {
        let conn = &mut self.conns[key];
        let Some(client) = conn.client.as_deref() else { return };
        let idx = client.connector;
        let stalled = client.stalled;
        let why = client.reason.clone().unwrap_or_else(|| match reason {
            Some(r) => format!("closed with {} ({})", r.code, r.reason),
            None => "closed".into(),
        });
        let Some(live) = self.connectors.get_mut(idx, client.uid) else { return };
        if !live.is_current(conn.id) {
            return;
        }
        if let Some(ring) = &mut live.ring {
            if ring.partial().is_some() {
                conn.out.discard_unstarted();
            }
            let (rest, (msgs, bytes)) = match stalled {
                true => ring.take_partial().map_or((Vec::new(), (0, 0)), |(r, b)| (r, (1, b))),
                false => ring.take_all(),
            };
            conn.out.push(Arc::from(rest));
            live.stats.messages_out += msgs;
            live.stats.bytes_out += bytes;
        }
        self.disconnected(idx, why, now);
    }

    /// A client connection was freed: try the next address, or count a failed attempt or a
    /// lost connection.
    pub(super) fn upstream_dropped(&mut self, conn: Conn) {
        let state = conn.state();
        let Some(client) = conn.client else { return };
        let idx = client.connector;
        let Some(live) = self.connectors.get_mut(idx, client.uid) else { return };
        if !live.is_current(conn.id) {
            return;
        }
        live.conn = None;
        let now = Instant::now();
        match state {
            State::Connecting if live.next_addr < live.addrs.len() => {
                let why = client.reason.unwrap_or_else(|| "connect failed".into());
                log::debug!("connector `{}`: {why}; trying the next address", live.spec.name);
                live.stats.last_error = Some(why);
                self.arm_connector(idx, now);
            }
            State::Connecting => {
                let why = client.reason.unwrap_or_else(|| "connect failed".into());
                self.attempt_failed(idx, why, now);
            }
            State::Handshaking => {
                let why = client.reason.unwrap_or_else(|| {
                    "the upstream closed the connection during the handshake".into()
                });
                self.attempt_failed(idx, why, now);
            }
            _ => {
                let why = client.reason.unwrap_or_else(|| "connection lost".into());
                self.disconnected(idx, why, now);
            }
        }
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
        // Never mix with a batch being built (defensive: callers run between batches).
        let saved = (!self.batch.is_empty()).then(|| {
            let s = (std::mem::take(&mut self.batch), self.batch_msgs, self.batch_payload);
            self.batch_msgs = 0;
            self.batch_payload = 0;
            s
        });
        self.publish(&topic, true, json.as_bytes(), now);
        self.flush_pipelines(now);
        if let Some((batch, msgs, payload)) = saved {
            (self.batch, self.batch_msgs, self.batch_payload) = (batch, msgs, payload);
        }
    }

    /// Messages received from an upstream (counted per connector).
    pub(super) fn count_upstream_in(&mut self, key: usize, msgs: u64, bytes: u64) {
        let Some(c) = self.conns[key].client.as_deref() else { return };
        if let Some(live) = self.connectors.get_mut(c.connector, c.uid) {
            live.stats.messages_in += msgs;
            live.stats.bytes_in += bytes;
        }
    }

    /// Queue the messages of the current batch (frames the reactor encoded for `topic`) into the
    /// buffer of every connector that sends this topic upstream: one masked frame each.
    pub(super) fn feed_sinks(&mut self, topic: TopicId) {
        let Core { topics, connectors, batch, conns, dirty, .. } = self;
        for &idx in &topics.get(topic).sinks {
            let Some(live) = connectors.live.get_mut(idx) else { continue };
            let Some(ring) = &mut live.ring else { continue };
            let mut rest = &batch[..];
            while let Some((text, payload, after)) = next_frame(rest) {
                ring.push(text, payload, rand::random());
                rest = after;
            }
            if live.state != ConnectorState::Open {
                continue;
            }
            if let Some((key, id)) = live.conn {
                if let Some(conn) = conns.get_mut(key).filter(|c| c.id == id) {
                    mark_dirty(dirty, key, conn);
                }
            }
        }
    }
}

/// Flush a client connection: a data frame written in part first, then the connection's own
/// queue (request, control frames, `subscribe` messages, close), then the connector's buffer
/// (only for the connector's current, open connection).
pub(super) fn flush_upstream(
    conn: &mut Conn,
    connectors: &mut crate::connector::table::Connectors,
    mut written: impl FnMut(Stamp),
) -> io::Result<Flushed> {
    let mut live = None;
    if conn.state() == State::Open {
        if let Some(c) = conn.client.as_deref() {
            live = connectors
                .get_mut(c.connector, c.uid)
                .filter(|l| l.is_current(conn.id) && l.ring.is_some());
        }
    }
    loop {
        if let Some(l) = live.as_deref_mut() {
            let ring = l.ring.as_mut().expect("checked");
            if let Some(rest) = ring.partial() {
                let Some(n) = write_some(&mut conn.stream, rest)? else {
                    return Ok(Flushed::WouldBlock);
                };
                let (msgs, bytes) = ring.advance(n);
                l.stats.messages_out += msgs;
                l.stats.bytes_out += bytes;
                continue;
            }
        }
        if conn.out.flush_to(&mut conn.stream, &mut written)? == Flushed::WouldBlock {
            return Ok(Flushed::WouldBlock);
        }
        let Some(l) = live.as_deref_mut() else { return Ok(Flushed::All) };
        let ring = l.ring.as_mut().expect("checked");
        if ring.is_empty() {
            return Ok(Flushed::All);
        }
        let Some(n) = write_some(&mut conn.stream, ring.unsent())? else {
            return Ok(Flushed::WouldBlock);
        };
        let (msgs, bytes) = ring.advance(n);
        l.stats.messages_out += msgs;
        l.stats.bytes_out += bytes;
    }
}

/// The stream of a new connection: plain TCP, or a TLS client verifying the URL's host.
fn transport(live: &Live, sock: TcpStream) -> io::Result<Transport> {
    let Some(config) = &live.tls else { return Ok(Transport::Plain(sock)) };
    let name = live.url.server_name().map_err(io::Error::other)?;
    Transport::tls_client(sock, config.clone(), name)
}

/// One `write`: `Some(n)` written, `None` on `WouldBlock`.
fn write_some<W: Write>(w: &mut W, buf: &[u8]) -> io::Result<Option<usize>> {
    loop {
        match w.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
