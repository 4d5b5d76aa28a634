//! Attack-test helpers: a bystander whose deliveries must keep growing while an attack runs,
//! and a process's memory and descriptors read from /proc.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tungstenite::Message;

use super::{connect, IO_TIMEOUT};

/// A publisher and a subscriber on their own topic, on their own threads. The publisher sends
/// a small message every 2 ms; the subscriber counts what it receives.
pub struct Bystander {
    received: Arc<AtomicU64>,
    failed: Arc<std::sync::Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    seen: u64,
}

impl Bystander {
    /// Connect both ends to the relay at `addr` (plain `ws://`).
    pub fn start(addr: SocketAddr) -> Bystander {
        let received = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(std::sync::Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let topic = "bystander";
        let mut sub = connect(&format!("ws://{addr}/sub/{topic}"));
        let mut publisher = connect(&format!("ws://{addr}/pub/{topic}"));
        let (r, f, s) = (received.clone(), failed.clone(), stop.clone());
        let reader = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match sub.read() {
                    Ok(Message::Text(_)) => {
                        r.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if !s.load(Ordering::Relaxed) {
                            *f.lock().unwrap() = Some(format!("bystander subscriber: {e}"));
                        }
                        return;
                    }
                }
            }
        });
        let (f, s) = (failed.clone(), stop.clone());
        let writer = std::thread::spawn(move || {
            let mut i = 0u64;
            while !s.load(Ordering::Relaxed) {
                if let Err(e) = publisher.send(Message::text(format!("tick {i}"))) {
                    *f.lock().unwrap() = Some(format!("bystander publisher: {e}"));
                    return;
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            let _ = publisher.close(None);
        });
        Bystander { received, failed, stop, threads: vec![reader, writer], seen: 0 }
    }

    /// Messages received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Wait until the subscriber has received more than when last asked; panic (naming `what`)
    /// if it fails or nothing new arrives within `IO_TIMEOUT`.
    pub fn assert_flowing(&mut self, what: &str) {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            if let Some(e) = self.failed.lock().unwrap().clone() {
                panic!("{what}: {e}");
            }
            let now = self.received();
            if now > self.seen {
                self.seen = now;
                return;
            }
            assert!(Instant::now() < deadline, "{what}: bystander stalled at {now} messages");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The reader may be blocked in read(); it has a timeout and the relay keeps ticking
        // until the publisher stops, so joining the writer is enough.
        if let Some(w) = self.threads.pop() {
            let _ = w.join();
        }
    }
}

/// Resident memory of a process, in KiB (VmRSS).
pub fn rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmRSS:")
}

/// Peak resident memory of a process, in KiB (VmHWM).
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmHWM:")
}

fn status_field(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
}

/// Open file descriptors of a process.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("read /proc fd").count()
}

/// Assert the process is alive (no panic, no abort) and its RSS is under `max_kib`.
pub fn assert_healthy(bin: &mut super::Binary, max_kib: u64, what: &str) {
    if let Some(status) = bin.child.try_wait().unwrap() {
        let log: Vec<String> = bin.stderr_lines.try_iter().collect();
        panic!("{what}: sluice exited with {status}; stderr: {log:?}");
    }
    let rss = rss_kib(bin.pid());
    assert!(rss <= max_kib, "{what}: RSS {rss} KiB over the bound of {max_kib} KiB");
}

/// Lines the binary logged so far that mention a panic.
pub fn panics_logged(bin: &super::Binary) -> Vec<String> {
    bin.stderr_lines.try_iter().filter(|l| l.contains("panic")).collect()
}

/// Run `attack(i)` on `threads` threads against `bin`; while they run, and once after, check that
/// the binary is alive under `max_rss_kib` and that the bystander keeps receiving.
pub fn during(
    bin: &mut super::Binary,
    bystander: &mut Bystander,
    max_rss_kib: u64,
    threads: usize,
    attack: impl Fn(usize) + Sync,
) {
    let running = std::sync::atomic::AtomicUsize::new(threads);
    std::thread::scope(|s| {
        for i in 0..threads {
            let (attack, running) = (&attack, &running);
            s.spawn(move || {
                struct Done<'a>(&'a std::sync::atomic::AtomicUsize);
                impl Drop for Done<'_> {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                let _done = Done(running);
                attack(i);
            });
        }
        let mut checks = 0;
        while running.load(Ordering::Relaxed) > 0 {
            assert_healthy(bin, max_rss_kib, "during the attack");
            bystander.assert_flowing("during the attack");
            checks += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("{checks} checks during the attack; peak RSS {} KiB", peak_rss_kib(bin.pid()));
    });
    assert_healthy(bin, max_rss_kib, "after the attack");
    bystander.assert_flowing("after the attack");
}

/// A raw client upgraded to `path` on `addr`, as an attacker would hold it.
pub fn upgraded(addr: SocketAddr, path: &str) -> super::Raw {
    super::Raw::upgraded(addr, path)
}
