//! Soak test (not run in CI): mixed load with churning connections against the real binary for
//! `SOAK_SECS` seconds (default 1800), then the relay's RSS and open descriptors must return to
//! what they were after a warm-up: descriptors exactly, RSS within 10% + 4 MiB.
//!
//! ```sh
//! SOAK_SECS=1800 cargo test --release --test soak -- --ignored --nocapture
//! ```
//!
//! The load, all at once: publishers on four topics that reconnect every few thousand
//! messages; subscribers that stay 0.2–3 s, then close cleanly or just drop the socket; echo
//! clients; a subscriber that never reads (closed as a slow consumer, then back); hostile
//! clients (oversize frames, bad close codes, garbage requests, half requests, slowloris
//! sockets); plain HTTP health checks.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::Message;
use util::attack::{fd_count, rss_kib};
use util::{connect, encode_frame, raise_fd_limit, Binary, Raw};

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    received: AtomicU64,
    echoed: AtomicU64,
    connections: AtomicU64,
    slow_closes: AtomicU64,
    hostile: AtomicU64,
    http: AtomicU64,
    errors: AtomicU64,
}

/// A tiny deterministic generator (xorshift), so runs are repeatable without a crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn publisher(addr: SocketAddr, id: u64, stop: &AtomicBool, c: &Counters) {
    let mut rng = Rng(0x9e37_79b9 ^ id);
    while !stop.load(Relaxed) {
        let Ok((mut ws, _)) = tungstenite::connect(format!("ws://{addr}/pub/t{}", id % 4)) else {
            c.errors.fetch_add(1, Relaxed);
            continue;
        };
        c.connections.fetch_add(1, Relaxed);
        for _ in 0..2000 + rng.below(3000) {
            if stop.load(Relaxed) {
                break;
            }
            let len = 16 + rng.below(1000) as usize;
            if ws.send(Message::binary(vec![b'p'; len])).is_err() {
                c.errors.fetch_add(1, Relaxed);
                break;
            }
            c.published.fetch_add(1, Relaxed);
            std::thread::sleep(Duration::from_micros(1500));
        }
        let _ = ws.close(None);
        let _ = ws.flush();
    }
}

fn subscriber(addr: SocketAddr, id: u64, stop: &AtomicBool, c: &Counters) {
    let mut rng = Rng(0x51ed_270b ^ id);
    while !stop.load(Relaxed) {
        let topics = format!("t{},t{}", rng.below(4), rng.below(4));
        let Ok((mut ws, _)) = tungstenite::connect(format!("ws://{addr}/sub/{topics}")) else {
            c.errors.fetch_add(1, Relaxed);
            continue;
        };
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        }
        c.connections.fetch_add(1, Relaxed);
        let until = Instant::now() + Duration::from_millis(200 + rng.below(2800));
        while Instant::now() < until {
            match ws.read() {
                Ok(m) if m.is_binary() => {
                    c.received.fetch_add(1, Relaxed);
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if rng.below(2) == 0 {
            let _ = ws.close(None);
            let _ = ws.flush();
        } // else: drop the socket without a close frame
    }
}

fn echo(addr: SocketAddr, id: u64, stop: &AtomicBool, c: &Counters) {
    let mut rng = Rng(0x2545_f491 ^ id);
    while !stop.load(Relaxed) {
        let mut ws = connect(&format!("ws://{addr}/echo"));
        c.connections.fetch_add(1, Relaxed);
        for _ in 0..500 {
            let len = rng.below(4096) as usize;
            let text = rng.below(2) == 0;
            let msg =
                if text { Message::text("e".repeat(len)) } else { Message::binary(vec![1; len]) };
            if ws.send(msg.clone()).is_err() {
                c.errors.fetch_add(1, Relaxed);
                break;
            }
            match util::next_data(&mut ws) {
                m if m == msg => c.echoed.fetch_add(1, Relaxed),
                _ => c.errors.fetch_add(1, Relaxed),
            };
        }
        let _ = ws.close(None);
        let _ = ws.flush();
    }
}

fn slow_consumer(addr: SocketAddr, stop: &AtomicBool, c: &Counters) {
    while !stop.load(Relaxed) {
        let mut raw = Raw::upgraded(addr, "/sub/t0,t1,t2,t3");
        c.connections.fetch_add(1, Relaxed);
        // Never read until the server has given up on us (or the soak ends).
        let mut polls = 0;
        while !stop.load(Relaxed) && polls < 400 {
            std::thread::sleep(Duration::from_millis(50));
            polls += 1;
        }
        // Then read what the relay still sends: a subscriber that fell behind is cut off (its
        // close frame may never have fit in its socket), so the stream ends.
        raw.stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let ended = loop {
            match raw.stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break false
                }
                Err(_) => break true,
            }
        };
        if ended {
            c.slow_closes.fetch_add(1, Relaxed);
        }
    }
}

