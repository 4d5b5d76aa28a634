//! Embedding Sluice in a custom service.
//!
//! The service adds its own endpoints beside the built-in `/pub`, `/sub`, `/echo`, `/healthz`:
//! a plain-HTTP `/version`, and `/ticks`, a WebSocket alias for `/sub/ticks`. A producer thread
//! publishes a tick every 100 ms through the reactor's `Handle`; Ctrl-C stops everything.
//!
//! ```text
//! cargo run --example embed              # serves on 127.0.0.1:9000
//! curl http://127.0.0.1:9000/version
//! websocat ws://127.0.0.1:9000/ticks     # any WebSocket client
//! ```

use std::time::Duration;

use sluice::{Config, Endpoint, Reactor, Response};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    sluice::logging::init(None, sluice::logging::LogFormat::Text)?;

    // 1. Configure and bind. Every limit has a documented default; change what you need.
    let mut config = Config { listen: "127.0.0.1:9000".parse()?, ..Config::default() };
    config.limits.max_message_size = 64 << 10;
    let mut reactor = Reactor::bind(config)?;

    // 2. Custom endpoints are matched before the built-in ones. HTTP handlers run on the
    //    reactor thread, so they must be quick.
    reactor.add_endpoint("/version", Endpoint::http(|_req| Response::text(200, "embed 1.0\n")))?;
    reactor.add_endpoint("/ticks", Endpoint::Subscribe(vec!["ticks".into()]))?;

    // 3. The handle is Clone + Send: publish from any thread. It never blocks; a full command
    //    queue is reported as an error instead.
    let handle = reactor.handle();
    std::thread::spawn(move || {
        let mut n = 0u64;
        while !handle.is_stopped() {
            n += 1;
            if let Err(e) = handle.publish("ticks", format!("{{\"tick\":{n}}}")) {
                eprintln!("tick {n} not published: {e}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });

    // 4. Stop gracefully on Ctrl-C: clients get close 1001 after their queued messages.
    let stopper = reactor.handle();
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT])?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            stopper.stop();
        }
    });

    println!(
        "serving on ws://{}/ticks and http://{}/version",
        reactor.local_addr(),
        reactor.local_addr()
    );
    reactor.run()?;
    Ok(())
}
