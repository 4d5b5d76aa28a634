//! Attack: one client pipelines plain-HTTP requests (200 per `send`) for 10 s — 100,000
//! `GET /metrics`, or up to 2,000,000 `HEAD /healthz` — and never reads the answers. The answers a connection has queued are bounded by `max_queued_bytes`: past it
//! the relay stops reading that connection's requests until they drain (backpressure), so the
//! relay's memory stays bounded, a bystander loses nothing, and the answers that were queued are
//! whole and in order when the client finally reads.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use util::attack::{during, rss_kib, Bystander};
use util::{watchdog, Binary, IO_TIMEOUT};

const PER_SEND: usize = 200;
const ATTACK_FOR: Duration = Duration::from_secs(10);

/// Pipeline up to `requests` copies of `request` for `ATTACK_FOR` (a relay that stops reading
/// makes the writes wait); never read. Returns the socket and how many requests were written.
fn pipeline(addr: std::net::SocketAddr, request: &[u8], requests: usize) -> (TcpStream, usize) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nonblocking(true).unwrap();
    let chunk: Vec<u8> = request.repeat(PER_SEND);
    let (mut sent, mut pos) = (0, 0);
    let started = Instant::now();
    while started.elapsed() < ATTACK_FOR {
        if sent >= requests {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        match s.write(&chunk[pos..]) {
            Ok(n) => {
                pos += n;
                if pos == chunk.len() {
                    pos = 0;
                    sent += PER_SEND;
                }
            }
            // The relay stopped reading this connection: its socket buffers are full.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("attacker write failed after {sent} requests: {e}"),
        }
    }
    (s, sent)
}

/// Read the first `n` responses from `s` and check each is a whole `200`.
fn read_answers(s: &mut TcpStream, n: usize, head_only: bool) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    for i in 0..n {
        let (head_len, body_len) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                assert!(head.starts_with("HTTP/1.1 200"), "answer {i}: {head}");
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .expect("Content-Length");
                break (end + 4, if head_only { 0 } else { len });
            }
            let got = s.read(&mut chunk).expect("read an answer");
            assert!(got > 0, "the relay closed the connection after {i} answers");
            buf.extend_from_slice(&chunk[..got]);
        };
        while buf.len() < head_len + body_len {
            let got = s.read(&mut chunk).expect("read a body");
            assert!(got > 0, "the relay closed the connection inside answer {i}");
            buf.extend_from_slice(&chunk[..got]);
        }
        buf.drain(..head_len + body_len);
    }
}

fn attack(request: &'static [u8], requests: usize, head_only: bool) {
    let mut bin = Binary::start(&[]);
    let mut bystander = Bystander::start(bin.addr);
    bystander.assert_flowing("before the attack");
    let base = rss_kib(bin.pid());
    let bound = base + 64 * 1024;
    let addr = bin.addr;
    let attacker = std::sync::Mutex::new(None);
    during(&mut bin, &mut bystander, bound, 1, |_| {
        *attacker.lock().unwrap() = Some(pipeline(addr, request, requests));
    });
    let (mut s, sent) = attacker.into_inner().unwrap().expect("the attack ran");
    eprintln!("{sent} requests pipelined; RSS {} KiB (started at {base} KiB)", rss_kib(bin.pid()));
    // The connection is still served, in order, once its client reads.
    read_answers(&mut s, 1000, head_only);
}

#[test]
fn pipelined_metrics_requests_never_read_keep_memory_bounded() {
    watchdog(180, || attack(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 100_000, false));
}

#[test]
fn pipelined_head_requests_never_read_keep_memory_bounded() {
    watchdog(180, || attack(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 2_000_000, true));
}
