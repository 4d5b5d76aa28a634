//! Attack: slowloris. 10,000 sockets each send a byte of a request head every second. None may
//! extend its life by trickling: each is closed at the handshake deadline, memory stays bounded,
//! and a bystander's messages keep flowing throughout.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use util::attack::{assert_healthy, rss_kib, Bystander};
use util::{raise_fd_limit, watchdog, Binary};

const SOCKETS: usize = 10_000;

#[test]
fn ten_thousand_trickling_sockets_are_cut_at_the_deadline() {
    watchdog(300, || {
        assert!(raise_fd_limit() >= SOCKETS as u64 + 500, "need {} descriptors", SOCKETS + 500);
        let mut bin = Binary::start(&["--handshake-timeout", "3s"]);
        let mut bystander = Bystander::start(bin.addr);
        bystander.assert_flowing("before the attack");
        let base = rss_kib(bin.pid());
        // Per held handshake: the connection record, its timer and a few bytes of request.
        let bound = base + 16 * 1024 + (SOCKETS as u64 * 2);

        let mut socks: Vec<Option<TcpStream>> = Vec::with_capacity(SOCKETS);
        while socks.len() < SOCKETS {
            match TcpStream::connect(bin.addr) {
                Ok(mut s) => {
                    s.set_nonblocking(true).unwrap();
                    let _ = s.write(b"G");
                    socks.push(Some(s));
                }
                // The listen backlog can overflow for a moment; the server is accepting.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("connect #{}: {e}", socks.len()),
            }
            if socks.len() % 1000 == 0 {
                assert_healthy(&mut bin, bound, "while connecting");
                bystander.assert_flowing("while connecting");
            }
        }
        // Trickle one more byte per socket per second until the server has closed them all.
        let head = b"ET / HTTP/1.1\r\nX-Slow: ";
        let mut open = SOCKETS;
        let mut round = 0;
        let started = Instant::now();
        while open > 0 {
            round += 1;
            let mut buf = [0u8; 512];
            for slot in socks.iter_mut() {
                let Some(s) = slot else { continue };
                let closed = match s.read(&mut buf) {
                    Ok(0) => true,
                    Ok(_) => false, // a 408/400 would be a closing answer too; none is sent here
                    Err(e) if e.kind() == ErrorKind::WouldBlock => false,
                    Err(_) => true,
                };
                if closed {
                    *slot = None;
                    open -= 1;
                    continue;
                }
                let byte = head[(round - 1) % head.len()];
                let _ = s.write(&[byte]);
            }
            assert_healthy(&mut bin, bound, "while trickling");
            bystander.assert_flowing("while trickling");
            eprintln!(
                "round {round}: {open} sockets open after {:?}, server RSS {} KiB (base {base})",
                started.elapsed(),
                rss_kib(bin.pid())
            );
            std::thread::sleep(Duration::from_secs(1));
        }
        bystander.assert_flowing("after the attack");
        assert_healthy(&mut bin, bound, "after the attack");
    });
}
