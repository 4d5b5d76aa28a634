//! The `tcp` scenario: plain loopback TCP ping-pong, the physical floor under any WebSocket
//! relay. One blocking connection sends `size` bytes and waits for `size` bytes back, paced at
//! `--rate` round trips per second (a late round trip starts at once; its latency still counts
//! from its intended time). Needs a TCP echo server (`perf/` floor relay's `--tcp-echo`, or the
//! one [`spawn_echo`] starts in-process for the self-test).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use crate::clock::{now_ns, precise_timers, sleep_until};
use crate::recorder::{histogram, Recorder, Window};
use crate::report::{self, Counts, Latency, Rates, Summary};
use crate::schedule::Schedule;
use crate::units::ns;

/// Parameters of a TCP round-trip run.
#[derive(Debug, Clone)]
pub struct TcpSpec {
    /// The echo server.
    pub addr: SocketAddr,
    /// Round trips per second.
    pub rate: f64,
    /// Bytes per ping.
    pub size: usize,
    /// Measured time.
    pub duration: Duration,
    /// Discarded time before it.
    pub warmup: Duration,
}

/// Run it.
pub fn run(spec: &TcpSpec) -> Result<(Summary, Recorder), String> {
    let mut s = TcpStream::connect(spec.addr)
        .map_err(|e| format!("cannot connect to {}: {e}", spec.addr))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    precise_timers();
    let size = spec.size.max(1);
    let ping = vec![b'p'; size];
    let mut pong = vec![0u8; size];
    let t0 = now_ns() + 10_000_000;
    let window = Window { start: t0 + ns(spec.warmup), end: t0 + ns(spec.warmup + spec.duration) };
    let schedule = Schedule::new(t0, spec.rate, 1);
    let mut rec = Recorder::default();
    let mut lag = histogram();
    let (mut sent, mut measured) = (0u64, 0u64);
    let mut k = 0;
    loop {
        let t = schedule.intended(k);
        if t >= window.end {
            break;
        }
        sleep_until(t);
        let start = now_ns();
        s.write_all(&ping).map_err(|e| format!("write: {e}"))?;
        s.read_exact(&mut pong).map_err(|e| format!("read: {e}"))?;
        let end = now_ns();
        sent += 1;
        if window.contains(t) {
            measured += 1;
            rec.record(t, start, end);
            lag.saturating_record(start - t.min(start));
        }
        k += 1;
    }
    let secs = spec.duration.as_secs_f64();
    let summary = Summary {
        tool: "sluice-bench".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        scenario: "tcp".into(),
        target: vec![format!("tcp://{}", spec.addr)],
        params: serde_json::json!({ "rate": spec.rate, "size": size, "duration_s": secs }),
        duration_s: secs,
        counts: Counts {
            sent,
            sent_measured: measured,
            expected: sent,
            delivered: sent,
            ..Counts::default()
        },
        rates: Rates {
            offered: spec.rate,
            sent: measured as f64 / secs,
            delivered: measured as f64 / secs,
        },
        latency: Latency::of(&rec.intended),
        latency_actual: Latency::of(&rec.actual),
        send_lag: Latency::of(&lag),
        spectrum: report::spectrum(&rec.intended, 5),
        spectrum_actual: report::spectrum(&rec.actual, 5),
        ..Summary::default()
    };
    Ok((summary, rec))
}

/// Start a TCP echo server on 127.0.0.1 (a thread per connection; for the self-test and tests).
pub fn spawn_echo() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new().name("tcp-echo".into()).spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.set_nodelay(true);
            std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    })?;
    Ok(addr)
}
