//! `window-bench`: drives a running `sluice` configured by `perf/window.sh`.
//!
//! ```text
//! window-bench throughput --addr A --events N --keys K [--per-ms M] [--pid PID]
//!     one publisher sends N events {"sym","ts","qty"} as fast as the socket takes them, event
//!     time advancing 1 ms every M events (default 1000); a subscriber on `out` sums the window
//!     counts until all N are accounted for. Reports wall-clock events/s end to end and, with
//!     --pid, the worker thread's CPU time: events per second of worker CPU.
//! window-bench latency --addr A --rate R --seconds S --keys K --window-ms W
//!     events paced at R/s (open loop), event time = the intended send time in ms; for every
//!     window, latency = result received − intended send time of the first event whose time
//!     reaches the window's end (the event that completes it: out_of_orderness 0).
//! window-bench generate --events N --keys K [--per-ms M]
//!     the throughput mode's events as JSON lines on standard output (for `sluice replay`).
//! window-bench hop --addr A --rate R --seconds S
//!     the baseline: the same pacing through a `map` pipeline (`hop` → `hop.out`), latency per
//!     event from its intended send time.
//! ```
//!
//! Prints one JSON object per run on standard output.

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: Option<T>) -> T {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name}: bad or missing value")),
        None => default.unwrap_or_else(|| panic!("{name} is required")),
    }
}

fn connect(addr: &str, path: &str) -> Ws {
    let (ws, _) = tungstenite::connect(format!("ws://{addr}{path}")).expect("connect");
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    }
    ws
}

fn read_json(ws: &mut Ws) -> Option<Value> {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// utime + stime of `pid`'s thread named `name`, in seconds.
fn thread_cpu(pid: u32, name: &str) -> Option<f64> {
    let hz = 100.0; // USER_HZ on Linux
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            let after = &stat[stat.rfind(')')? + 2..];
            let f: Vec<&str> = after.split_whitespace().collect();
            let (u, s): (f64, f64) = (f[11].parse().ok()?, f[12].parse().ok()?);
            return Some((u + s) / hz);
        }
    }
    None
}

fn percentiles(mut us: Vec<f64>) -> Value {
    if us.is_empty() {
        return json!({"count": 0});
    }
    us.sort_by(f64::total_cmp);
    let at = |q: f64| us[((us.len() as f64 - 1.0) * q).round() as usize];
    json!({
        "count": us.len(), "p50_us": at(0.5), "p90_us": at(0.9), "p99_us": at(0.99),
        "p999_us": at(0.999), "max_us": us[us.len() - 1],
    })
}

const BASE_TS: u64 = 1_700_000_000_000;

/// Event `i`: one of `keys` symbols, event time advancing 1 ms every `per_ms` events.
fn event(i: u64, keys: u64, per_ms: u64) -> String {
    let k = i.wrapping_mul(0x9e37_79b9) % keys;
    format!("{{\"sym\":\"K{k}\",\"ts\":{},\"qty\":{}}}", BASE_TS + i / per_ms, 1 + i % 7)
}

fn generate(args: &[String]) {
    use std::io::Write;
    let n: u64 = arg(args, "--events", None);
    let keys: u64 = arg(args, "--keys", Some(100));
    let per_ms: u64 = arg(args, "--per-ms", Some(1000));
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..n {
        writeln!(out, "{}", event(i, keys, per_ms)).unwrap();
    }
    let last = BASE_TS + n / per_ms + 60_000;
    writeln!(out, "{{\"sym\":\"K0\",\"ts\":{last},\"qty\":0}}").unwrap();
}

fn throughput(args: &[String]) {
    let addr: String = arg(args, "--addr", None);
    let n: u64 = arg(args, "--events", None);
    let keys: u64 = arg(args, "--keys", Some(100));
    let per_ms: u64 = arg(args, "--per-ms", Some(1000));
    let pid: u32 = arg(args, "--pid", Some(0));
    let base = BASE_TS;
    let events: Vec<String> = (0..n).map(|i| event(i, keys, per_ms)).collect();
    let mut sub = connect(&addr, "/sub/out");
    let mut publisher = connect(&addr, "/pub/in");
    let cpu0 = thread_cpu(pid, "sluice-worker-0");
    let start = Instant::now();
    let counter = std::thread::spawn(move || {
        let (mut seen, mut results) = (0u64, 0u64);
        while seen < n {
            let Some(v) = read_json(&mut sub) else { break };
            seen += v["n"].as_u64().unwrap_or(0);
            results += 1;
        }
        (seen, results, start.elapsed())
    });
    for (i, e) in events.into_iter().enumerate() {
        publisher.write(Message::text(e)).expect("send");
        if i % 256 == 255 {
            publisher.flush().expect("flush");
        }
    }
    // One event far ahead closes every window.
    let last = base + n / per_ms + 60_000;
    publisher.send(Message::text(format!("{{\"sym\":\"K0\",\"ts\":{last},\"qty\":0}}"))).unwrap();
    let sent = start.elapsed();
    let (seen, results, done) = counter.join().unwrap();
    let cpu1 = thread_cpu(pid, "sluice-worker-0");
    let worker_cpu = cpu0.zip(cpu1).map(|(a, b)| b - a);
    let out = json!({
        "mode": "throughput", "events": n, "keys": keys, "accounted": seen, "results": results,
        "send_s": sent.as_secs_f64(), "elapsed_s": done.as_secs_f64(),
        "events_per_s": seen as f64 / done.as_secs_f64(),
        "worker_cpu_s": worker_cpu,
        "events_per_worker_cpu_s": worker_cpu.map(|c| seen as f64 / c),
    });
    println!("{out}");
}

