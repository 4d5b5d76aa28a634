//! Attack: out of file descriptors. A relay limited to 64 descriptors is flooded with held
//! connections, so `accept` fails with `EMFILE`. The loop must neither spin (accepting pauses
//! after each failure, so failures stay within one per pause) nor stall (the bystander keeps
//! receiving), and once descriptors are free again the queued clients are served.

mod util;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use util::attack::{assert_healthy, rss_kib, Bystander};
use util::{watchdog, Binary, Raw};

/// The largest "(N such errors so far)" the relay has logged.
fn accept_errors_logged(lines: &[String]) -> u64 {
    lines
        .iter()
        .filter_map(|l| l.split(" such errors so far").next()?.rsplit('(').next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn emfile_neither_spins_nor_stalls() {
    watchdog(300, || {
        let mut bin = Binary::start_with_fd_limit(&["--handshake-timeout", "60s"], 64);
        let mut bystander = Bystander::start(bin.addr);
        bystander.assert_flowing("before the attack");
        let bound = rss_kib(bin.pid()) + 32 * 1024;
        // Hold 200 connections: the kernel completes them into the backlog, the relay can
        // accept only as many as its descriptors allow.
        let started = Instant::now();
        let held: Vec<TcpStream> =
            (0..200).map(|_| TcpStream::connect(bin.addr).unwrap()).collect();
        let mut lines = Vec::new();
        // Watch for a while: EMFILE must show up, and the bystander must keep flowing.
        while started.elapsed() < Duration::from_secs(3) || accept_errors_logged(&lines) == 0 {
            assert_healthy(&mut bin, bound, "under EMFILE");
            bystander.assert_flowing("under EMFILE");
            lines.extend(bin.stderr_lines.try_iter());
            std::thread::sleep(Duration::from_millis(100));
            assert!(started.elapsed() < util::IO_TIMEOUT, "no accept error logged: {lines:?}");
        }
        let errors = accept_errors_logged(&lines);
        let elapsed = started.elapsed().as_secs_f64();
        // One failure per 100 ms pause at most (the count is logged at powers of two, so the
        // real count is below twice the logged one). A spinning loop would log millions.
        let most = (elapsed / 0.1) as u64 + 2;
        eprintln!("{errors} accept errors logged in {elapsed:.1} s (at most {most} allowed)");
        assert!(errors <= most, "accept spins: {errors} errors in {elapsed:.1} s");
        // Free the descriptors: the clients still waiting in the backlog get served.
        drop(held);
        let mut fresh = Raw::upgraded(bin.addr, "/echo");
        fresh.send_frame(true, 1, b"served again", true);
        assert_eq!(fresh.read_frame().payload, b"served again");
        bystander.assert_flowing("after the attack");
        assert_healthy(&mut bin, bound, "after the attack");
    });
}
