//! `probe`: an independent check on sluice-bench's numbers. It shares no code with the bench:
//! a blocking tungstenite client publishes at a fixed rate from one thread (binary payload: an
//! 8-byte `Instant` offset, padded) and a blocking subscriber on another thread computes each
//! message's latency from its actual send time. Percentiles come from the sorted samples.
//!
//! Usage: `probe PUB_URL SUB_URL RATE SECONDS [SIZE]` → one line of JSON:
//! `{"count":…,"p50_us":…,"p99_us":…,"p999_us":…,"max_us":…}`.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

fn connect(url: &str) -> WebSocket<MaybeTlsStream<TcpStream>> {
    let (ws, _) = tungstenite::connect(url).unwrap_or_else(|e| panic!("connect {url}: {e}"));
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_nodelay(true).expect("nodelay");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    }
    ws
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: probe PUB_URL SUB_URL RATE SECONDS [SIZE]");
        std::process::exit(2);
    }
    let rate: f64 = args[3].parse().expect("RATE");
    let secs: f64 = args[4].parse().expect("SECONDS");
    let size: usize = args.get(5).map_or(64, |s| s.parse().expect("SIZE")).max(8);
    let mut sub = connect(&args[2]);
    let mut publisher = connect(&args[1]);
    let epoch = Instant::now();
    let total = (rate * secs) as u64;
    let warm = (rate * 0.5) as u64;
    let receiver = std::thread::spawn(move || {
        let mut samples = Vec::with_capacity(total as usize);
        let mut seen = 0u64;
        while seen < total {
            match sub.read() {
                Ok(Message::Binary(b)) if b.len() >= 8 => {
                    let now = epoch.elapsed().as_nanos() as u64;
                    let sent = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
                    if seen >= warm {
                        samples.push(now - sent);
                    }
                    seen += 1;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        samples
    });
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now() + Duration::from_millis(100);
    let mut payload = vec![b'x'; size];
    for k in 0..total {
        let due = start + period * k as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let sent = epoch.elapsed().as_nanos() as u64;
        payload[..8].copy_from_slice(&sent.to_le_bytes());
        publisher.send(Message::Binary(payload.clone().into())).expect("send");
    }
    let mut samples = receiver.join().expect("receiver");
    samples.sort_unstable();
    let pct = |p: f64| {
        if samples.is_empty() {
            return 0.0;
        }
        let i = ((p / 100.0) * samples.len() as f64).ceil() as usize;
        samples[i.clamp(1, samples.len()) - 1] as f64 / 1000.0
    };
    println!(
        "{{\"count\":{},\"p50_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\"max_us\":{:.1}}}",
        samples.len(),
        pct(50.0),
        pct(99.0),
        pct(99.9),
        pct(100.0)
    );
}
