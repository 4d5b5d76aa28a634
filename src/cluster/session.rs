//! One connection's NATS session, without the socket: the handshake (`INFO` → optional TLS →
//! `CONNECT` + `PING` → `PONG`), keep-alive pings, the bytes to write, and the parsing of what
//! the server sends, with partial operations kept between reads.
//!
//! Contract: `out` only grows by what the session or its owner appends; the reactor writes it
//! and drains it. The kept input is bounded by one operation (a control line, or a message of
//! at most the server's `max_payload`), so a server cannot make it grow past that.

use std::time::Instant;

use serde::Deserialize;

use super::proto::{self, Op, ProtoError};

/// Where the handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No connection.
    Down,
    /// Connected, waiting for the server's `INFO`.
    AwaitInfo,
    /// `INFO` asked for TLS: the owner wraps the socket, then calls [`Session::send_connect`].
    NeedTls,
    /// `CONNECT` and `PING` sent, waiting for the `PONG` that says the server accepted them.
    AwaitPong,
    /// Usable.
    Ready,
}

/// What the server says of itself.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Info {
    #[serde(default)]
    pub(crate) tls_required: bool,
    #[serde(default)]
    pub(crate) max_payload: usize,
    #[serde(default)]
    pub(crate) headers: bool,
    #[serde(default)]
    pub(crate) jetstream: bool,
    #[serde(default)]
    pub(crate) server_name: String,
}

/// The session of one connection.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) phase: Phase,
    /// Bytes for the server.
    pub(crate) out: Vec<u8>,
    /// An incomplete operation from the previous read.
    kept: Vec<u8>,
    pub(crate) info: Info,
    /// `PING`s sent and not answered.
    pings: u32,
    next_ping: Option<Instant>,
}

/// What a parsed operation means to the owner.
pub(crate) enum Step<'a> {
    /// Nothing for the owner.
    None,
    /// The handshake completed.
    Ready,
    /// A message.
    Msg(proto::Msg<'a>),
    /// The server complained (`-ERR`).
    Error(String),
}

/// Why a session cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SessionError {
    Proto(ProtoError),
    /// The `INFO` is unreadable or the server lacks what Sluice needs.
    Server(String),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Proto(e) => write!(f, "protocol error: {e}"),
            SessionError::Server(e) => f.write_str(e),
        }
    }
}

/// The largest message accepted before the server's `INFO` says its own `max_payload`.
const DEFAULT_MAX_PAYLOAD: usize = 1 << 20;

impl Session {
    pub(crate) fn new() -> Session {
        Session {
            phase: Phase::Down,
            out: Vec::new(),
            kept: Vec::new(),
            info: Info::default(),
            pings: 0,
            next_ping: None,
        }
    }

    /// A new connection is up: wait for `INFO`.
    pub(crate) fn start(&mut self) {
        self.phase = Phase::AwaitInfo;
        self.out.clear();
        self.kept.clear();
        self.pings = 0;
        self.next_ping = None;
    }

    /// The connection is gone.
    pub(crate) fn stop(&mut self) {
        self.phase = Phase::Down;
        self.out.clear();
        self.kept = Vec::new();
    }

    /// Send `CONNECT <json>` and the `PING` whose `PONG` completes the handshake.
    pub(crate) fn send_connect(&mut self, json: &str) {
        proto::encode_connect(&mut self.out, json);
        self.phase = Phase::AwaitPong;
    }

    /// Parse everything in `data` (after what was kept), calling `on` for each operation.
    /// `want_tls`: the URL asked for TLS.
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        want_tls: bool,
        mut on: impl FnMut(&mut Vec<u8>, Step<'_>),
    ) -> Result<(), SessionError> {
        let mut kept = std::mem::take(&mut self.kept);
        let result = if kept.is_empty() {
            let used = self.parse_all(data, want_tls, &mut on)?;
            kept.extend_from_slice(&data[used..]);
            Ok(())
        } else {
            kept.extend_from_slice(data);
            let used = self.parse_all(&kept, want_tls, &mut on)?;
            kept.drain(..used);
            Ok(())
        };
        self.kept = kept;
        result
    }

