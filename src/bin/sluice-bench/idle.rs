//! The `idle` scenario: hold N upgraded, silent connections and measure how much resident
//! memory the server spends on each (`--pid`, read from `/proc/PID/status` before and while
//! they are held).
//!
//! Connections are opened 256 at a time on one poller. The tool raises its own descriptor
//! limit, or says which limit to raise. Subscribers answer no pings during the hold; use a hold
//! shorter than the server's keepalive.

use std::time::Duration;

use crate::clock::now_ns;
use crate::dial::{dial_all, WsUrl};
use crate::fdlimit::{ensure, rss_of};
use crate::report::{Idle, Summary};

/// Parameters of an idle run.
#[derive(Debug, Clone)]
pub struct IdleSpec {
    /// Where to connect.
    pub url: WsUrl,
    /// How many.
    pub conns: usize,
    /// How long to hold them after the last one is open (memory is sampled at the end).
    pub hold: Duration,
    /// The server's process id, to read its RSS.
    pub pid: Option<String>,
    /// Handshake timeout.
    pub connect_timeout: Duration,
}

/// Run it.
pub fn run(spec: &IdleSpec) -> Result<Summary, String> {
    ensure(spec.conns + 64)?;
    let before = match &spec.pid {
        Some(pid) => rss_of(pid)?,
        None => 0,
    };
    let t = now_ns();
    let open = dial_all(&spec.url, spec.conns, spec.connect_timeout)?;
    let connect_s = (now_ns() - t) as f64 / 1e9;
    std::thread::sleep(spec.hold);
    let after = match &spec.pid {
        Some(pid) => rss_of(pid)?,
        None => 0,
    };
    let bench_rss = rss_of("self").unwrap_or(0);
    let n = open.len() as u64;
    drop(open);
    let per =
        if spec.pid.is_some() && n > 0 { (after as f64 - before as f64) / n as f64 } else { 0.0 };
    Ok(Summary {
        tool: "sluice-bench".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        scenario: "idle".into(),
        target: vec![format!("ws://{}{}", spec.url.authority, spec.url.path)],
        params: serde_json::json!({
            "conns": spec.conns,
            "hold_s": spec.hold.as_secs_f64(),
            "connect_s": connect_s,
        }),
        duration_s: spec.hold.as_secs_f64(),
        idle: Some(Idle {
            connections: n,
            rss_before: before,
            rss_after: after,
            bytes_per_connection: per,
            bench_rss,
        }),
        ..Summary::default()
    })
}
