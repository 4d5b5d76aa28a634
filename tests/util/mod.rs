//! Shared test helpers: a relay on 127.0.0.1 port 0 in a thread, a per-test watchdog, real
//! WebSocket clients (tungstenite) and a raw client for hand-made frames and requests.
//!
//! Every socket a test opens has a read timeout, and every test body runs under [`watchdog`], so
//! a stuck socket fails the test instead of hanging CI.

#![allow(dead_code)]

pub mod attack;
pub mod autobahn;
pub mod browser;
pub mod chaos;
pub mod cluster;
pub mod deflate;
pub mod envelope;
pub mod flink;
pub mod held;
pub mod nats;
pub mod proxy;
pub mod python;
pub mod records;
pub mod tls;
pub mod upstream;
pub mod windows;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use sluice::{Config, Handle, Reactor, Stats};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// Generous bound on any single socket wait: a loaded 2-core CI machine can be slow.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Run `body` on its own thread; fail the test if it has not finished after `secs` seconds.
pub fn watchdog<F: FnOnce() + Send + 'static>(secs: u64, body: F) {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => worker.join().expect("test body panicked"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: re-raise its panic with its message.
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("watchdog: test did not finish in {secs} s"),
    }
}

/// A reactor running on a background thread, stopped when dropped.
pub struct Relay {
    pub addr: SocketAddr,
    pub handle: Handle,
    thread: Option<JoinHandle<Result<(), sluice::Error>>>,
}

/// A configuration listening on 127.0.0.1 with an OS-assigned port.
pub fn test_config() -> Config {
    Config { listen: "127.0.0.1:0".parse().unwrap(), ..Config::default() }
}

impl Relay {
    /// Start a relay with the default limits on an OS-assigned port.
    pub fn start() -> Relay {
        Relay::start_with(test_config())
    }

    /// Start a relay with this configuration.
    pub fn start_with(config: Config) -> Relay {
        Relay::run(Reactor::bind(config).expect("bind"))
    }

    /// Run an already configured reactor.
    pub fn run(mut reactor: Reactor) -> Relay {
        let addr = reactor.local_addr();
        let handle = reactor.handle();
        let thread = std::thread::spawn(move || reactor.run());
        Relay { addr, handle, thread: Some(thread) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    pub fn stats(&self) -> Stats {
        self.handle.stats(IO_TIMEOUT).expect("stats")
    }

    /// Stop gracefully and wait for `run()` to return.
    pub fn stop(mut self) {
        self.handle.stop();
        if let Some(t) = self.thread.take() {
            t.join().expect("reactor thread panicked").expect("reactor failed");
        }
    }

    /// Wait until `pred` holds for the relay's counters (polling the handle; no fixed sleeps).
    pub fn wait_stats(&self, what: &str, pred: impl Fn(&Stats) -> bool) -> Stats {
        let deadline = std::time::Instant::now() + IO_TIMEOUT;
        loop {
            let s = self.stats();
            if pred(&s) {
                return s;
            }
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}: {s:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

/// Connect a tungstenite client; panics on failure.
pub fn connect(url: &str) -> Ws {
    let (ws, resp) = tungstenite::connect(url).unwrap_or_else(|e| panic!("connect {url}: {e}"));
    assert_eq!(resp.status(), 101);
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_nodelay(true).unwrap();
    }
    ws
}

/// Read the next data message (pings and pongs are skipped; tungstenite answers pings).
pub fn next_data<S: Read + Write>(ws: &mut WebSocket<S>) -> Message {
    loop {
        match ws.read().expect("read") {
            m @ (Message::Text(_) | Message::Binary(_)) => return m,
            Message::Close(c) => panic!("unexpected close: {c:?}"),
            _ => {}
        }
    }
}

/// Read until the server closes; return its close code and reason.
pub fn expect_close<S: Read + Write>(ws: &mut WebSocket<S>) -> (CloseCode, String) {
    loop {
        match ws.read() {
            Ok(Message::Close(Some(f))) => return (f.code, f.reason.to_string()),
            Ok(Message::Close(None)) => panic!("close without a code"),
            Ok(_) => {}
            Err(e) => panic!("connection ended without a close frame: {e}"),
        }
    }
}

/// A raw TCP client for hand-made requests and frames.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// Bytes read from the socket so far (what came over the wire).
    pub received: u64,
}

/// A frame read by [`Raw::read_frame`].
#[derive(Debug, PartialEq, Eq)]
pub struct RawFrame {
    pub fin: bool,
    /// RSV1: a compressed message's first frame (permessage-deflate).
    pub rsv1: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Raw { stream, buf: Vec::new(), received: 0 }
    }

    /// A valid upgrade request for `path`.
    pub fn upgrade_request(path: &str) -> String {
        format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
        )
    }

    /// Connect and complete the upgrade to `path`.
    pub fn upgraded(addr: SocketAddr, path: &str) -> Raw {
        let mut raw = Raw::connect(addr);
        raw.send(Raw::upgrade_request(path).as_bytes());
        let (status, _, _) = raw.read_response_head();
        assert_eq!(status, 101);
        raw
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk).expect("read");
        self.buf.extend_from_slice(&chunk[..n]);
        self.received += n as u64;
        n
    }

