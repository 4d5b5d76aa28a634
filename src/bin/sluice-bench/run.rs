//! Running a message scenario (`pubsub`, `echo`, `flood`): dial, split the sockets between the
//! sending thread and the receiving threads, run the schedule, drain, merge, summarize.
//!
//! Timeline (ns on the bench clock): `t0` (a moment after every thread is ready) → warm-up →
//! `window.start` → measured → `window.end` (sending stops) → drain (until every expected
//! message has arrived or `drain` has passed) → stop. Messages sent during the warm-up are
//! delivered and counted, but their latency is not recorded.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;

use crate::clock::now_ns;
use crate::dial::{dial_all, dial_all_offering, WsUrl};
use crate::payload::Format;
use crate::receiver::{self, Role, RxConn, RxPlan, RxResult};
use crate::recorder::{Recorder, Window};
use crate::report::{self, Counts, Latency, Overhead, Rates, Summary};
use crate::schedule::Schedule;
use crate::sender::{self, Pace, SendPlan};
use crate::units::ns;

/// Which message scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Publishers → topic → subscribers.
    PubSub,
    /// Round trips on echo connections.
    Echo,
    /// Publishers → subscribers as fast as the in-flight window allows.
    Flood,
}

/// A message scenario, fully specified.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Which scenario.
    pub kind: Kind,
    /// Publish URL (pubsub, flood) or echo URL.
    pub send_url: WsUrl,
    /// Subscribe URL (pubsub, flood).
    pub sub_url: Option<WsUrl>,
    /// Publishers (or echo connections).
    pub senders: usize,
    /// Subscribers.
    pub subs: usize,
    /// Messages per second in total (pubsub, echo).
    pub rate: f64,
    /// In-flight bound (flood).
    pub window: u64,
    /// Measured time.
    pub duration: Duration,
    /// Discarded time before it.
    pub warmup: Duration,
    /// Longest wait for stragglers after sending stops.
    pub drain: Duration,
    /// Payload size and format.
    pub size: usize,
    /// See `size`.
    pub format: Format,
    /// Binary frames instead of text.
    pub binary: bool,
    /// Subscribers use Sluice's envelope mode (`sluice.v1`).
    pub envelope: bool,
    /// Receiving threads.
    pub threads: usize,
    /// Print a progress line per second.
    pub progress: bool,
    /// Handshake timeout.
    pub connect_timeout: Duration,
}

/// Everything a run produced: the summary and the merged histograms (for `.hgrm`).
pub struct Outcome {
    /// The summary.
    pub summary: Summary,
    /// Merged latency histograms.
    pub recorder: Recorder,
}

