//! Numbered records on topics, for the Flink source tests: publishing `"<topic> <i>"` for
//! i = 0, 1, 2, … (all at once, or from a rate-limited thread while a job restarts), and
//! checking what a job wrote to its output file against them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::flink::Job;
use super::IO_TIMEOUT;

/// Publishes `"<topic> <i>"` for i = 0, 1, 2, … to each of its topics, from a thread, until
/// stopped: the load under the source tests' restarts and restores. It publishes at most
/// `per_ms` messages per topic per millisecond, a rate limit (not a synchronization), so the
/// relay's history holds everything published while a job is away.
pub struct Publisher {
    published: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Publisher {
    /// Start publishing to `topics` of the relay at `relay`, from index `from`.
    pub fn start(relay: SocketAddr, topics: &[&str], from: u64, per_ms: u64) -> Publisher {
        let published = Arc::new(AtomicU64::new(from));
        let stop = Arc::new(AtomicBool::new(false));
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let (p, s) = (published.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut pubs: Vec<_> =
                topics.iter().map(|t| super::connect(&format!("ws://{relay}/pub/{t}"))).collect();
            let mut i = from;
            while !s.load(Ordering::SeqCst) {
                for _ in 0..per_ms {
                    for (t, ws) in topics.iter().zip(&mut pubs) {
                        ws.write(tungstenite::Message::text(format!("{t} {i}"))).unwrap();
                    }
                    i += 1;
                }
                for ws in &mut pubs {
                    ws.flush().unwrap();
                }
                p.store(i, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
            for ws in &mut pubs {
                ws.close(None).unwrap();
                while ws.read().is_ok() {}
            }
        });
        Publisher { published, stop, thread: Some(thread) }
    }

    /// Messages published to each topic so far (and flushed).
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::SeqCst)
    }

    /// Wait until `n` messages have been published to each topic.
    pub fn wait_published(&self, n: u64) {
        let deadline = Instant::now() + IO_TIMEOUT * 2;
        while self.published() < n {
            assert!(Instant::now() < deadline, "published {} of {n}", self.published());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stop, and return how many messages each topic got (indices 0..n, or from..n).
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().expect("the publisher panicked");
        self.published()
    }
}

/// Wait until the job has written `n` lines to `out`.
pub fn wait_lines(out: &Path, n: usize, job: &mut Job) {
    let deadline = Instant::now() + IO_TIMEOUT * 2;
    loop {
        let have = std::fs::read_to_string(out).map_or(0, |s| s.lines().count());
        if have >= n {
            return;
        }
        assert!(job.running(), "the job ended early:\n{}", job.stderr());
        assert!(Instant::now() < deadline, "{have} of {n} lines after {:?}", IO_TIMEOUT * 2);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The indices of `topic`'s lines (`"<topic> <i>"`) in `text`, in file order.
pub fn indices(text: &str, topic: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(topic)?.strip_prefix(' '))
        .map(|i| i.parse().unwrap_or_else(|_| panic!("{topic}: not an index: {i}")))
        .collect()
}

/// Check that `got` is exactly `want` (in order, each once), saying where it differs.
pub fn assert_exactly(topic: &str, got: &[u64], want: impl Iterator<Item = u64>) {
    let want: Vec<u64> = want.collect();
    if got == want.as_slice() {
        return;
    }
    let at = got.iter().zip(&want).position(|(g, w)| g != w).unwrap_or(got.len().min(want.len()));
    let show = |v: &[u64]| format!("{:?}", &v[at.saturating_sub(3)..(at + 5).min(v.len())]);
    panic!(
        "{topic}: {} records, want {}; first difference at position {at}: got {}…, want {}…",
        got.len(),
        want.len(),
        show(got),
        show(&want)
    );
}

/// The path of a TOML file with `text`, in this test's scratch directory.
pub fn config_file(name: &str, text: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flink-configs");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Publish `"<topic> <i>"` for i in `from..to` to each of `topics`, and return once the relay
/// has routed every one of them (a ping's pong follows the routing of everything before it).
pub fn publish_routed(relay: SocketAddr, topics: &[&str], from: u64, to: u64) {
    let mut pubs: Vec<_> =
        topics.iter().map(|t| super::connect(&format!("ws://{relay}/pub/{t}"))).collect();
    for i in from..to {
        for (t, ws) in topics.iter().zip(&mut pubs) {
            ws.write(tungstenite::Message::text(format!("{t} {i}"))).unwrap();
        }
    }
    for ws in &mut pubs {
        ws.send(tungstenite::Message::Ping(b"routed?".to_vec().into())).unwrap();
        loop {
            match ws.read().expect("read the pong") {
                tungstenite::Message::Pong(p) if &p[..] == b"routed?" => break,
                tungstenite::Message::Close(c) => panic!("the relay closed the publisher: {c:?}"),
                _ => {}
            }
        }
    }
}
