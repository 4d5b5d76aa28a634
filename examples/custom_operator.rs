//! A custom Rust operator in an embedded reactor.
//!
//! `VolumeByKey` keeps a running traded volume per symbol. The pipeline is keyed by `.symbol`,
//! so every symbol is always handled by the same worker, and the operator's `HashMap` needs no
//! lock. A jq step runs before it (drop empty trades), a Rust closure after it (drop a test
//! symbol).
//!
//! ```text
//! cargo run --example custom_operator          # serves on 127.0.0.1:9001
//! websocat ws://127.0.0.1:9001/sub/volume
//! websocat ws://127.0.0.1:9001/pub/trades      # type {"symbol":"BTC","qty":2}
//! ```
//!
//! With `--demo` it publishes a few trades itself, prints what a subscriber receives and exits.

use std::collections::HashMap;

use sluice::{Config, Emitter, Operator, Pipeline, Reactor, Record, WorkerConfig};

/// Running volume per key: one instance per worker, each seeing only its own keys.
#[derive(Clone, Default)]
struct VolumeByKey {
    volume: HashMap<String, f64>,
}

impl Operator for VolumeByKey {
    fn process(&mut self, record: Record, out: &mut Emitter<'_>) {
        let trade: serde_json::Value = match serde_json::from_slice(record.payload()) {
            Ok(v) => v,
            Err(e) => return out.fail(&record, &format!("not a trade: {e}")),
        };
        let (Some(symbol), Some(qty)) = (trade["symbol"].as_str(), trade["qty"].as_f64()) else {
            return out.fail(&record, "a trade needs a string `symbol` and a number `qty`");
        };
        let total = self.volume.entry(symbol.to_string()).or_default();
        *total += qty;
        let update = serde_json::json!({ "symbol": symbol, "volume": *total });
        out.emit(record.child_text(&update.to_string()));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    sluice::logging::init(None, sluice::logging::LogFormat::Text)?;
    let demo = std::env::args().any(|a| a == "--demo");
    let listen = if demo { "127.0.0.1:0" } else { "127.0.0.1:9001" };
    let config = Config {
        listen: listen.parse()?,
        workers: WorkerConfig { count: 2, ..WorkerConfig::default() },
        ..Config::default()
    };
    let mut reactor = Reactor::bind(config)?;
    reactor.add_pipeline(
        Pipeline::from_topic("trades")
            .name("volume")
            .key_by(".symbol")
            .filter_jq(".qty > 0")
            .operator(VolumeByKey::default())
            // A closure step: keys are JSON text, so symbol "TEST" is `"TEST"` with quotes.
            .filter(|r: &Record| r.key() != Some(&b"\"TEST\""[..]))
            .errors_to("trades.errors")
            .to_topic("volume"),
    )?;
    let addr = reactor.local_addr();
    let handle = reactor.handle();
    if demo {
        std::thread::spawn(move || {
            let url = format!("ws://{addr}/sub/volume");
            let (mut sub, _) = tungstenite::connect(url).expect("subscribe");
            for t in [
                r#"{"symbol":"BTC","qty":2}"#,
                r#"{"symbol":"ETH","qty":0}"#,
                r#"{"symbol":"BTC","qty":1.5}"#,
            ] {
                handle.publish("trades", t).expect("publish");
            }
            for _ in 0..2 {
                println!("{}", sub.read().expect("read"));
            }
            handle.stop();
        });
    } else {
        println!("serving on ws://{addr}: publish to /pub/trades, subscribe to /sub/volume");
    }
    reactor.run()?;
    Ok(())
}
