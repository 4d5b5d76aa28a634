//! Upstreams that misbehave: connection refused, a handshake that never comes, `404`, a wrong
//! `Sec-WebSocket-Accept`, a masked frame, a stall. Each gives a status event naming the cause,
//! and the connector tries again (the server sees a second connection).
//!
//! The misbehaving servers are written here with `std::net` (they must do what no real
//! WebSocket library would).

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use sluice::Connector;
use util::upstream::{quick_backoff, wait_json};
use util::{connect, watchdog, Relay, IO_TIMEOUT};

/// What the fake upstream does with each connection.
#[derive(Clone, Copy)]
enum Misbehave {
    Silent,
    NotFound,
    WrongAccept,
    MaskedFrame,
    Stall,
}

/// Run a fake upstream; each accepted connection is reported (with what the client sent after
/// the handshake, for the cases that read it) on the returned channel.
fn fake_upstream(how: Misbehave) -> (u16, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || serve(stream, how, tx));
        }
    });
    (port, rx)
}

fn serve(mut s: TcpStream, how: Misbehave, tx: mpsc::Sender<Vec<u8>>) {
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let head = read_head(&mut s);
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap_or_default()
        .trim()
        .to_string();
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let ok = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    match how {
        Misbehave::Silent => {}
        Misbehave::NotFound => {
            let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
        Misbehave::WrongAccept => {
            let _ = s.write_all(ok.replace(&accept, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=").as_bytes());
        }
        Misbehave::MaskedFrame => {
            let _ = s.write_all(ok.as_bytes());
            let _ = s.write_all(&util::encode_frame(true, 1, b"masked!", true));
        }
        Misbehave::Stall => {
            let _ = s.write_all(ok.as_bytes());
            let _ = s.write_all(&util::encode_frame(true, 1, b"then nothing", false));
        }
    }
    // Read whatever the client sends until it closes (pings are never answered).
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let _ = tx.send(got);
}

fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).to_string()
}

/// Client frames, unmasked: (opcode, payload).
fn client_frames(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while b.len() >= 2 {
        assert_eq!(b[1] & 0x80, 0x80, "client frames must be masked");
        let (len, mut at) = match b[1] & 0x7f {
            126 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 => (u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        let mask = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        at += 4;
        let payload: Vec<u8> =
            b[at..at + len].iter().enumerate().map(|(i, x)| x ^ mask[i % 4]).collect();
        out.push((b[0] & 0x0f, payload));
        b = &b[at + len..];
    }
    out
}

/// Start a relay with a source to `port`; return it and a subscriber of the status topic.
fn source_to(port: u16, tune: impl FnOnce(Connector) -> Connector) -> (Relay, util::Ws) {
    let relay = Relay::start();
    let status = connect(&relay.url("/sub/raw.status"));
    let url = format!("ws://127.0.0.1:{port}/feed");
    let c = tune(Connector::source("feed", &url, "raw").backoff(quick_backoff()));
    relay.handle.add_connector(c, IO_TIMEOUT).unwrap();
    (relay, status)
}

fn failed_with(status: &mut util::Ws, want: &str) -> Value {
    let e = wait_json(status, "connect_failed", |e| e["event"] == "connect_failed");
    let reason = e["reason"].as_str().unwrap();
    assert!(reason.contains(want), "reason {reason:?} lacks {want:?}");
    e
}

#[test]
fn a_refused_connection_is_retried() {
    watchdog(60, || {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (relay, mut status) = source_to(port, |c| c);
        let first =
            failed_with(&mut status, &format!("connect to 127.0.0.1:{port}: Connection refused"));
        assert_eq!(first["attempt"], 1);
        let second = failed_with(&mut status, "refused");
        assert_eq!(second["attempt"], 2);
        let s = relay.wait_stats("failures", |s| s.connectors[0].connect_failures >= 2);
        assert_eq!(s.connectors[0].connects, 0);
        // Readiness and metrics show it.
        let (code, head) =
            util::Raw::http(relay.addr, b"GET /readyz HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert_eq!(code, 503, "{head}");
        let mut raw = util::Raw::connect(relay.addr);
        raw.send(b"GET /readyz HTTP/1.1\r\nConnection: close\r\n\r\n");
        let body = String::from_utf8_lossy(&raw.read_to_end()).to_string();
        assert!(body.contains("connectors: FAIL (0 of 1 open; feed: "), "{body}");
        let mut raw = util::Raw::connect(relay.addr);
        raw.send(b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
        let metrics = String::from_utf8_lossy(&raw.read_to_end()).to_string();
        assert!(
            metrics.contains("sluice_connector_up{connector=\"feed\",kind=\"source\"} 0"),
            "{metrics}"
        );
        assert!(metrics.contains(
            "sluice_connector_connect_failures_total{connector=\"feed\",kind=\"source\"} "
        ));
        relay.stop();
    });
}

#[test]
fn a_handshake_that_never_comes_times_out_and_is_retried() {
    watchdog(60, || {
        let (port, conns) = fake_upstream(Misbehave::Silent);
        let (relay, mut status) =
            source_to(port, |c| c.connect_timeout(Duration::from_millis(300)));
        failed_with(&mut status, "handshake timed out after 300ms");
        conns.recv_timeout(IO_TIMEOUT).expect("first connection ended");
        conns.recv_timeout(IO_TIMEOUT).expect("a second attempt");
        relay.stop();
    });
}

#[test]
fn a_404_fails_the_attempt_with_the_status() {
    watchdog(60, || {
        let (port, conns) = fake_upstream(Misbehave::NotFound);
        let (relay, mut status) = source_to(port, |c| c);
        failed_with(&mut status, "handshake refused: HTTP 404 Not Found");
        conns.recv_timeout(IO_TIMEOUT).expect("first connection");
        failed_with(&mut status, "HTTP 404");
        relay.stop();
    });
}

#[test]
fn a_wrong_accept_key_fails_the_attempt() {
    watchdog(60, || {
        let (port, conns) = fake_upstream(Misbehave::WrongAccept);
        let (relay, mut status) = source_to(port, |c| c);
        failed_with(&mut status, "wrong Sec-WebSocket-Accept");
        conns.recv_timeout(IO_TIMEOUT).expect("first connection");
        conns.recv_timeout(IO_TIMEOUT).expect("a second attempt");
        assert_eq!(relay.stats().connectors[0].connects, 0);
        relay.stop();
    });
}

#[test]
fn a_masked_frame_from_the_upstream_is_closed_with_1002_and_reconnected() {
    watchdog(60, || {
        let (port, conns) = fake_upstream(Misbehave::MaskedFrame);
        let (relay, mut status) = source_to(port, |c| c);
        wait_json(&mut status, "connected", |e| e["event"] == "connected");
        let down = wait_json(&mut status, "disconnected", |e| e["event"] == "disconnected");
        let reason = down["reason"].as_str().unwrap();
        assert!(reason.contains("1002") && reason.contains("must not be masked"), "{reason}");
        // The upstream got a masked close frame with 1002 and the reason.
        let got = conns.recv_timeout(IO_TIMEOUT).expect("first connection");
        let frames = client_frames(&got);
        let close = frames.iter().find(|(op, _)| *op == 8).expect("a close frame");
        assert_eq!(u16::from_be_bytes([close.1[0], close.1[1]]), 1002);
        wait_json(&mut status, "reconnected", |e| {
            e["event"] == "connected" && e["reconnect"] == true
        });
        let s = relay.stats();
        assert!(s.protocol_closes >= 1);
        relay.stop();
    });
}

#[test]
fn a_stalled_upstream_is_pinged_then_dropped_and_reconnected() {
    watchdog(60, || {
        let (port, conns) = fake_upstream(Misbehave::Stall);
        let (relay, mut status) = source_to(port, |c| {
            c.ping_interval(Duration::from_millis(100)).stall_timeout(Duration::from_millis(400))
        });
        let mut raw = connect(&relay.url("/sub/raw"));
        let down = wait_json(&mut status, "disconnected", |e| e["event"] == "disconnected");
        assert_eq!(down["reason"], "stalled: nothing received for 400ms");
        let got = conns.recv_timeout(IO_TIMEOUT).expect("first connection");
        let frames = client_frames(&got);
        assert!(frames.iter().filter(|(op, _)| *op == 9).count() >= 2, "pings: {frames:?}");
        let close = frames.last().expect("frames");
        assert_eq!((close.0, u16::from_be_bytes([close.1[0], close.1[1]])), (8, 1001));
        // It connects again and gets the first message again.
        wait_json(&mut status, "reconnected", |e| {
            e["event"] == "connected" && e["reconnect"] == true
        });
        assert_eq!(util::next_data(&mut raw), tungstenite::Message::text("then nothing"));
        relay.stop();
    });
}
