//! The reactor's timers follow its clock: with a manual clock, a test drives the handshake
//! deadline and the keepalive ping and timeout by moving the clock, without sleeping. The test
//! drives the loop itself with `poll_once`, on its own thread, next to non-blocking clients.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use sluice::{Clock, Reactor};
use util::{encode_frame, test_config, watchdog, IO_TIMEOUT};

/// Turn the loop until `done` holds (each turn waits at most a few milliseconds for events).
fn turn_until(reactor: &mut Reactor, what: &str, mut done: impl FnMut(&mut Reactor) -> bool) {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        reactor.poll_once(Some(Duration::from_millis(5))).expect("poll_once");
        if done(reactor) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
    }
}

/// Append what a non-blocking socket has to `buf`; true at EOF.
fn drain(s: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn reactor_with_manual_clock() -> (Reactor, Clock) {
    let mut config = test_config();
    config.limits.handshake_timeout = Duration::from_secs(10);
    config.limits.idle_ping = Duration::from_secs(30);
    config.limits.pong_timeout = Duration::from_secs(10);
    let mut reactor = Reactor::bind(config).expect("bind");
    let clock = Clock::manual(1_000_000);
    reactor.set_clock(clock.clone());
    (reactor, clock)
}

#[test]
fn the_handshake_deadline_is_the_clocks() {
    watchdog(60, || {
        let (mut reactor, clock) = reactor_with_manual_clock();
        let mut idle = TcpStream::connect(reactor.local_addr()).unwrap();
        idle.set_nonblocking(true).unwrap();
        turn_until(&mut reactor, "the accept", |r| r.stats().connections_open == 1);
        // A hair before the deadline: still held, however many turns.
        clock.advance(9_999);
        for _ in 0..5 {
            reactor.poll_once(Some(Duration::ZERO)).unwrap();
        }
        assert_eq!(reactor.stats().connections_open, 1);
        assert_eq!(reactor.stats().handshake_timeouts, 0);
        // Past it: dropped at once.
        clock.advance(2);
        turn_until(&mut reactor, "the deadline", |r| r.stats().connections_open == 0);
        assert_eq!(reactor.stats().handshake_timeouts, 1);
        let mut buf = Vec::new();
        let deadline = Instant::now() + IO_TIMEOUT;
        while !drain(&mut idle, &mut buf) {
            assert!(Instant::now() < deadline, "the socket was not closed");
            reactor.poll_once(Some(Duration::from_millis(5))).unwrap();
        }
        assert!(buf.is_empty(), "nothing is answered to a silent client: {buf:?}");
    });
}

#[test]
fn keepalive_pings_then_closes_on_the_clocks_time() {
    watchdog(60, || {
        let (mut reactor, clock) = reactor_with_manual_clock();
        let mut ws = TcpStream::connect(reactor.local_addr()).unwrap();
        ws.set_nodelay(true).unwrap();
        ws.write_all(util::Raw::upgrade_request("/sub/quiet").as_bytes()).unwrap();
        ws.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        turn_until(&mut reactor, "the 101", |_| {
            drain(&mut ws, &mut got);
            got.windows(4).any(|w| w == b"\r\n\r\n")
        });
        assert!(got.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&got));
        got.clear();
        // Idle for 30 s of the clock's time: a ping (an empty one, unmasked: 0x89 0x00).
        clock.advance(30_001);
        turn_until(&mut reactor, "the keepalive ping", |_| {
            drain(&mut ws, &mut got);
            got.len() >= 2
        });
        assert_eq!(got, [0x89, 0x00]);
        got.clear();
        // A pong before the timeout keeps the connection. (On loopback the bytes are in the
        // relay's socket when `write_all` returns, so the next turns read them.)
        clock.advance(5_000);
        ws.write_all(&encode_frame(true, 0xA, b"", true)).unwrap();
        for _ in 0..3 {
            reactor.poll_once(Some(Duration::from_millis(5))).unwrap();
        }
        assert_eq!(reactor.stats().keepalive_closes, 0);
        // Silent again: the next ping 30 s after the pong, then the close 10 s later.
        clock.advance(30_001);
        turn_until(&mut reactor, "the second ping", |_| {
            drain(&mut ws, &mut got);
            got.len() >= 2
        });
        assert_eq!(got, [0x89, 0x00]);
        got.clear();
        clock.advance(10_001);
        turn_until(&mut reactor, "the keepalive close", |_| {
            drain(&mut ws, &mut got);
            got.len() >= 4
        });
        assert_eq!(got[0], 0x88, "a close frame: {got:?}");
        assert_eq!(u16::from_be_bytes([got[2], got[3]]), 1001);
        assert_eq!(reactor.stats().keepalive_closes, 1);
    });
}
