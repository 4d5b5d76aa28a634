//! `--self-test`: how much the tool itself costs, measured three ways in one process.
//!
//! 1. The per-message work, timed over many iterations with no I/O: encoding (stamp + mask +
//!    frame) on the sending side; frame parse + stamp decode + sequence check + two histogram
//!    records on the receiving side.
//! 2. The floor under the measurement: plain TCP ping-pong through an in-process echo.
//! 3. The `echo` scenario through an in-process loopback WebSocket echo server (a thread per
//!    connection that unmasks and writes each frame back, nothing else), at the given rate.
//!
//! The difference between (3) and (2) bounds what the tool, WebSocket framing and the thread
//! hand-offs add to a round trip; (1) is the CPU cost per message.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_ns;
use crate::dial::WsUrl;
use crate::frame::{self, apply_mask, encode_masked, Masker, OP_TEXT};
use crate::payload::{read_stamp, stamp_offset, template, write_stamp, Format, Stamp};
use crate::recorder::Recorder;
use crate::report::Summary;
use crate::run::{self, Kind, Spec};
use crate::tcp::{self, TcpSpec};
use crate::track::Track;

/// Results of the self-test.
pub struct SelfTest {
    /// Encoding cost per message, ns.
    pub encode_ns: f64,
    /// Receive-side cost per message, ns.
    pub decode_ns: f64,
    /// TCP ping-pong through the in-process echo.
    pub tcp: Summary,
    /// The echo scenario through the in-process WebSocket echo.
    pub echo: Summary,
    /// Histograms of the echo run.
    pub recorder: Recorder,
}

fn microbench(size: usize, iterations: u64) -> (f64, f64) {
    let format = Format::Json;
    let mut payload = template(format, size);
    let offset = stamp_offset(format);
    let mut masker = Masker::new(1);
    let mut out = Vec::with_capacity(1 << 20);
    let t = now_ns();
    for k in 0..iterations {
        if out.len() > (1 << 20) - 256 {
            out.clear();
        }
        let stamp = Stamp { sender: 0, seq: k, intended: t + k, sent: t + k };
        write_stamp(&mut payload, offset, &stamp);
        encode_masked(&mut out, OP_TEXT, &payload, masker.next());
    }
    let encode = (now_ns() - t) as f64 / iterations as f64;
    // Server frames of the same payloads to decode.
    let mut frames = Vec::new();
    for k in 0..1000u64 {
        let stamp = Stamp { sender: 0, seq: k, intended: t + k, sent: t + k };
        write_stamp(&mut payload, offset, &stamp);
        frames.push(0x81);
        frames.push(payload.len().min(125) as u8);
        frames.extend_from_slice(&payload[..payload.len().min(125)]);
    }
    let mut rec = Recorder::default();
    let mut track = Track::default();
    let rounds = (iterations / 1000).max(1);
    let t = now_ns();
    let mut seen = 0u64;
    for _ in 0..rounds {
        let mut pos = 0;
        let now = now_ns();
        track = Track::default();
        while let Ok(Some((f, n))) = frame::parse(&frames[pos..]) {
            if let Some(s) = read_stamp(f.payload) {
                if track.on_seq(s.seq) {
                    rec.record(s.intended, s.sent, now);
                    seen += 1;
                }
            }
            pos += n;
        }
    }
    let decode = (now_ns() - t) as f64 / seen.max(1) as f64;
    std::hint::black_box((&out, &rec, &track));
    (encode, decode)
}

/// A loopback WebSocket echo server: thread per connection, frames unmasked and written back.
pub fn spawn_ws_echo() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new().name("ws-echo".into()).spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || ws_echo_conn(s));
        }
    })?;
    Ok(addr)
}

fn ws_echo_conn(mut s: std::net::TcpStream) {
    let _ = s.set_nodelay(true);
    let mut buf = vec![0u8; 256 * 1024];
    let mut have = 0;
    // The upgrade request.
    let key = loop {
        let Ok(n) = s.read(&mut buf[have..]) else { return };
        if n == 0 {
            return;
        }
        have += n;
        let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.copy_within(end + 4..have, 0);
        have -= end + 4;
        let key = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim().eq_ignore_ascii_case("sec-websocket-key").then(|| value.trim().to_string())
        });
        match key {
            Some(k) => break k,
            None => return,
        }
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if s.write_all(resp.as_bytes()).is_err() {
        return;
    }
    let mut out = Vec::with_capacity(256 * 1024);
    loop {
        let mut pos = 0;
        out.clear();
        while have - pos >= 6 {
            let b1 = buf[pos + 1];
            let (len, hl) = match b1 & 0x7f {
                126 => (u16::from_be_bytes([buf[pos + 2], buf[pos + 3]]) as usize, 4),
                127 => break, // not used by the self-test
                n => (n as usize, 2),
            };
            if have - pos < hl + 4 + len {
                break;
            }
            let mask = [buf[pos + hl], buf[pos + hl + 1], buf[pos + hl + 2], buf[pos + hl + 3]];
            let body = pos + hl + 4;
            apply_mask(&mut buf[body..body + len], mask);
            out.push(buf[pos]);
            out.extend_from_slice(&buf[pos + 1..pos + hl]);
            let second = out.len() - (hl - 1);
            out[second] &= 0x7f;
            out.extend_from_slice(&buf[body..body + len]);
            pos = body + len;
        }
        if !out.is_empty() && s.write_all(&out).is_err() {
            return;
        }
        buf.copy_within(pos..have, 0);
        have -= pos;
        match s.read(&mut buf[have..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
    }
}

/// Run the self-test.
pub fn run(
    rate: f64,
    duration: Duration,
    size: usize,
    stop: Arc<AtomicBool>,
) -> Result<SelfTest, String> {
    let (encode_ns, decode_ns) = microbench(size, 2_000_000);
    let tcp_addr = tcp::spawn_echo().map_err(|e| e.to_string())?;
    let (tcp, _) = tcp::run(&TcpSpec {
        addr: tcp_addr,
        rate: rate.min(20_000.0),
        size,
        duration,
        warmup: Duration::from_millis(200),
    })?;
    let ws_addr = spawn_ws_echo().map_err(|e| e.to_string())?;
    let url = WsUrl::parse(&format!("ws://{ws_addr}/echo"))?;
    let spec = Spec {
        kind: Kind::Echo,
        send_url: url,
        sub_url: None,
        senders: 1,
        subs: 0,
        rate,
        window: 0,
        duration,
        warmup: Duration::from_millis(200),
        drain: Duration::from_secs(2),
        size,
        format: Format::Json,
        binary: false,
        envelope: false,
        threads: 1,
        progress: false,
        connect_timeout: Duration::from_secs(10),
    };
    let out = run::run(&spec, stop)?;
    Ok(SelfTest { encode_ns, decode_ns, tcp, echo: out.summary, recorder: out.recorder })
}
