//! A TCP proxy with a gate, for tests that restart a server under a client that reconnects.
//!
//! The client connects to [`Proxy::addr`]; the proxy forwards to the current upstream. The test
//! decides, without any timing assumption, when the client's connections get through:
//!
//! - [`Proxy::close_gate`]: new connections are accepted and held (not forwarded) until
//!   [`Proxy::open_gate`] names the next upstream; a held connection that the client gives up
//!   on is dropped when the gate opens.
//! - [`Proxy::pause`]: bytes in one direction (from clients, or from the server) are read and
//!   held, not forwarded: the receiver sees nothing more, the sender's writes still complete.
//!   After [`Proxy::resume`], a connection forwards its held bytes before the next bytes it
//!   reads.
//! - When either side of a forwarded connection ends, both sides are closed and held bytes are
//!   dropped, as a TCP connection through a dead server would be.
//! - [`Proxy::cut`]: every forwarded connection ends now, as in a network failure (held bytes
//!   are dropped); new connections are still accepted.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::IO_TIMEOUT;

/// A direction of the forwarded bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the server.
    Requests,
    /// From the server to the client.
    Replies,
}

#[derive(Default)]
struct State {
    upstream: Option<SocketAddr>,
    paused_requests: bool,
    paused_replies: bool,
    /// Bytes read while paused and not forwarded (all connections, both directions).
    held_bytes: u64,
    /// Connections waiting at the closed gate.
    waiting: usize,
    /// Connections forwarded so far.
    forwarded: u64,
    /// Open sockets (both sides), to close on drop.
    sockets: Vec<TcpStream>,
    stopped: bool,
}

/// A gated TCP proxy on 127.0.0.1 (port 0); stopped when dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    shared: Arc<(Mutex<State>, Condvar)>,
}

impl Proxy {
    /// Start a proxy to `upstream` (or with the gate closed if `None`).
    pub fn start(upstream: Option<SocketAddr>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new((Mutex::new(State { upstream, ..State::default() }), Condvar::new()));
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                if s.0.lock().unwrap().stopped {
                    break;
                }
                let s = s.clone();
                std::thread::spawn(move || serve(client, s));
            }
        });
        Proxy { addr, shared }
    }

    /// Hold new connections until [`Proxy::open_gate`].
    pub fn close_gate(&self) {
        self.shared.0.lock().unwrap().upstream = None;
    }

    /// Forward held and new connections to `upstream`.
    pub fn open_gate(&self, upstream: SocketAddr) {
        self.shared.0.lock().unwrap().upstream = Some(upstream);
        self.shared.1.notify_all();
    }

    /// Stop forwarding bytes in this direction (they are read and held).
    pub fn pause(&self, direction: Direction) {
        let mut st = self.shared.0.lock().unwrap();
        match direction {
            Direction::Requests => st.paused_requests = true,
            Direction::Replies => st.paused_replies = true,
        }
    }

    /// Forward bytes in both directions again, held ones first.
    pub fn resume(&self) {
        let mut st = self.shared.0.lock().unwrap();
        st.paused_requests = false;
        st.paused_replies = false;
        drop(st);
        self.shared.1.notify_all();
    }

    /// End every forwarded connection now: both sides are closed, held bytes are dropped.
    pub fn cut(&self) {
        let mut st = self.shared.0.lock().unwrap();
        for s in st.sockets.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Bytes read while paused and not forwarded.
    pub fn held_bytes(&self) -> u64 {
        self.shared.0.lock().unwrap().held_bytes
    }

    /// Connections forwarded so far.
    pub fn forwarded(&self) -> u64 {
        self.shared.0.lock().unwrap().forwarded
    }

    /// Wait until `pred` holds for (held bytes, connections waiting at the gate); panics after
    /// `IO_TIMEOUT`.
    pub fn wait_for(&self, what: &str, pred: impl Fn(u64, usize) -> bool) {
        let deadline = Instant::now() + IO_TIMEOUT;
        let mut st = self.shared.0.lock().unwrap();
        while !pred(st.held_bytes, st.waiting) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "proxy: timed out waiting for {what}");
            st = self.shared.1.wait_timeout(st, left).unwrap().0;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let mut st = self.shared.0.lock().unwrap();
        st.stopped = true;
        for s in st.sockets.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        drop(st);
        self.shared.1.notify_all();
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn serve(client: TcpStream, shared: Arc<(Mutex<State>, Condvar)>) {
    let (lock, cv) = &*shared;
    let upstream = {
        let mut st = lock.lock().unwrap();
        st.waiting += 1;
        cv.notify_all();
        while st.upstream.is_none() && !st.stopped {
            st = cv.wait(st).unwrap();
        }
        st.waiting -= 1;
        cv.notify_all();
        if st.stopped {
            return;
        }
        st.upstream.unwrap()
    };
    // A client that gave up while held has closed its side: nothing to forward.
    client.set_nonblocking(true).unwrap();
    let gone = matches!(client.peek(&mut [0u8; 1]), Ok(0));
    client.set_nonblocking(false).unwrap();
    if gone {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    {
        let mut st = lock.lock().unwrap();
        st.forwarded += 1;
        st.sockets.push(client.try_clone().unwrap());
        st.sockets.push(server.try_clone().unwrap());
    }
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let sh = shared.clone();
    let up = std::thread::spawn(move || pump(c2, s2, Direction::Requests, &sh));
    pump(server, client, Direction::Replies, &shared);
    let _ = up.join();
}

/// Copy `from` to `to` until either ends, holding bytes while `direction` is paused. Then
/// close both.
fn pump(mut from: TcpStream, mut to: TcpStream, direction: Direction, g: &(Mutex<State>, Condvar)) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut held: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut st = g.0.lock().unwrap();
        let paused = match direction {
            Direction::Requests => st.paused_requests,
            Direction::Replies => st.paused_replies,
        };
        if paused {
            held.extend_from_slice(&buf[..n]);
            st.held_bytes += n as u64;
            g.1.notify_all();
            continue;
        }
        drop(st);
        if !held.is_empty() && to.write_all(&std::mem::take(&mut held)).is_err() {
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
