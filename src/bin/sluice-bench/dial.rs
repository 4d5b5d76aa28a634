//! Opening WebSocket connections without a thread each: `ws://` URLs, and a [`Dialer`] that
//! drives many non-blocking connects and HTTP upgrades at once on one `mio::Poll`.
//!
//! A dial is: TCP connect → write the upgrade request → read the response head (httparse) →
//! check `101` and `Sec-WebSocket-Accept` (and, when a subprotocol is offered, that the server
//! chose it). Bytes the server sends after the head (frames sent
//! right after the upgrade) are handed over with the connection, never lost. Each dial has a
//! deadline; at most `parallel` dials are in progress at once so a server's accept backlog is
//! not overrun.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::clock::now_ns;

/// A parsed `ws://host:port/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// `host:port` as written (the `Host` header).
    pub authority: String,
    /// The resolved address.
    pub addr: SocketAddr,
    /// Path and query, starting with `/`.
    pub path: String,
    /// Offer permessage-deflate in the upgrade request (as a browser does).
    pub deflate: bool,
}

impl WsUrl {
    /// Parse and resolve a `ws://` URL (`wss://` is not supported: measure TLS behind a proxy).
    pub fn parse(s: &str) -> Result<WsUrl, String> {
        let rest = s
            .strip_prefix("ws://")
            .ok_or_else(|| format!("`{s}`: only ws:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("`{s}`: no host"));
        }
        let with_port = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("`{s}`: cannot resolve {with_port}: {e}"))?
            .next()
            .ok_or_else(|| format!("`{s}`: {with_port} resolves to no address"))?;
        Ok(WsUrl { authority: authority.to_string(), addr, path: path.to_string(), deflate: false })
    }
}

/// The permessage-deflate offer of `--deflate`: the one Chromium makes.
const DEFLATE_OFFER: &str =
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

/// An upgraded connection.
#[derive(Debug)]
pub struct Open {
    /// The non-blocking socket (`TCP_NODELAY` set), registered with nothing.
    pub stream: TcpStream,
    /// Bytes received after the response head.
    pub leftover: Vec<u8>,
    /// Which request this was (the `tag` given to [`Dialer::start`]).
    pub tag: usize,
    /// When the dial was meant to start (its intended time), ns.
    pub started: u64,
    /// When it actually started (`connect` was called), ns.
    pub launched: u64,
    /// When the `101` was complete, ns.
    pub done: u64,
}

/// Why a dial failed.
#[derive(Debug)]
pub struct DialError {
    /// Which request.
    pub tag: usize,
    /// What went wrong.
    pub message: String,
}

enum Phase {
    Connecting,
    Reading,
}

struct Pending {
    stream: TcpStream,
    phase: Phase,
    request: Vec<u8>,
    written: usize,
    key: String,
    protocol: Option<&'static str>,
    head: Vec<u8>,
    tag: usize,
    started: u64,
    launched: u64,
    deadline: u64,
}

/// Many dials in flight on one poller.
pub struct Dialer {
    poll: Poll,
    events: Events,
    pending: Slab<Pending>,
    queue: VecDeque<(WsUrl, usize, u64)>,
    parallel: usize,
    timeout_ns: u64,
    protocol: Option<&'static str>,
}

impl Dialer {
    /// A dialer with at most `parallel` dials in progress, each allowed `timeout`.
    pub fn new(parallel: usize, timeout: Duration) -> io::Result<Dialer> {
        Ok(Dialer {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            pending: Slab::new(),
            queue: VecDeque::new(),
            parallel: parallel.max(1),
            timeout_ns: crate::units::ns(timeout),
            protocol: None,
        })
    }

    /// Offer `protocol` (`Sec-WebSocket-Protocol`) in every upgrade request; a server that does
    /// not choose it fails the dial.
    pub fn offer(&mut self, protocol: &'static str) {
        self.protocol = Some(protocol);
    }

