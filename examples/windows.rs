//! Windows in an embedded reactor: a keyed tumbling window with built-in aggregates and a
//! custom one (a volume-weighted average price, VWAP, written as an [`Aggregate`]).
//!
//! ```text
//! cargo run --example windows          # serves on 127.0.0.1:9002
//! websocat ws://127.0.0.1:9002/sub/vwap.1s
//! websocat ws://127.0.0.1:9002/pub/trades   # {"symbol":"BTC","ts":1700000000120,"price":10,"qty":2}
//! ```
//!
//! With `--demo` it publishes a few trades itself, prints what a subscriber receives and exits.

use std::time::Duration;

use sluice::ops::window::{Aggregate, Fields, Window};
use sluice::{Config, EventTime, Pipeline, Reactor, Record, WorkerConfig};

/// Σ price·qty / Σ qty over the window: two numbers of state per window and key.
#[derive(Clone)]
struct Vwap;

impl Aggregate for Vwap {
    type Acc = (f64, f64);

    fn create(&mut self) -> (f64, f64) {
        (0.0, 0.0)
    }

    fn add(&mut self, acc: &mut (f64, f64), record: &Record) -> Result<(), String> {
        let t: serde_json::Value =
            serde_json::from_slice(record.payload()).map_err(|e| format!("not a trade: {e}"))?;
        let (Some(price), Some(qty)) = (t["price"].as_f64(), t["qty"].as_f64()) else {
            return Err("a trade needs a number `price` and a number `qty`".into());
        };
        acc.0 += price * qty;
        acc.1 += qty;
        Ok(())
    }

    fn merge(&mut self, acc: &mut (f64, f64), other: (f64, f64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }

    fn result(&mut self, acc: &(f64, f64), out: &mut Fields<'_>) {
        out.float("vwap", acc.0 / acc.1);
        out.float("volume", acc.1);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    sluice::logging::init(None, sluice::logging::LogFormat::Text)?;
    let demo = std::env::args().any(|a| a == "--demo");
    let listen = if demo { "127.0.0.1:0" } else { "127.0.0.1:9002" };
    let config = Config {
        listen: listen.parse()?,
        workers: WorkerConfig { count: 2, ..WorkerConfig::default() },
        ..Config::default()
    };
    let mut reactor = Reactor::bind(config)?;
    reactor.add_pipeline(
        Pipeline::from_topic("trades")
            .name("vwap")
            .key_by(".symbol")
            .event_time(EventTime::new(".ts")?.out_of_orderness(Duration::from_millis(100)))
            .window(Window::tumbling(Duration::from_secs(1)))
            .aggregate_with(Vwap)
            .errors_to("trades.errors")
            .to_topic("vwap.1s"),
    )?;
    let addr = reactor.local_addr();
    let handle = reactor.handle();
    if demo {
        std::thread::spawn(move || {
            let (mut sub, _) =
                tungstenite::connect(format!("ws://{addr}/sub/vwap.1s")).expect("subscribe");
            for t in [
                r#"{"symbol":"BTC","ts":1700000000100,"price":10,"qty":2}"#,
                r#"{"symbol":"ETH","ts":1700000000300,"price":5,"qty":1}"#,
                r#"{"symbol":"BTC","ts":1700000000900,"price":13,"qty":1}"#,
                // Moves the watermark to …1099: the first second closes for both symbols.
                r#"{"symbol":"ETH","ts":1700000001200,"price":6,"qty":1}"#,
            ] {
                handle.publish("trades", t).expect("publish");
            }
            for _ in 0..2 {
                println!("{}", sub.read().expect("read"));
            }
            handle.stop();
        });
    } else {
        println!("serving on ws://{addr}: publish to /pub/trades, subscribe to /sub/vwap.1s");
    }
    reactor.run()?;
    Ok(())
}
