//! Reading: bytes from a socket into the reactor's scratch buffer, handed to the handler of the
//! connection's state, which returns how much it consumed and a verdict.
//!
//! Bytes left over from the previous read (a partial frame or request head, kept in the state's
//! `inbuf`) are copied to the front of the scratch buffer and the socket reads after them, so
//! frames are parsed in place. Only a frame larger than half the scratch buffer is assembled in
//! the connection's own buffer, which is bounded by `max_frame_size`. Reading stops at
//! `WouldBlock`, at a short read (unless the event also reported the peer's EOF, which epoll
//! will not report again), or after [`READS_PER_WAKE`] reads; then the connection is served
//! again next iteration.

use std::io::{self, Read};
use std::time::Instant;

use super::{Reactor, READS_PER_WAKE, SCRATCH_LEN};
use crate::conn::{State, Verdict};

impl Reactor {
    /// Read from a connection until `WouldBlock`, a short read (unless the peer's EOF is
    /// pending: `hup`), or the per-wake budget. A `Close` verdict is carried out at once and
    /// reading goes on (to discard what follows and see the peer's EOF); a `Drop` ends the read.
    pub(super) fn read(&mut self, key: usize, hup: bool, now: Instant) -> Verdict {
        for _ in 0..READS_PER_WAKE {
            let Some(conn) = self.conns.get_mut(key) else { return Verdict::Continue };
            if matches!(conn.state(), State::Http(h) if h.paused) {
                // Backpressure: its answers fill the queue; read again once they drain.
                return Verdict::Continue;
            }
            let Some(inbuf) = conn.state_mut().inbuf() else {
                // Closing, Linger, Connecting: discard whatever arrives; only EOF matters now.
                match conn.stream.read(&mut self.scratch.read) {
                    Ok(0) => return self.on_eof(key, now),
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Verdict::Continue,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        conn.note_io("read", &e);
                        return Verdict::Drop;
                    }
                }
            };
            let held = std::mem::take(inbuf);
            let in_scratch = held.len() <= SCRATCH_LEN / 2;
            let scratch = &mut self.scratch.read;
            let room = if in_scratch {
                scratch[..held.len()].copy_from_slice(&held);
                &mut scratch[held.len()..]
            } else {
                &mut scratch[..]
            };
            let room_len = room.len();
            let n = match conn.stream.read(room) {
                Ok(0) => {
                    put_back(conn.state_mut(), held);
                    return self.on_eof(key, now);
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    put_back(conn.state_mut(), held);
                    return Verdict::Continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    put_back(conn.state_mut(), held);
                    continue;
                }
                Err(e) => {
                    log::debug!("conn {} {}: read failed: {e}", conn.id, conn.peer);
                    conn.note_io("read", &e);
                    if conn.stream.is_tls() && e.kind() == io::ErrorKind::InvalidData {
                        self.observe.stats.tls_errors += 1;
                    }
                    return Verdict::Drop;
                }
            };
            conn.last_rx = now;
            let drained = n < room_len && !hup && conn.stream.short_read_drains();
            let verdict = self.consume(key, held, in_scratch, n, now);
            match verdict {
                Verdict::Continue => {}
                Verdict::Close(_) => self.apply(key, verdict, now),
                Verdict::Drop => return Verdict::Drop,
            }
            if drained {
                // A short read drained the socket; edge-triggered polling reports whatever
                // arrives next. (An EOF already reported with this event would not be reported
                // again, hence `hup`.)
                return Verdict::Continue;
            }
        }
        self.pending.read_more.push(key);
        Verdict::Continue
    }

    /// Hand `held` + the `n` new bytes to the state's handler and keep what it leaves.
    #[inline]
    fn consume(
        &mut self,
        key: usize,
        mut held: Vec<u8>,
        in_scratch: bool,
        n: usize,
        now: Instant,
    ) -> Verdict {
        let mut scratch = std::mem::take(&mut self.scratch.read);
        let verdict = if in_scratch {
            let len = held.len() + n;
            let (consumed, verdict) = self.on_bytes(key, &mut scratch[..len], now);
            held.clear();
            held.extend_from_slice(&scratch[consumed..len]);
            verdict
        } else {
            held.extend_from_slice(&scratch[..n]);
            let (consumed, verdict) = self.on_bytes(key, &mut held, now);
            held.drain(..consumed);
            verdict
        };
        self.scratch.read = scratch;
        if let Some(conn) = self.conns.get_mut(key) {
            put_back(conn.state_mut(), held);
        }
        verdict
    }

    /// Bytes for connection `key`, by state: (bytes consumed, verdict). Unconsumed bytes (a
    /// partial request head or frame) are kept by the caller.
    #[inline]
    fn on_bytes(&mut self, key: usize, data: &mut [u8], now: Instant) -> (usize, Verdict) {
        match self.conns[key].state() {
            State::Http(_) => self.on_http(key, data, now),
            State::Open(_) => self.on_frames(key, data, now),
            State::Handshaking(_) => self.on_response(key, data, now),
            State::Connecting { .. } => {
                self.conns[key].note("the upstream sent data before the upgrade request");
                (data.len(), Verdict::Drop)
            }
            State::Closing { .. } | State::Linger { .. } => (data.len(), Verdict::Continue),
        }
    }

    /// The peer sent EOF.
    fn on_eof(&mut self, key: usize, now: Instant) -> Verdict {
        let conn = &mut self.conns[key];
        conn.peer_eof = true;
        conn.note(if conn.stream.tls_handshaking() {
            "the upstream closed the TCP connection during the TLS handshake (does it speak \
             TLS on this port, or is it a ws:// endpoint?)"
        } else {
            "the upstream closed the TCP connection"
        });
        let answering = !conn.out.is_empty();
        match conn.state() {
            // A request followed by a half-close still gets its response.
            State::Http(_) if answering => {
                let deadline = conn.state().deadline().unwrap_or(now);
                conn.set_state(State::Closing { deadline });
                Verdict::Continue
            }
            State::Closing { .. } if answering => Verdict::Continue,
            _ => Verdict::Drop,
        }
    }

    /// A plain-HTTP connection paused by backpressure has drained its answers: handle the
    /// requests it had already sent, then read again.
    pub(super) fn resume_http(&mut self, key: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        let State::Http(http) = conn.state_mut() else { return };
        if !http.paused {
            return;
        }
        http.paused = false;
        let held = std::mem::take(&mut http.inbuf);
        let verdict = if held.is_empty() {
            Verdict::Continue
        } else {
            let len = held.len();
            self.scratch.read[..len].copy_from_slice(&held);
            self.consume(key, Vec::new(), true, len, now)
        };
        if verdict == Verdict::Continue {
            self.pending.read_more.push(key);
        }
        self.apply(key, verdict, now);
    }
}

/// Return unconsumed bytes to the state that parses them (dropped if the state changed to one
/// that discards its input).
fn put_back(state: &mut State, held: Vec<u8>) {
    if let Some(inbuf) = state.inbuf() {
        *inbuf = held;
    }
}
