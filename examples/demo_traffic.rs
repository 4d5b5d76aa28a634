//! Demo traffic: a few topics with publishers at different rates and some subscribers, for a
//! bounded time, against a running relay or against one it starts itself.
//!
//! ```text
//! # against a running relay (the dashboard at http://127.0.0.1:8080/ shows it):
//! cargo run --release --example demo_traffic -- 127.0.0.1:8080 300
//!
//! # or start a relay from a configuration file, in this process, and feed it:
//! cargo run --release --example demo_traffic -- --serve examples/web.toml
//! # then open http://127.0.0.1:8080/app/ (the live chart of examples/web/)
//! ```
//!
//! With `--serve FILE`, the relay is the library's `Reactor` bound from the file, exactly as the
//! `sluice` binary binds it: its pipelines, its `[web]` static files and its address.

use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sluice::{Config, Handle, Reactor};
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
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let serve = args.iter().position(|a| a == "--serve").map(|i| {
        let file = args.get(i + 1).cloned().unwrap_or_else(|| usage());
        args.drain(i..i + 2);
        file
    });
    let secs: u64 = match serve {
        Some(_) => args.first().map_or(Ok(3600), |s| s.parse()).unwrap_or_else(|_| usage()),
        None => args.get(1).map_or(Ok(120), |s| s.parse()).unwrap_or_else(|_| usage()),
    };
    let Some(file) = serve else {
        let addr = args.first().cloned().unwrap_or_else(|| "127.0.0.1:8080".into());
        println!("publishing to {} topics on {addr} for {secs} s", TOPICS.len());
        for t in start(&addr, Duration::from_secs(secs)) {
            let _ = t.join();
        }
        return;
    };
    if let Err(e) = sluice::logging::init(None, sluice::logging::LogFormat::Text) {
        eprintln!("demo_traffic: {e}");
    }
    let config = Config::from_toml_file(file.as_ref()).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let pages = config.web.static_dir.is_some().then(|| config.web.static_prefix.clone());
    let relay = serve_config(config).unwrap_or_else(|e| {
        eprintln!("demo_traffic: {e}");
        std::process::exit(1)
    });
    let addr = relay.addr;
    match pages {
        Some(prefix) => {
            println!("relay on {addr}: your pages http://{addr}{prefix}, dashboard http://{addr}/")
        }
        None => println!("relay on {addr}: dashboard http://{addr}/"),
    }
    println!("publishing to {} topics for {secs} s (Ctrl-C stops)", TOPICS.len());
    for t in start(&addr.to_string(), Duration::from_secs(secs)) {
        let _ = t.join();
    }
    relay.handle.stop();
    let _ = relay.thread.join();
}

fn usage() -> ! {
    eprintln!("usage: demo_traffic [ADDR [SECS]] | demo_traffic --serve CONFIG.toml [SECS]");
    std::process::exit(2)
}

/// A relay running on a thread of this process.
pub struct Served {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its handle (stop it with `handle.stop()`).
    pub handle: Handle,
    /// Its thread.
    pub thread: JoinHandle<Result<(), sluice::Error>>,
}

/// Bind a relay from `config` and run it on a thread.
pub fn serve_config(config: Config) -> Result<Served, sluice::Error> {
    let mut reactor = Reactor::bind(config)?;
    let addr = reactor.local_addr();
    let handle = reactor.handle();
    let thread = std::thread::spawn(move || reactor.run());
    Ok(Served { addr, handle, thread })
}

/// Start the publishers and subscribers of [`TOPICS`] against `addr`; they stop after `how_long`,
/// or when the relay closes their connections.
pub fn start(addr: &str, how_long: Duration) -> Vec<JoinHandle<()>> {
    let until = Instant::now() + how_long;
    let mut threads = Vec::new();
    for &(topic, rate, subs) in TOPICS {
        for _ in 0..subs {
            let mut ws = connect(addr, &format!("/sub/{topic}"));
            if let MaybeTlsStream::Plain(s) = ws.get_ref() {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            }
            threads.push(std::thread::spawn(move || {
                while Instant::now() < until {
                    match ws.read() {
                        Ok(_) => {}
                        Err(tungstenite::Error::Io(e))
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => break,
                    }
                }
            }));
        }
        let addr = addr.to_string();
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
    threads
}
