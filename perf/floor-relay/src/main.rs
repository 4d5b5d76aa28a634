//! `floor-relay`: the least work a WebSocket relay can do, as a floor to measure Sluice against.
//!
//! One thread, one `mio` loop, like Sluice. Same URL shapes: `/pub/<topic>`, `/sub/<topic>`,
//! `/echo`. The upgrade is parsed just enough to find the path and the key. A publisher's masked
//! frames are unmasked in place and re-headed as server frames into one buffer per read, which
//! is written straight to each subscriber with one `write` (only what a socket does not take is
//! copied into that subscriber's backlog). No limits, no validation, no timers, no UTF-8 checks,
//! no close handshake: not a server to run, a floor to compare with.
//!
//! `--tcp-echo ADDR` also serves plain TCP echo (a thread per connection, blocking), for the
//! loopback TCP round-trip floor.
//!
//! Usage: `floor-relay [--listen 127.0.0.1:9001] [--tcp-echo 127.0.0.1:9002]`

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use base64::Engine;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

enum Role {
    Handshake,
    Pub(usize),
    Sub,
    Echo,
}

struct Conn {
    stream: TcpStream,
    role: Role,
    inbuf: Vec<u8>,
    backlog: Vec<u8>,
}

fn main() -> io::Result<()> {
    let mut listen: SocketAddr = "127.0.0.1:9001".parse().expect("literal");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next().unwrap_or_default();
        let addr: SocketAddr = value.parse().map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{a} {value}: {e}"))
        })?;
        match a.as_str() {
            "--listen" => listen = addr,
            "--tcp-echo" => tcp_echo(addr)?,
            _ => {
                eprintln!("usage: floor-relay [--listen ADDR] [--tcp-echo ADDR]");
                std::process::exit(2);
            }
        }
    }
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(listen)?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!("floor-relay listening on {}", listener.local_addr()?);
    let mut conns: slab_lite::Slab<Conn> = slab_lite::Slab::default();
    let mut topics = Topics::default();
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 256 * 1024];
    let mut out: Vec<u8> = Vec::with_capacity(512 * 1024);
    loop {
        poll.poll(&mut events, None)?;
        for ev in events.iter() {
            if ev.token() == LISTENER {
                while let Ok((mut s, _)) = listener.accept() {
                    let _ = s.set_nodelay(true);
                    let key = conns.vacant_key();
                    poll.registry().register(
                        &mut s,
                        Token(key),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    conns.insert(Conn {
                        stream: s,
                        role: Role::Handshake,
                        inbuf: Vec::new(),
                        backlog: Vec::new(),
                    });
                }
                continue;
            }
            let key = ev.token().0;
            if ev.is_writable() {
                if let Some(c) = conns.get_mut(key) {
                    flush_backlog(c);
                }
            }
            if !ev.is_readable() {
                continue;
            }
            while let Some(c) = conns.get_mut(key) {
                let held = c.inbuf.len();
                scratch[..held].copy_from_slice(&c.inbuf);
                let n = match c.stream.read(&mut scratch[held..]) {
                    Ok(0) => {
                        drop_conn(&mut conns, &mut topics, key, &poll);
                        break;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        drop_conn(&mut conns, &mut topics, key, &poll);
                        break;
                    }
                };
                let data = &mut scratch[..held + n];
                let used = match c.role {
                    Role::Handshake => match upgrade(c, data, &mut topics) {
                        Some((used, Some(t))) => {
                            topics.subs[t].push(key);
                            used
                        }
                        Some((used, None)) => used,
                        None => {
                            drop_conn(&mut conns, &mut topics, key, &poll);
                            break;
                        }
                    },
                    Role::Sub => data.len(),
                    Role::Echo | Role::Pub(_) => {
                        out.clear();
                        let used = reframe(data, &mut out);
                        match c.role {
                            Role::Echo => send(c, &out),
                            Role::Pub(t) => {
                                for &s in &topics.subs[t] {
                                    if let Some(sc) = conns.get_mut(s) {
                                        send(sc, &out);
                                    }
                                }
                            }
                            _ => {}
                        }
                        used
                    }
                };
                let Some(c) = conns.get_mut(key) else { break };
                c.inbuf.clear();
                c.inbuf.extend_from_slice(&scratch[used..held + n]);
            }
        }
    }
}

/// Parse the upgrade request; answer 101. Returns bytes used and the topic to subscribe to.
fn upgrade(c: &mut Conn, data: &[u8], topics: &mut Topics) -> Option<(usize, Option<usize>)> {
    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Some((0, None));
    };
    let head = std::str::from_utf8(&data[..end]).ok()?;
    let path = head.split_whitespace().nth(1)?.to_string();
    let key = head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case("sec-websocket-key").then(|| v.trim().to_string())
    })?;
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes());
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    send(c, resp.as_bytes());
    let mut sub = None;
    if let Some(t) = path.strip_prefix("/pub/") {
        c.role = Role::Pub(topics.id(t));
    } else if let Some(t) = path.strip_prefix("/sub/") {
        c.role = Role::Sub;
        sub = Some(topics.id(t));
    } else if path == "/echo" {
        c.role = Role::Echo;
    } else {
        return None;
    }
    Some((end + 4, sub))
}