    fn parse_all(
        &mut self,
        buf: &[u8],
        want_tls: bool,
        on: &mut impl FnMut(&mut Vec<u8>, Step<'_>),
    ) -> Result<usize, SessionError> {
        let mut pos = 0;
        while self.phase != Phase::NeedTls {
            let max =
                if self.info.max_payload > 0 { self.info.max_payload } else { DEFAULT_MAX_PAYLOAD };
            let Some((op, used)) = proto::parse(&buf[pos..], max).map_err(SessionError::Proto)?
            else {
                break;
            };
            pos += used;
            let step = match op {
                Op::Info(json) => self.on_info(json, want_tls)?,
                Op::Ping => {
                    self.out.extend_from_slice(b"PONG\r\n");
                    Step::None
                }
                Op::Pong => {
                    self.pings = 0;
                    if self.phase == Phase::AwaitPong {
                        self.phase = Phase::Ready;
                        Step::Ready
                    } else {
                        Step::None
                    }
                }
                Op::Ok => Step::None,
                Op::Err(e) => Step::Error(String::from_utf8_lossy(e).into_owned()),
                Op::Msg(m) => Step::Msg(m),
            };
            on(&mut self.out, step);
        }
        Ok(pos)
    }

    fn on_info(&mut self, json: &[u8], want_tls: bool) -> Result<Step<'static>, SessionError> {
        let info: Info = serde_json::from_slice(json)
            .map_err(|e| SessionError::Server(format!("unreadable INFO: {e}")))?;
        if self.phase != Phase::AwaitInfo {
            // A cluster change: keep the limits current.
            if info.max_payload > 0 {
                self.info.max_payload = info.max_payload;
            }
            return Ok(Step::None);
        }
        if !info.headers {
            return Err(SessionError::Server("the NATS server does not support headers".into()));
        }
        if !info.jetstream {
            return Err(SessionError::Server(format!(
                "JetStream is not enabled on NATS server {}",
                info.server_name
            )));
        }
        self.phase = if info.tls_required || want_tls { Phase::NeedTls } else { Phase::AwaitPong };
        self.info = info;
        Ok(Step::None)
    }

    /// Keep-alive: send a `PING` when one is due. `Err` when two went unanswered.
    pub(crate) fn tick(&mut self, now: Instant, every: std::time::Duration) -> Result<(), String> {
        if self.phase != Phase::Ready {
            return Ok(());
        }
        match self.next_ping {
            Some(at) if now < at => Ok(()),
            Some(_) if self.pings >= 2 => Err("two PINGs went unanswered".into()),
            _ => {
                if self.next_ping.is_some() {
                    self.out.extend_from_slice(b"PING\r\n");
                    self.pings += 1;
                }
                self.next_ping = Some(now + every);
                Ok(())
            }
        }
    }

    /// When [`Session::tick`] next has something to do.
    pub(crate) fn next_ping(&self) -> Option<Instant> {
        (self.phase == Phase::Ready).then_some(self.next_ping).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &[u8] = b"INFO {\"server_name\":\"n1\",\"headers\":true,\"jetstream\":true,\"max_payload\":1048576}\r\n";

    fn drive(s: &mut Session, data: &[u8]) -> Vec<String> {
        let mut seen = Vec::new();
        s.feed(data, false, |_, step| {
            seen.push(match step {
                Step::None => return,
                Step::Ready => "ready".to_string(),
                Step::Msg(m) => format!("msg {}", String::from_utf8_lossy(m.payload)),
                Step::Error(e) => format!("err {e}"),
            })
        })
        .unwrap();
        seen
    }

    #[test]
    fn handshake_then_messages_across_split_reads() {
        let mut s = Session::new();
        s.start();
        assert!(drive(&mut s, INFO).is_empty());
        assert_eq!(s.phase, Phase::AwaitPong);
        s.send_connect("{}");
        assert!(s.out.starts_with(b"CONNECT {}\r\nPING\r\n"));
        s.out.clear();
        let rest = b"PONG\r\nPING\r\nMSG a 1 5\r\nhello\r\n";
        let mut seen = Vec::new();
        for chunk in rest.chunks(3) {
            seen.extend(drive(&mut s, chunk));
        }
        assert_eq!(seen, ["ready", "msg hello"]);
        assert_eq!(s.out, b"PONG\r\n");
        assert_eq!(s.phase, Phase::Ready);
    }

    #[test]
    fn tls_waits_for_the_owner_and_bad_servers_are_refused() {
        let mut s = Session::new();
        s.start();
        let tls = b"INFO {\"headers\":true,\"jetstream\":true,\"tls_required\":true}\r\nextra";
        drive(&mut s, tls);
        assert_eq!(s.phase, Phase::NeedTls);
        let mut s = Session::new();
        s.start();
        let e = s.feed(b"INFO {\"headers\":true}\r\n", false, |_, _| {}).unwrap_err();
        assert!(e.to_string().contains("JetStream"), "{e}");
        let mut s = Session::new();
        s.start();
        assert!(s.feed(b"INFO nope\r\n", false, |_, _| {}).is_err());
    }

    #[test]
    fn pings_are_sent_and_two_unanswered_end_the_session() {
        let t0 = Instant::now();
        let every = std::time::Duration::from_secs(1);
        let mut s = Session::new();
        s.start();
        drive(&mut s, INFO);
        s.send_connect("{}");
        drive(&mut s, b"PONG\r\n");
        s.out.clear();
        s.tick(t0, every).unwrap();
        assert!(s.out.is_empty(), "the first tick only schedules");
        s.tick(t0 + every, every).unwrap();
        s.tick(t0 + every * 2, every).unwrap();
        assert_eq!(s.out, b"PING\r\nPING\r\n");
        assert!(s.tick(t0 + every * 3, every).is_err());
        drive(&mut s, b"PONG\r\n");
        assert!(s.tick(t0 + every * 3, every).is_ok());
    }
}