/// Run a message scenario.
pub fn run(spec: &Spec, stop: Arc<AtomicBool>) -> Result<Outcome, String> {
    crate::fdlimit::ensure(spec.senders * 2 + spec.subs + 64)?;
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let subs = match (&spec.sub_url, spec.kind) {
        (Some(url), Kind::PubSub | Kind::Flood) => {
            let offer = spec.envelope.then_some(crate::envelope::PROTOCOL);
            dial_all_offering(url, spec.subs, spec.connect_timeout, offer)?
        }
        _ => Vec::new(),
    };
    let senders = dial_all(&spec.send_url, spec.senders, spec.connect_timeout)?;

    // Receivers get: every subscriber; the read half of every sender (echo: recorded;
    // publisher: drained). The sender thread gets the write halves.
    let receiving = if spec.kind == Kind::Echo { senders.len() } else { subs.len() };
    let delivered: Arc<Vec<AtomicU64>> =
        Arc::new((0..receiving).map(|_| AtomicU64::new(0)).collect());
    let mut rx_conns: Vec<RxConn> = Vec::new();
    for (slot, o) in subs.into_iter().enumerate() {
        let role = if spec.envelope { Role::Envelope } else { Role::Sub };
        rx_conns.push(RxConn { stream: o.stream, role, leftover: o.leftover, slot });
    }
    let mut write_halves = Vec::with_capacity(senders.len());
    for (i, o) in senders.into_iter().enumerate() {
        let std_stream = std::net::TcpStream::from(o.stream);
        let reader = std_stream.try_clone().map_err(|e| format!("cannot clone a socket: {e}"))?;
        write_halves.push(mio::net::TcpStream::from_std(std_stream));
        let role = if spec.kind == Kind::Echo { Role::Echo(i as u32) } else { Role::Drain };
        rx_conns.push(RxConn {
            stream: mio::net::TcpStream::from_std(reader),
            role,
            leftover: o.leftover,
            slot: i,
        });
    }

    let threads = spec.threads.clamp(1, rx_conns.len().max(1));
    let mut groups: Vec<Vec<RxConn>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, c) in rx_conns.into_iter().enumerate() {
        groups[i % threads].push(c);
    }
    let t0 = now_ns() + 100_000_000;
    let window = Window { start: t0 + ns(spec.warmup), end: t0 + ns(spec.warmup + spec.duration) };
    let done = Arc::new(AtomicBool::new(false));
    let (progress_tx, progress_rx) = crossbeam_channel::bounded::<Recorder>(64);
    let mut rx_threads = Vec::new();
    for (i, conns) in groups.into_iter().enumerate() {
        let plan = RxPlan {
            conns,
            senders: spec.senders,
            window,
            delivered: delivered.clone(),
            stop: done.clone(),
            progress: spec.progress.then(|| progress_tx.clone()),
        };
        let t = std::thread::Builder::new()
            .name(format!("bench-rx-{i}"))
            .spawn(move || receiver::run(plan))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        rx_threads.push(t);
    }
    drop(progress_tx);
    let pace = match spec.kind {
        Kind::PubSub | Kind::Echo => Pace::Rate(Schedule::new(t0, spec.rate, spec.senders)),
        Kind::Flood => {
            Pace::Flood { window: spec.window.max(1), delivered: delivered.clone(), fan_in: true }
        }
    };
    let sent_total = Arc::new(AtomicU64::new(0));
    let send_plan = SendPlan {
        conns: write_halves,
        pace,
        window,
        t0,
        format: spec.format,
        size: spec.size,
        opcode: if spec.binary { crate::frame::OP_BINARY } else { crate::frame::OP_TEXT },
        stop: stop.clone(),
        sent_total: sent_total.clone(),
    };
    let drain = spec.drain;
    let tx_thread = std::thread::Builder::new()
        .name("bench-tx".into())
        .spawn(move || sender::run(send_plan, drain))
        .map_err(|e| format!("cannot start a thread: {e}"))?;

    // Progress while sending.
    let mut last_sent = 0;
    let mut last_tick = now_ns();
    while !tx_thread.is_finished() {
        match progress_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(mut interval) => {
                // Merge the other receivers' intervals of the same second.
                while let Ok(more) = progress_rx.try_recv() {
                    interval.merge(&more);
                }
                let now = now_ns();
                let sent = sent_total.load(Ordering::Relaxed);
                let secs = (now - last_tick) as f64 / 1e9;
                let phase = if now < window.start { "warm-up" } else { "measuring" };
                eprintln!(
                    "  {:>5.1}s {phase:<9} sent {:>9.0}/s  received {:>9.0}/s  p50 {:>8.1} µs  p99 {:>8.1} µs",
                    (now.saturating_sub(t0)) as f64 / 1e9,
                    (sent - last_sent) as f64 / secs,
                    interval.intended.len() as f64 / secs,
                    interval.intended.value_at_quantile(0.5) as f64 / 1000.0,
                    interval.intended.value_at_quantile(0.99) as f64 / 1000.0,
                );
                last_sent = sent;
                last_tick = now;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let sent = tx_thread.join().map_err(|_| "the sending thread panicked".to_string())?;
    let sent_all: u64 = sent.sent.iter().sum();
    let expected = match spec.kind {
        Kind::Echo => sent_all,
        Kind::PubSub | Kind::Flood => sent_all * spec.subs as u64,
    };
    let drain_until = now_ns() + ns(spec.drain);
    loop {
        let got: u64 = delivered.iter().map(|d| d.load(Ordering::Relaxed)).sum();
        if got >= expected || now_ns() >= drain_until || stop.load(Ordering::Relaxed) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    done.store(true, Ordering::Relaxed);
    let mut results: Vec<RxResult> = Vec::new();
    for t in rx_threads {
        results.push(t.join().map_err(|_| "a receiving thread panicked".to_string())?);
    }

    let mut recorder = Recorder::default();
    let mut track = crate::track::Counts::default();
    let mut unparsable = 0;
    let mut frames = 0;
    let mut errors = Vec::new();
    let mut bench_cpu = sent.cpu_ns;
    for r in &results {
        recorder.merge(&r.recorder);
        track.add(&r.counts);
        unparsable += r.unparsable;
        frames += r.frames;
        errors.extend(r.errors.iter().cloned());
        bench_cpu += r.cpu_ns;
    }
    if let Some(e) = &sent.error {
        errors.insert(0, e.clone());
    }
    let measured_s = spec.duration.as_secs_f64();
    let send_span = if spec.kind == Kind::Flood {
        (sent.last.saturating_sub(sent.first.max(window.start))) as f64 / 1e9
    } else {
        measured_s
    };
    let summary = Summary {
        tool: "sluice-bench".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        scenario: match spec.kind {
            Kind::PubSub => "pubsub",
            Kind::Echo => "echo",
            Kind::Flood => "flood",
        }
        .into(),
        label: String::new(),
        target: std::iter::once(&spec.send_url)
            .chain(spec.sub_url.iter())
            .map(|u| format!("ws://{}{}", u.authority, u.path))
            .collect(),
        params: serde_json::json!({
            "senders": spec.senders,
            "subs": spec.subs,
            "rate": spec.rate,
            "window": spec.window,
            "size": spec.size,
            "format": format!("{:?}", spec.format).to_lowercase(),
            "binary": spec.binary,
            "envelope": spec.envelope,
            "duration_s": spec.duration.as_secs_f64(),
            "warmup_s": spec.warmup.as_secs_f64(),
            "threads": threads,
        }),
        started_unix,
        duration_s: measured_s,
        counts: Counts {
            sent: sent_all,
            sent_measured: sent.sent_measured,
            expected,
            delivered: track.unique,
            lost: expected.saturating_sub(track.unique),
            duplicated: track.duplicates,
            out_of_order: track.out_of_order,
            unparsable,
        },
        rates: Rates {
            offered: if spec.kind == Kind::Flood { 0.0 } else { spec.rate },
            sent: sent.sent_measured as f64 / send_span.max(1e-9),
            delivered: recorder.intended.len() as f64 / send_span.max(1e-9),
        },
        latency: Latency::of(&recorder.intended),
        latency_actual: Latency::of(&recorder.actual),
        send_lag: Latency::of(&sent.lag),
        spectrum: report::spectrum(&recorder.intended, 5),
        spectrum_actual: report::spectrum(&recorder.actual, 5),
        overhead: Overhead {
            cpu_ns_per_msg: bench_cpu as f64 / (sent_all + frames).max(1) as f64,
            cpu_cores: bench_cpu as f64 / ns(spec.warmup + spec.duration).max(1) as f64,
            blocked_writes: sent.blocked_writes,
        },
        idle: None,
        errors,
    };
    Ok(Outcome { summary, recorder })
}