    /// Read a response head: (status, raw head text, bytes of body already read are kept).
    pub fn read_response_head(&mut self) -> (u16, String, ()) {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end + 4]).to_string();
                self.buf.drain(..end + 4);
                let status = head[9..12].parse().expect("status code");
                return (status, head, ());
            }
            assert!(
                self.fill() > 0,
                "EOF before a response head; got {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    /// Send a request and read the whole response (the server closes after errors).
    pub fn http(addr: SocketAddr, request: &[u8]) -> (u16, String) {
        let mut raw = Raw::connect(addr);
        raw.send(request);
        let (status, head, ()) = raw.read_response_head();
        (status, head)
    }

    /// Read everything until EOF.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        while self.fill() > 0 {}
        std::mem::take(&mut self.buf)
    }

    /// Send one frame, masked as a client must (unless `masked` is false).
    pub fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8], masked: bool) {
        self.send(&encode_frame(fin, opcode, payload, masked));
    }

    /// Read one server frame.
    pub fn read_frame(&mut self) -> RawFrame {
        loop {
            if let Some((frame, used)) = decode_frame(&self.buf) {
                self.buf.drain(..used);
                return frame;
            }
            assert!(self.fill() > 0, "EOF before a whole frame");
        }
    }

    /// Read frames until a close frame; return its code and reason.
    pub fn expect_close(&mut self) -> (u16, String) {
        loop {
            let f = self.read_frame();
            if f.opcode == 8 {
                assert!(f.payload.len() >= 2, "close frame without a code");
                let code = u16::from_be_bytes([f.payload[0], f.payload[1]]);
                return (code, String::from_utf8_lossy(&f.payload[2..]).to_string());
            }
        }
    }
}

pub fn encode_frame(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n < 65536 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

fn decode_frame(buf: &[u8]) -> Option<(RawFrame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    assert_eq!(buf[1] & 0x80, 0, "server frames must not be masked");
    let (len, mut pos) = match buf[1] & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (n as usize, 2),
    };
    let payload = buf.get(pos..pos + len)?.to_vec();
    pos += len;
    let (fin, rsv1, opcode) = (buf[0] & 0x80 != 0, buf[0] & 0x40 != 0, buf[0] & 0x0f);
    Some((RawFrame { fin, rsv1, opcode, payload }, pos))
}

/// Raise this process's soft file-descriptor limit to the hard limit (for tests that open many
/// sockets); returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    lim.rlim_cur
}

/// The real `sluice` binary, killed when dropped.
pub struct Binary {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    pub stderr_lines: std::sync::mpsc::Receiver<String>,
}

impl Binary {
    /// Start `sluice` with these arguments (plus `--listen 127.0.0.1:0` unless one is given)
    /// and wait for its "listening on" log line.
    pub fn start(args: &[&str]) -> Binary {
        Binary::start_with(args, |_| {})
    }

    /// Start `sluice` with a soft and hard limit of `nofile` file descriptors.
    pub fn start_with_fd_limit(args: &[&str], nofile: u64) -> Binary {
        use std::os::unix::process::CommandExt;
        Binary::start_with(args, |cmd| {
            // SAFETY: the closure runs in the forked child before exec and calls only
            // setrlimit(2), which is async-signal-safe, on a struct on its own stack.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit { rlim_cur: nofile, rlim_max: nofile };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        })
    }

    /// Start `sluice` with these arguments after `configure` adjusts the command.
    pub fn start_with(args: &[&str], configure: impl FnOnce(&mut std::process::Command)) -> Binary {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.args(args);
        configure(&mut cmd);
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        let mut child = cmd
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn sluice");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Owned by the guard from here on, so every panic path below kills and reaps it.
        let mut bin = Binary { child, addr: SocketAddr::from(([0, 0, 0, 0], 0)), stderr_lines: rx };
        let mut seen = Vec::new();
        loop {
            let line = bin
                .stderr_lines
                .recv_timeout(IO_TIMEOUT)
                .unwrap_or_else(|_| panic!("no listening line; stderr: {seen:?}"));
            if let Some(rest) = line.split("listening on ").nth(1) {
                bin.addr = rest.split_whitespace().next().unwrap().parse().expect("address");
                return bin;
            }
            seen.push(line);
        }
    }

    /// The process id (for /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal to the process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with the pid of a child we own.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Wait for the process to exit; panics after `IO_TIMEOUT`.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + IO_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "sluice did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