/// Open-loop pacing: the intended send instant of event `i`.
fn intended(t0: Instant, rate: f64, i: u64) -> Instant {
    t0 + Duration::from_secs_f64(i as f64 / rate)
}

fn pace(until: Instant) {
    loop {
        let now = Instant::now();
        if now >= until {
            return;
        }
        let left = until - now;
        if left > Duration::from_micros(200) {
            std::thread::sleep(left - Duration::from_micros(100));
        } else {
            std::hint::spin_loop();
        }
    }
}

fn latency(args: &[String]) {
    let addr: String = arg(args, "--addr", None);
    let rate: f64 = arg(args, "--rate", Some(10_000.0));
    let secs: f64 = arg(args, "--seconds", Some(5.0));
    let keys: u64 = arg(args, "--keys", Some(10));
    let window: i64 = arg(args, "--window-ms", Some(100));
    let total = (rate * secs) as u64;
    let completes: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let mut sub = connect(&addr, "/sub/out");
    let mut publisher = connect(&addr, "/pub/in");
    let t0 = Instant::now() + Duration::from_millis(50);
    let windows_expected = (secs * 1000.0) as i64 / window - 1;
    let c = completes.clone();
    let reader = std::thread::spawn(move || {
        let (mut first, mut all) = (Vec::new(), Vec::new());
        let mut seen: HashMap<i64, u64> = HashMap::new();
        while (seen.len() as i64) < windows_expected {
            let Some(v) = read_json(&mut sub) else { break };
            let now = Instant::now();
            let end = v["window_end"].as_i64().unwrap_or(0);
            let Some(&done) = c.lock().unwrap().get(&end) else { continue };
            let us = now.saturating_duration_since(done).as_secs_f64() * 1e6;
            let count = seen.entry(end).or_default();
            if *count == 0 {
                first.push(us);
            }
            *count += 1;
            all.push(us);
        }
        (first, all)
    });
    let mut window_end = window;
    for i in 0..total {
        let at = intended(t0, rate, i);
        let ts = (at - t0).as_millis() as i64;
        if ts >= window_end {
            completes.lock().unwrap().insert(window_end, at);
            window_end = (ts / window + 1) * window;
        }
        pace(at);
        let k = i % keys;
        publisher
            .send(Message::text(format!("{{\"sym\":\"K{k}\",\"ts\":{ts},\"qty\":1}}")))
            .unwrap();
    }
    let (first, all) = reader.join().unwrap();
    let out = json!({
        "mode": "latency", "rate": rate, "seconds": secs, "keys": keys, "window_ms": window,
        "first_result_of_window": percentiles(first), "every_result": percentiles(all),
    });
    println!("{out}");
}

fn hop(args: &[String]) {
    let addr: String = arg(args, "--addr", None);
    let rate: f64 = arg(args, "--rate", Some(10_000.0));
    let secs: f64 = arg(args, "--seconds", Some(5.0));
    let total = (rate * secs) as u64;
    let mut sub = connect(&addr, "/sub/hop.out");
    let mut publisher = connect(&addr, "/pub/hop");
    let t0 = Instant::now() + Duration::from_millis(50);
    let reader = std::thread::spawn(move || {
        let mut lat = Vec::with_capacity(total as usize);
        for _ in 0..total {
            let Some(v) = read_json(&mut sub) else { break };
            let now = Instant::now();
            let i = v["id"].as_u64().unwrap_or(0);
            lat.push(now.saturating_duration_since(intended(t0, rate, i)).as_secs_f64() * 1e6);
        }
        lat
    });
    for i in 0..total {
        pace(intended(t0, rate, i));
        publisher
            .send(Message::text(format!("{{\"id\":{i},\"sym\":\"K{}\",\"qty\":1}}", i % 10)))
            .unwrap();
    }
    let lat = reader.join().unwrap();
    println!(
        "{}",
        json!({"mode": "hop", "rate": rate, "seconds": secs, "per_event": percentiles(lat)})
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("throughput") => throughput(&args),
        Some("latency") => latency(&args),
        Some("hop") => hop(&args),
        Some("generate") => generate(&args),
        _ => {
            eprintln!(
                "usage: window-bench throughput|latency|hop --addr HOST:PORT … (see the source)"
            );
            std::process::exit(2);
        }
    }
}