fn hostile(addr: SocketAddr, stop: &AtomicBool, c: &Counters) {
    let mut rng = Rng(0xdead_beef);
    let mut slowloris: Vec<TcpStream> = Vec::new();
    while !stop.load(Relaxed) {
        match rng.below(6) {
            0 => {
                let mut raw = Raw::upgraded(addr, "/echo");
                raw.send(&encode_frame(true, 2, &vec![0; (1 << 20) + 1], true));
                let _ = raw.expect_close();
            }
            1 => {
                let mut raw = Raw::upgraded(addr, "/pub/t1");
                raw.send(&encode_frame(true, 8, &1005u16.to_be_bytes(), true));
                let _ = raw.expect_close();
            }
            2 => {
                let _ = Raw::http(addr, b"\x16\x03\x01garbage\r\n\r\n");
            }
            3 => {
                // Half a request, then gone.
                let mut s = TcpStream::connect(addr).unwrap();
                let _ = s.write_all(b"GET /sub/t1 HTTP/1.1\r\nUpgr");
            }
            4 => {
                if slowloris.len() < 50 {
                    let mut s = TcpStream::connect(addr).unwrap();
                    let _ = s.write_all(b"G");
                    slowloris.push(s);
                } else {
                    slowloris.clear();
                }
            }
            _ => {
                let mut raw = Raw::upgraded(addr, "/echo");
                raw.send(&encode_frame(false, 1, b"never", true));
                // …and never finish the message: dropped with the socket.
            }
        }
        c.hostile.fetch_add(1, Relaxed);
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn health(addr: SocketAddr, stop: &AtomicBool, c: &Counters) {
    while !stop.load(Relaxed) {
        let (status, _) =
            Raw::http(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        if status == 200 {
            c.http.fetch_add(1, Relaxed);
        } else {
            c.errors.fetch_add(1, Relaxed);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Run the mixed load for `secs`, printing a line every `report` seconds.
fn load(addr: SocketAddr, pid: u32, secs: u64, report: u64) -> Arc<Counters> {
    let c = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    type Role = fn(SocketAddr, u64, &AtomicBool, &Counters);
    let roles: [(Role, u64); 3] = [(publisher, 4), (subscriber, 12), (echo, 2)];
    for (role, n) in roles {
        for id in 0..n {
            let (c, stop) = (c.clone(), stop.clone());
            threads.push(std::thread::spawn(move || role(addr, id, &stop, &c)));
        }
    }
    for role in [slow_consumer as fn(SocketAddr, &AtomicBool, &Counters), hostile, health] {
        let (c, stop) = (c.clone(), stop.clone());
        threads.push(std::thread::spawn(move || role(addr, &stop, &c)));
    }
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(report.min(secs)));
        eprintln!(
            "soak {:>5}s: RSS {} KiB, fds {}, published {}, received {}, echoed {}, connections {}, \
             slow closes {}, hostile {}, http {}, client errors {}",
            started.elapsed().as_secs(),
            rss_kib(pid),
            fd_count(pid),
            c.published.load(Relaxed),
            c.received.load(Relaxed),
            c.echoed.load(Relaxed),
            c.connections.load(Relaxed),
            c.slow_closes.load(Relaxed),
            c.hostile.load(Relaxed),
            c.http.load(Relaxed),
            c.errors.load(Relaxed),
        );
    }
    stop.store(true, Relaxed);
    for t in threads {
        t.join().expect("load thread panicked");
    }
    c
}

/// Wait until the relay holds no client connection: its descriptor count is back to `fds`.
fn quiesce(pid: u32, fds: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = fd_count(pid);
        if now <= fds || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "soak test: 30 minutes; run it by hand (see the module docs)"]
fn soak() {
    let secs: u64 = std::env::var("SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(1800);
    raise_fd_limit();
    let bin = Binary::start(&[
        "--max-queued-bytes",
        "1MiB",
        "--handshake-timeout",
        "5s",
        "--idle-ping",
        "2s",
        "--pong-timeout",
        "5s",
        "--close-timeout",
        "2s",
    ]);
    let pid = bin.pid();
    let idle_fds = fd_count(pid);
    let cold_rss = rss_kib(pid);
    let warmup = (secs / 10).clamp(10, 120);
    eprintln!("warm-up {warmup}s (idle: RSS {cold_rss} KiB, fds {idle_fds})");
    load(bin.addr, pid, warmup, warmup);
    let warm_fds = quiesce(pid, idle_fds);
    let warm_rss = rss_kib(pid);
    eprintln!("after warm-up: RSS {warm_rss} KiB, fds {warm_fds}");

    let c = load(bin.addr, pid, secs, 60.min(secs));
    let end_fds = quiesce(pid, warm_fds);
    let end_rss = rss_kib(pid);
    let peak = util::attack::peak_rss_kib(pid);
    eprintln!(
        "soak done after {secs}s: RSS {end_rss} KiB (after warm-up {warm_rss}, peak {peak}), \
         fds {end_fds} (after warm-up {warm_fds})"
    );
    assert!(c.received.load(Relaxed) > 0 && c.echoed.load(Relaxed) > 0, "the load ran");
    assert_eq!(end_fds, warm_fds, "descriptors leaked");
    let margin = warm_rss / 10 + 4096;
    assert!(
        end_rss <= warm_rss + margin,
        "RSS grew from {warm_rss} to {end_rss} KiB (margin {margin})"
    );
}