/// Unmask every complete client frame in `data` and append it to `out` as a server frame.
fn reframe(data: &mut [u8], out: &mut Vec<u8>) -> usize {
    let mut pos = 0;
    while data.len() - pos >= 2 {
        let b1 = data[pos + 1];
        let (len, hl) = match b1 & 0x7f {
            126 if data.len() - pos >= 4 => {
                (u16::from_be_bytes([data[pos + 2], data[pos + 3]]) as usize, 4)
            }
            127 if data.len() - pos >= 10 => {
                let mut l = [0u8; 8];
                l.copy_from_slice(&data[pos + 2..pos + 10]);
                (u64::from_be_bytes(l) as usize, 10)
            }
            126 | 127 => break,
            n => (n as usize, 2),
        };
        let masked = b1 & 0x80 != 0;
        let ml = if masked { 4 } else { 0 };
        if data.len() - pos < hl + ml + len {
            break;
        }
        let body = pos + hl + ml;
        if masked {
            let m = [data[pos + hl], data[pos + hl + 1], data[pos + hl + 2], data[pos + hl + 3]];
            for (i, b) in data[body..body + len].iter_mut().enumerate() {
                *b ^= m[i & 3];
            }
        }
        out.push(data[pos]);
        out.push(b1 & 0x7f);
        out.extend_from_slice(&data[pos + 2..pos + hl]);
        out.extend_from_slice(&data[body..body + len]);
        pos = body + len;
    }
    pos
}

/// Write now; keep what the socket does not take.
fn send(c: &mut Conn, bytes: &[u8]) {
    if !c.backlog.is_empty() {
        c.backlog.extend_from_slice(bytes);
        return;
    }
    let mut done = 0;
    while done < bytes.len() {
        match c.stream.write(&bytes[done..]) {
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    c.backlog.extend_from_slice(&bytes[done..]);
}

fn flush_backlog(c: &mut Conn) {
    let mut done = 0;
    while done < c.backlog.len() {
        match c.stream.write(&c.backlog[done..]) {
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    c.backlog.drain(..done);
}

fn drop_conn(conns: &mut slab_lite::Slab<Conn>, topics: &mut Topics, key: usize, poll: &Poll) {
    if let Some(mut c) = conns.remove(key) {
        let _ = poll.registry().deregister(&mut c.stream);
        if let Role::Sub = c.role {
            for subs in topics.subs.iter_mut() {
                subs.retain(|&s| s != key);
            }
        }
    }
}

/// Topic names to indexes, and each topic's subscribers.
#[derive(Default)]
struct Topics {
    ids: HashMap<String, usize>,
    subs: Vec<Vec<usize>>,
}

impl Topics {
    fn id(&mut self, name: &str) -> usize {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        self.subs.push(Vec::new());
        self.ids.insert(name.to_string(), self.subs.len() - 1);
        self.subs.len() - 1
    }
}

/// Plain TCP echo, a thread per connection (blocking reads: the lowest-latency loopback path).
fn tcp_echo(addr: SocketAddr) -> io::Result<()> {
    let listener = std::net::TcpListener::bind(addr)?;
    eprintln!("floor-relay tcp echo on {}", listener.local_addr()?);
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.set_nodelay(true);
            std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(())
}

/// A tiny slab (so the floor has no dependency beyond mio and the handshake hash).
mod slab_lite {
    pub struct Slab<T> {
        items: Vec<Option<T>>,
        free: Vec<usize>,
    }

    impl<T> Default for Slab<T> {
        fn default() -> Self {
            Slab { items: Vec::new(), free: Vec::new() }
        }
    }

    impl<T> Slab<T> {
        pub fn vacant_key(&self) -> usize {
            self.free.last().copied().unwrap_or(self.items.len())
        }
        pub fn insert(&mut self, v: T) -> usize {
            match self.free.pop() {
                Some(k) => {
                    self.items[k] = Some(v);
                    k
                }
                None => {
                    self.items.push(Some(v));
                    self.items.len() - 1
                }
            }
        }
        pub fn get_mut(&mut self, k: usize) -> Option<&mut T> {
            self.items.get_mut(k).and_then(Option::as_mut)
        }
        pub fn remove(&mut self, k: usize) -> Option<T> {
            let v = self.items.get_mut(k)?.take();
            if v.is_some() {
                self.free.push(k);
            }
            v
        }
    }
}
