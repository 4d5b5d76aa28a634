//! The relay contract `SluiceSink` builds its acknowledgements on: on a `/pub` connection, a
//! ping is answered only after every message sent before it has been routed to the topic's
//! subscribers. So a pong acknowledges every record sent before its ping.
//!
//! The test drives the reactor itself with `poll_once`, one loop iteration at a time, and
//! checks after each iteration whether the publisher can read the pong. The first time it can,
//! before any further iteration, the subscriber must already be able to read every message sent
//! before the ping.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use sluice::Reactor;
use util::{encode_frame, test_config, watchdog, Raw, IO_TIMEOUT};

/// Enough to take many reads and loop iterations (about 300 KB).
const MESSAGES: usize = 20_000;

/// Bytes readable now, without blocking.
fn read_now(s: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 65536];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => panic!("the relay closed the connection"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Whole server frames in `buf` (after the HTTP head): (opcode, payload) each.
fn frames(buf: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let Some(head) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { return vec![] };
    let mut pos = head + 4;
    let mut out = Vec::new();
    while buf.len() >= pos + 2 {
        let (len, hdr) = match buf[pos + 1] & 0x7f {
            126 => (u16::from_be_bytes([buf[pos + 2], buf[pos + 3]]) as usize, 4),
            127 => unreachable!("no 64-bit lengths here"),
            n => (n as usize, 2),
        };
        if buf.len() < pos + hdr + len {
            break;
        }
        out.push((buf[pos] & 0x0f, buf[pos + hdr..pos + hdr + len].to_vec()));
        pos += hdr + len;
    }
    out
}

#[test]
fn a_pong_follows_the_routing_of_every_message_before_its_ping() {
    watchdog(120, || {
        let mut reactor = Reactor::bind(test_config()).expect("bind");
        let addr = reactor.local_addr();
        let deadline = Instant::now() + IO_TIMEOUT;
        let step = |reactor: &mut Reactor| {
            assert!(Instant::now() < deadline, "timed out");
            reactor.poll_once(Some(Duration::from_millis(5))).expect("poll_once");
        };

        let mut sub = TcpStream::connect(addr).unwrap();
        let mut publ = TcpStream::connect(addr).unwrap();
        sub.write_all(Raw::upgrade_request("/sub/acks").as_bytes()).unwrap();
        publ.write_all(Raw::upgrade_request("/pub/acks").as_bytes()).unwrap();
        sub.set_nonblocking(true).unwrap();
        publ.set_nonblocking(true).unwrap();
        let (mut sub_in, mut pub_in) = (Vec::new(), Vec::new());
        while !(sub_in.ends_with(b"\r\n\r\n") && pub_in.ends_with(b"\r\n\r\n")) {
            step(&mut reactor);
            read_now(&mut sub, &mut sub_in);
            read_now(&mut publ, &mut pub_in);
        }

        let mut burst = Vec::new();
        for i in 0..MESSAGES {
            burst.extend(encode_frame(true, 1, format!("record {i}").as_bytes(), true));
        }
        burst.extend(encode_frame(true, 9, &(MESSAGES as u64).to_be_bytes(), true));
        let mut written = 0;
        let mut iterations = 0;
        let pong = loop {
            match publ.write(&burst[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("write: {e}"),
            }
            step(&mut reactor);
            read_now(&mut sub, &mut sub_in);
            iterations += 1;
            read_now(&mut publ, &mut pub_in);
            if let Some((_, p)) = frames(&pub_in).into_iter().find(|(op, _)| *op == 10) {
                break p;
            }
        };
        // No loop iteration has run since the pong became readable.
        assert_eq!(written, burst.len());
        read_now(&mut sub, &mut sub_in);
        let delivered = frames(&sub_in);
        assert_eq!(pong, (MESSAGES as u64).to_be_bytes(), "the pong echoes the ping");
        assert_eq!(
            delivered.len(),
            MESSAGES,
            "when the pong is readable, the subscriber can read every message sent before the ping"
        );
        assert_eq!(delivered.last().unwrap().1, format!("record {}", MESSAGES - 1).as_bytes());
        assert_eq!(reactor.stats().messages_in, MESSAGES as u64);
        eprintln!("pong after {iterations} loop iterations, {MESSAGES} messages already delivered");
    });
}
