//! Demo traffic for the dashboard: a few topics with publishers at different rates and some
//! subscribers, against a running relay, for a bounded time.
//!
//! ```text
//! cargo run --release --bin sluice                          # terminal 1
//! cargo run --release --example demo_traffic -- 127.0.0.1:8080 300
//! # then open http://127.0.0.1:8080/ and watch; pick a topic in the topic viewer
//! ```

use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

/// (topic, messages per second, subscribers)
const TOPICS: &[(&str, u32, usize)] = &[
    ("prices.BTC-USD", 400, 3),
    ("prices.ETH-USD", 250, 2),
    ("trades", 120, 2),
    ("sensors.hall-7", 20, 1),
    ("alerts", 1, 2),
    ("audit.log", 60, 0),
];

fn connect(addr: &str, path: &str) -> Ws {
    let (ws, _) = tungstenite::connect(format!("ws://{addr}{path}"))
        .unwrap_or_else(|e| panic!("cannot connect to ws://{addr}{path}: {e}"));
    ws
}

fn payload(topic: &str, i: u64, t: f64) -> String {
    match topic {
        t0 if t0.starts_with("prices.") => {
            let base = if t0.ends_with("BTC-USD") { 67_000.0 } else { 3_400.0 };
            let px =
                base * (1.0 + 0.002 * (t / 7.0).sin() + 0.0005 * ((i % 17) as f64 - 8.0) / 8.0);
            format!("{{\"sym\":\"{}\",\"px\":{px:.2},\"seq\":{i}}}", &t0[7..])
        }
        "trades" => format!(
            "{{\"id\":{i},\"qty\":{},\"side\":\"{}\"}}",
            1 + i % 9,
            if i % 3 == 0 { "sell" } else { "buy" }
        ),
        "sensors.hall-7" => format!(
            "{{\"temp_c\":{:.2},\"rh\":{:.1}}}",
            21.0 + (t / 30.0).sin(),
            40.0 + (t / 45.0).cos() * 5.0
        ),
        "alerts" => format!("{{\"level\":\"info\",\"text\":\"heartbeat {i}\"}}"),
        _ => format!("user {} did thing {i}", i % 13),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args.get(1).cloned().unwrap_or_else(|| "127.0.0.1:8080".into());
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(120);
    let until = Instant::now() + Duration::from_secs(secs);
    let mut threads = Vec::new();
    for &(topic, rate, subs) in TOPICS {
        for _ in 0..subs {
            let mut ws = connect(&addr, &format!("/sub/{topic}"));
            threads.push(std::thread::spawn(move || {
                while Instant::now() < until {
                    if ws.read().is_err() {
                        break;
                    }
                }
            }));
        }
        let addr = addr.clone();
        threads.push(std::thread::spawn(move || {
            let mut ws = connect(&addr, &format!("/pub/{topic}"));
            let start = Instant::now();
            let mut i = 0u64;
            while Instant::now() < until {
                let t = start.elapsed().as_secs_f64();
                // Rates breathe a little so the charts have a shape.
                let r = f64::from(rate) * (1.0 + 0.35 * (t / 40.0).sin());
                if ws.send(Message::text(payload(topic, i, t))).is_err() {
                    break;
                }
                i += 1;
                std::thread::sleep(Duration::from_secs_f64(1.0 / r.max(0.5)));
            }
            let _ = ws.close(None);
        }));
    }
    println!("publishing to {} topics on {addr} for {secs} s", TOPICS.len());
    for t in threads {
        let _ = t.join();
    }
}
