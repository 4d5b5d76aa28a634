//! Attack: connection floods. With `max_connections` and `max_connections_per_ip` set, a flood
//! of held connections is refused at accept with a `503`; a flood of connections opened and
//! dropped at once churns without leaking. Memory stays bounded, the bystander keeps receiving,
//! and once the flood ends new clients are served again.

mod util;

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::Duration;

use util::attack::{during, fd_count, rss_kib, Bystander};
use util::{raise_fd_limit, watchdog, Binary, Raw};

#[test]
fn a_connection_flood_is_refused_at_accept() {
    watchdog(300, || {
        assert!(raise_fd_limit() >= 6000, "need 6000 descriptors");
        let mut bin =
            Binary::start(&["--max-connections", "1000", "--max-connections-per-ip", "600"]);
        let mut bystander = Bystander::start(bin.addr);
        bystander.assert_flowing("before the attack");
        let base = rss_kib(bin.pid());
        let base_fds = fd_count(bin.pid());
        let bound = base + 32 * 1024;
        let addr = bin.addr;
        let refused = std::sync::atomic::AtomicUsize::new(0);
        let held = std::sync::Mutex::new(Vec::new());
        // Four threads each hold 1,000 connections from 127.0.0.1: 598 more are let in (the
        // bystander has two), the rest get a 503 and are closed.
        during(&mut bin, &mut bystander, bound, 4, |_| {
            let mut mine = Vec::new();
            for _ in 0..1000 {
                let mut s = match TcpStream::connect(addr) {
                    Ok(s) => s,
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue, // backlog full
                    Err(e) => panic!("connect: {e}"),
                };
                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                let mut buf = [0u8; 128];
                match s.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        assert!(buf.starts_with(b"HTTP/1.1 503 "), "{:?}", &buf[..n]);
                        refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    _ => mine.push(s), // admitted (or not answered yet): hold it
                }
            }
            held.lock().unwrap().extend(mine);
        });
        let refused = refused.into_inner();
        assert!(refused >= 4000 - 600, "only {refused} of 4000 refused");
        // Churn: connect and drop at once, many times over.
        during(&mut bin, &mut bystander, bound, 4, |_| {
            for _ in 0..500 {
                if let Ok(s) = TcpStream::connect(addr) {
                    drop(s);
                }
            }
        });
        // The flood ends: everything it held is released and new clients are served.
        let fds_during = fd_count(bin.pid());
        held.lock().unwrap().clear();
        let deadline = std::time::Instant::now() + util::IO_TIMEOUT;
        while fd_count(bin.pid()) > base_fds {
            assert!(
                std::time::Instant::now() < deadline,
                "descriptors not released: {}",
                fd_count(bin.pid())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "server descriptors: {base_fds} before, {fds_during} during the flood, {} after",
            fd_count(bin.pid())
        );
        let mut fresh = Raw::upgraded(bin.addr, "/echo");
        fresh.send_frame(true, 1, b"served", true);
        assert_eq!(fresh.read_frame().payload, b"served");
        bystander.assert_flowing("after the flood");
    });
}