    /// Dials started or queued and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.pending.len() + self.queue.len()
    }

    /// Queue a dial to `url`; `intended` is the time it counts from (ns).
    pub fn start(&mut self, url: &WsUrl, tag: usize, intended: u64) {
        self.queue.push_back((url.clone(), tag, intended));
    }

    fn launch(&mut self, failed: &mut Vec<DialError>) {
        while self.pending.len() < self.parallel {
            let Some((url, tag, started)) = self.queue.pop_front() else { return };
            let launched = now_ns();
            let mut stream = match TcpStream::connect(url.addr) {
                Ok(s) => s,
                Err(e) => {
                    failed.push(DialError { tag, message: format!("connect {}: {e}", url.addr) });
                    continue;
                }
            };
            let key = tungstenite::handshake::client::generate_key();
            let offer =
                self.protocol.map_or(String::new(), |p| format!("Sec-WebSocket-Protocol: {p}\r\n"));
            let request = format!(
                "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n{offer}{}\r\n",
                url.path,
                url.authority,
                if url.deflate { DEFLATE_OFFER } else { "" }
            );
            let entry = self.pending.vacant_entry();
            let token = Token(entry.key());
            if let Err(e) = self.poll.registry().register(
                &mut stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                failed.push(DialError { tag, message: format!("register: {e}") });
                continue;
            }
            entry.insert(Pending {
                stream,
                phase: Phase::Connecting,
                request: request.into_bytes(),
                written: 0,
                key,
                protocol: self.protocol,
                head: Vec::new(),
                tag,
                started,
                launched,
                deadline: launched + self.timeout_ns,
            });
        }
    }

    /// Make progress for up to `timeout`; finished dials are appended to `done` and `failed`.
    pub fn poll(
        &mut self,
        timeout: Duration,
        done: &mut Vec<Open>,
        failed: &mut Vec<DialError>,
    ) -> io::Result<()> {
        self.launch(failed);
        if self.pending.is_empty() {
            return Ok(());
        }
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let keys: Vec<usize> = self.events.iter().map(|e| e.token().0).collect();
        for key in keys {
            if !self.pending.contains(key) {
                continue;
            }
            match step(&mut self.pending[key]) {
                Ok(None) => {}
                Ok(Some(leftover)) => {
                    let mut p = self.pending.remove(key);
                    let _ = self.poll.registry().deregister(&mut p.stream);
                    done.push(Open {
                        stream: p.stream,
                        leftover,
                        tag: p.tag,
                        started: p.started,
                        launched: p.launched,
                        done: now_ns(),
                    });
                }
                Err(message) => {
                    let mut p = self.pending.remove(key);
                    let _ = self.poll.registry().deregister(&mut p.stream);
                    failed.push(DialError { tag: p.tag, message });
                }
            }
        }
        let now = now_ns();
        let late: Vec<usize> =
            self.pending.iter().filter(|(_, p)| now >= p.deadline).map(|(k, _)| k).collect();
        for key in late {
            let mut p = self.pending.remove(key);
            let _ = self.poll.registry().deregister(&mut p.stream);
            failed.push(DialError { tag: p.tag, message: "handshake timed out".into() });
        }
        self.launch(failed);
        Ok(())
    }
}

/// Advance one dial; `Ok(Some(leftover))` when the upgrade is complete.
fn step(p: &mut Pending) -> Result<Option<Vec<u8>>, String> {
    if let Phase::Connecting = p.phase {
        if let Ok(Some(e)) | Err(e) = p.stream.take_error() {
            return Err(format!("connect: {e}"));
        }
        match p.stream.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(None),
            Err(e) => return Err(format!("connect: {e}")),
        }
        let _ = p.stream.set_nodelay(true);
        while p.written < p.request.len() {
            match p.stream.write(&p.request[p.written..]) {
                Ok(n) => p.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        p.phase = Phase::Reading;
    }
    let mut buf = [0u8; 4096];
    loop {
        match p.stream.read(&mut buf) {
            Ok(0) => return Err("the server closed the connection during the upgrade".into()),
            Ok(n) => p.head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
        if p.head.len() > 64 * 1024 {
            return Err("response head over 64 KiB".into());
        }
    }
    check_response(&p.head, &p.key, p.protocol)
}

/// Check an upgrade response: `Ok(None)` if incomplete, `Ok(Some(leftover))` if it is a valid
/// `101` for `key` (that chose `protocol`, if one was offered).
pub fn check_response(
    head: &[u8],
    key: &str,
    protocol: Option<&str>,
) -> Result<Option<Vec<u8>>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(head) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("bad response: {e}")),
    };
    if resp.code != Some(101) {
        let body = String::from_utf8_lossy(&head[len..]);
        return Err(format!(
            "server answered {} {}: {}",
            resp.code.unwrap_or(0),
            resp.reason.unwrap_or(""),
            body.trim()
        ));
    }
    let expected = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let accept = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|h| h.value);
    if accept != Some(expected.as_bytes()) {
        return Err("wrong or missing Sec-WebSocket-Accept".into());
    }
    if let Some(p) = protocol {
        let chosen = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-protocol"))
            .map(|h| h.value);
        if chosen != Some(p.as_bytes()) {
            return Err(format!("the server did not choose the subprotocol {p}"));
        }
    }
    Ok(Some(head[len..].to_vec()))
}

/// Dial `count` connections to `url` and wait for all of them (failing on the first error).
pub fn dial_all(url: &WsUrl, count: usize, timeout: Duration) -> Result<Vec<Open>, String> {
    dial_all_offering(url, count, timeout, None)
}

/// [`dial_all`], offering `protocol` in every upgrade request.
pub fn dial_all_offering(
    url: &WsUrl,
    count: usize,
    timeout: Duration,
    protocol: Option<&'static str>,
) -> Result<Vec<Open>, String> {
    let mut dialer = Dialer::new(256, timeout).map_err(|e| e.to_string())?;
    if let Some(p) = protocol {
        dialer.offer(p);
    }
    for tag in 0..count {
        dialer.start(url, tag, now_ns());
    }
    let mut done = Vec::with_capacity(count);
    let mut failed = Vec::new();
    while dialer.in_flight() > 0 {
        dialer
            .poll(Duration::from_millis(100), &mut done, &mut failed)
            .map_err(|e| e.to_string())?;
        if let Some(f) = failed.first() {
            return Err(format!(
                "{} of {count} connections to ws://{}{} failed; first (#{}): {}",
                failed.len(),
                url.authority,
                url.path,
                f.tag,
                f.message
            ));
        }
    }
    done.sort_by_key(|o| o.tag);
    Ok(done)
}
