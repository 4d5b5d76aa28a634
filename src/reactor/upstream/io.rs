//! A connector's connection at work: the end of its non-blocking connect, the upgrade request
//! and response, its opening (`subscribe` messages), its closing (what the buffer still holds),
//! its end (what it means for the connector), and writing the sink buffer.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;

use super::super::Reactor;
use crate::conn::client::Client;
use crate::conn::frames::{self, CloseReason};
use crate::conn::out::{Flushed, Stamp};
use crate::conn::transport::Transport;
use crate::conn::{Conn, Role, Side, State, Verdict};
use crate::connector::handshake;
use crate::connector::status::StatusEvent;
use crate::connector::table::{Connectors, Live};
use crate::connector::ConnectorState;
use crate::deflate::Receive;
use crate::route::Loss;

impl Reactor {
    /// The first writable edge of a connecting client: check the connect, send the request.
    pub(in crate::reactor) fn upstream_connected(&mut self, key: usize) -> Verdict {
        let conn = &mut self.conns[key];
        let failed = match conn.stream.tcp().take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match conn.stream.tcp().peer_addr() {
                Ok(_) => None,
                // A spurious wake-up: the connect is still in progress.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Verdict::Continue,
                Err(e) => Some(e),
            },
        };
        if let Some(e) = failed {
            conn.note(format!("connect to {}: {e}", conn.peer));
            return Verdict::Drop;
        }
        let _ = conn.stream.tcp().set_nodelay(true);
        let Some((idx, uid)) = conn.client().map(|c| (c.connector, c.uid)) else {
            return Verdict::Drop;
        };
        let Some(live) = self.connectors.get_mut(idx, uid) else { return Verdict::Drop };
        let ws_key = tungstenite::handshake::client::generate_key();
        let spec = &live.spec;
        let request = handshake::request_offering(
            &live.url,
            &ws_key,
            spec.subprotocol.as_deref(),
            &spec.headers,
            spec.compression,
        );
        conn.out.push_essential(Arc::from(request), false);
        conn.connected(tungstenite::handshake::derive_accept_key(ws_key.as_bytes()));
        live.state = ConnectorState::Handshaking;
        self.conns.mark_dirty(key);
        Verdict::Continue
    }

    /// Bytes of a client connection before its upgrade is complete: the response head.
    pub(in crate::reactor) fn on_response(
        &mut self,
        key: usize,
        data: &mut [u8],
        now: Instant,
    ) -> (usize, Verdict) {
        let conn = &mut self.conns[key];
        let (State::Handshaking(h), Side::Client(client)) = (conn.state(), &conn.side) else {
            return (data.len(), Verdict::Drop);
        };
        let limits = &self.policy.limits;
        match handshake::check_response_with(
            data,
            &h.accept,
            client.subprotocol.as_deref(),
            client.compression,
            limits.max_headers,
            limits.max_header_bytes,
        ) {
            Ok(None) => (0, Verdict::Continue),
            Ok(Some(up)) => {
                self.upstream_open(key, now);
                if up.deflate != Receive::Off {
                    if let State::Open(open) = self.conns[key].state_mut() {
                        open.reader.set_receive(up.deflate);
                        let c = &mut self.observe.stats.compression;
                        c.negotiated += 1;
                        c.connections += 1;
                    }
                }
                let (consumed, verdict) = self.on_frames(key, &mut data[up.len..], now);
                (up.len + consumed, verdict)
            }
            Err(e) => {
                conn.note(e.to_string());
                (data.len(), Verdict::Drop)
            }
        }
    }

    fn upstream_open(&mut self, key: usize, now: Instant) {
        let conn = &mut self.conns[key];
        let Some((idx, uid, publish_to)) =
            conn.client().map(|c| (c.connector, c.uid, c.publish_to))
        else {
            return;
        };
        conn.upgrade(Role::Upstream(publish_to), now);
        let Some(live) = self.connectors.get_mut(idx, uid) else { return };
        live.state = ConnectorState::Open;
        live.opened_at = Some(now);
        live.stats.connects += 1;
        for m in &live.spec.subscribe {
            let mut frame = Vec::with_capacity(m.len() + 14);
            frames::encode_frame(&mut frame, frames::data_opcode(true), m.as_bytes(), conn.mask());
            conn.out.push_essential(Arc::from(frame), false);
        }
        let attempt = live.attempts;
        let down_ms = live.down_since.take().map(|t| now.duration_since(t).as_millis() as u64);
        log::info!(
            "connector `{}`: connected to {} ({}attempt {attempt})",
            live.spec.name,
            live.spec.url,
            if down_ms.is_some() { "reconnected, " } else { "" }
        );
        self.conns.mark_dirty(key);
        self.arm(key);
        self.publish_status(idx, StatusEvent::Connected { attempt, down_ms }, now);
        if let (Some(_), Some(topic)) = (down_ms, publish_to) {
            // What the upstream sent while the connection was down is lost: the topic says so.
            self.route(now, |router, _, out| router.mark_loss(topic, Loss::UpstreamReconnect, out));
        }
    }

    /// An open client connection starts closing (either side): the connector lets go of it and
    /// waits to reconnect. Messages queued before the close go out before the close frame, in
    /// order, as an echo would; a stalled connection only finishes a frame written in part, and
    /// leaves the rest for the next connection.
    pub(in crate::reactor) fn upstream_closing(
        &mut self,
        key: usize,
        reason: Option<&CloseReason>,
        now: Instant,
    ) {
        let conn = &mut self.conns[key];
        let Side::Client(client) = &conn.side else { return };
        let (idx, stalled) = (client.connector, client.stalled);
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
            conn.out.push_essential(Arc::from(rest), false);
            live.stats.messages_out += msgs;
            live.stats.bytes_out += bytes;
        }
        self.disconnected(idx, why, now);
    }

    /// A client connection (id `id`, last in state `state`) was freed: try the next address,
    /// or count a failed attempt or a lost connection.
    pub(in crate::reactor) fn upstream_dropped(
        &mut self,
        id: u64,
        state: &State,
        client: Client,
        now: Instant,
    ) {
        let idx = client.connector;
        let Some(live) = self.connectors.get_mut(idx, client.uid) else { return };
        if !live.is_current(id) {
            return;
        }
        live.conn = None;
        match state {
            State::Connecting { .. } if live.next_addr < live.addrs.len() => {
                let why = client.reason.unwrap_or_else(|| "connect failed".into());
                log::debug!("connector `{}`: {why}; trying the next address", live.spec.name);
                live.stats.last_error = Some(why);
                self.arm_connector(idx, now);
            }
            State::Connecting { .. } => {
                let why = client.reason.unwrap_or_else(|| "connect failed".into());
                self.attempt_failed(idx, why, now);
            }
            State::Handshaking(_) => {
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

    /// Messages received from an upstream (counted per connector).
    pub(in crate::reactor) fn count_upstream_in(&mut self, key: usize, msgs: u64, bytes: u64) {
        let Some(c) = self.conns[key].client() else { return };
        if let Some(live) = self.connectors.get_mut(c.connector, c.uid) {
            live.stats.messages_in += msgs;
            live.stats.bytes_in += bytes;
        }
    }
}

/// Flush a client connection: a data frame written in part first, then the connection's own
/// queue (request, control frames, `subscribe` messages, close), then the connector's buffer
/// (only for the connector's current, open connection).
pub(in crate::reactor) fn flush_upstream(
    conn: &mut Conn,
    connectors: &mut Connectors,
    mut written: impl FnMut(Stamp),
) -> io::Result<Flushed> {
    let mut live = None;
    if let (State::Open(_), Some(c)) = (conn.state(), conn.client()) {
        live = connectors
            .get_mut(c.connector, c.uid)
            .filter(|l| l.is_current(conn.id) && l.ring.is_some());
    }
    loop {
        if let Some(l) = live.as_deref_mut() {
            if let Some(ring) = l.ring.as_mut() {
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
        }
        if conn.out.flush_to(&mut conn.stream, &mut written)? == Flushed::WouldBlock {
            return Ok(Flushed::WouldBlock);
        }
        let Some(l) = live.as_deref_mut() else { return Ok(Flushed::All) };
        let Some(ring) = l.ring.as_mut() else { return Ok(Flushed::All) };
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
pub(super) fn transport(live: &Live, sock: TcpStream) -> io::Result<Transport> {
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
