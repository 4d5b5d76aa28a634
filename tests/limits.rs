//! The limits added against hostile clients: fragments per message, empty fragments, inbound
//! message rate, connections in total and per client IP.

mod util;

use std::net::{SocketAddr, TcpStream};
use std::os::fd::FromRawFd;

use tungstenite::Message;
use util::{connect, encode_frame, next_data, watchdog, Raw, Relay};

#[test]
fn fragment_counts_are_capped_with_1008() {
    watchdog(60, || {
        let mut config = util::test_config();
        config.limits.max_fragments = 16;
        config.limits.max_empty_fragments = 2;
        let relay = Relay::start_with(config);
        // 16 fragments are fine.
        let mut raw = Raw::upgraded(relay.addr, "/echo");
        raw.send_frame(false, 2, b"a", true);
        for _ in 0..14 {
            raw.send_frame(false, 0, b"b", true);
        }
        raw.send_frame(true, 0, b"c", true);
        assert_eq!(raw.read_frame().payload.len(), 16);
        // 17 are not.
        raw.send_frame(false, 2, b"a", true);
        for _ in 0..16 {
            raw.send_frame(false, 0, b"b", true);
        }
        let (code, reason) = raw.expect_close();
        assert_eq!(code, 1008, "{reason}");
        assert!(reason.contains("16 fragments"), "{reason}");
        // Empty fragments: a flood that never grows the message.
        let mut raw = Raw::upgraded(relay.addr, "/echo");
        raw.send_frame(false, 1, b"", true);
        let empty = encode_frame(false, 0, b"", true);
        raw.send(&empty.repeat(3));
        let (code, reason) = raw.expect_close();
        assert_eq!(code, 1008, "{reason}");
        assert!(reason.contains("empty"), "{reason}");
        relay.wait_stats("fragment closes", |s| s.fragment_limit_closes == 2);
    });
}

#[test]
fn the_inbound_rate_limit_closes_with_1008() {
    watchdog(60, || {
        let mut config = util::test_config();
        config.limits.max_messages_per_sec = 1;
        config.limits.message_burst = 5;
        let relay = Relay::start_with(config);
        let mut polite = connect(&relay.url("/echo"));
        for i in 0..5 {
            polite.send(Message::text(format!("{i}"))).unwrap();
            assert_eq!(next_data(&mut polite), Message::text(format!("{i}")));
        }
        // 100 at once would need 95 s at 1/s. The pings among them are not answered either:
        // nothing of the read that crossed the limit goes out, to this client or another.
        let mut raw = Raw::upgraded(relay.addr, "/pub/flood");
        let mut burst: Vec<u8> = encode_frame(true, 9, b"ping", true);
        burst.extend((0..100).flat_map(|_| encode_frame(true, 1, b"x", true)));
        raw.send(&burst);
        let first = raw.read_frame();
        assert_eq!(first.opcode, 8, "a close, no pong: {first:?}");
        let code = u16::from_be_bytes([first.payload[0], first.payload[1]]);
        let reason = String::from_utf8_lossy(&first.payload[2..]).to_string();
        assert_eq!(code, 1008);
        assert!(reason.contains("rate limit"), "{reason}");
        // The next connection to answer a ping gets its own pong and nothing else.
        let mut other = Raw::upgraded(relay.addr, "/sub/quiet");
        other.send_frame(true, 9, b"mine", true);
        let pong = other.read_frame();
        assert_eq!((pong.opcode, pong.payload.as_slice()), (10, &b"mine"[..]));
        let s = relay.wait_stats("rate close", |s| s.rate_limit_closes == 1);
        assert!(s.messages_in <= 5 + 5, "at most the bursts were delivered: {s:?}");
    });
}

/// A TCP connection from a chosen loopback source address (127.0.0.x).
fn connect_from(source: [u8; 4], to: SocketAddr) -> TcpStream {
    // SAFETY: plain socket/bind/connect on a descriptor we own; it is handed to TcpStream,
    // which closes it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr.s_addr = u32::from_ne_bytes(source);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(libc::bind(fd, &sa as *const _ as *const libc::sockaddr, len), 0, "bind");
        let SocketAddr::V4(to) = to else { panic!("IPv4 only") };
        sa.sin_port = to.port().to_be();
        sa.sin_addr.s_addr = u32::from_ne_bytes(to.ip().octets());
        let r = libc::connect(fd, &sa as *const _ as *const libc::sockaddr, len);
        assert_eq!(r, 0, "connect: {}", std::io::Error::last_os_error());
        let s = TcpStream::from_raw_fd(fd);
        s.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
        s
    }
}

/// Read until EOF; the text received.
fn read_all(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn connections_are_capped_in_total_and_per_ip() {
    watchdog(60, || {
        let mut config = util::test_config();
        config.limits.max_connections = 6;
        config.limits.max_connections_per_ip = 3;
        let relay = Relay::start_with(config);
        let local = [127, 0, 0, 1];
        let a: Vec<_> = (0..3).map(|_| Raw::upgraded(relay.addr, "/sub/a")).collect();
        // A fourth from 127.0.0.1 is refused with a 503, another address is not.
        let refused = read_all(connect_from(local, relay.addr));
        assert!(refused.starts_with("HTTP/1.1 503 "), "{refused:?}");
        assert!(refused.contains("this address"), "{refused:?}");
        let b: Vec<_> = (0..3)
            .map(|_| {
                let mut s = connect_from([127, 0, 0, 2], relay.addr);
                std::io::Write::write_all(&mut s, Raw::upgrade_request("/sub/b").as_bytes())
                    .unwrap();
                s
            })
            .collect();
        relay.wait_stats("six open", |s| s.upgrades == 6);
        // Six in total: a seventh from a third address is refused.
        let refused = read_all(connect_from([127, 0, 0, 3], relay.addr));
        assert!(refused.contains("too many connections"), "{refused:?}");
        let s = relay.stats();
        assert_eq!((s.refused_per_ip, s.refused_max_connections), (1, 1), "{s:?}");
        // Closing frees the slots: 127.0.0.1 may connect again.
        drop(a);
        relay.wait_stats("freed", |s| s.connections_open == 3);
        let mut again = Raw::upgraded(relay.addr, "/sub/a");
        drop(b);
        again.send_frame(true, 9, b"ping", true);
        assert_eq!(again.read_frame().opcode, 10);
    });
}
