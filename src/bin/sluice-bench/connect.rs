//! The `connect` scenario: WebSocket handshakes per second and handshake latency (TCP connect
//! to a complete `101`), open loop at `--rate` handshakes per second, or as fast as
//! `--concurrency` dials in flight allow with `--rate 0`.
//!
//! Each connection is closed as soon as it is upgraded (a masked close frame `1000`, then the
//! socket is dropped). Latency is recorded from the intended start and from the actual
//! `connect` call, like messages.

use std::io::Write;
use std::time::Duration;

use crate::clock::{now_ns, sleep_until};
use crate::dial::{Dialer, WsUrl};
use crate::frame::{encode_masked, Masker, OP_CLOSE};
use crate::recorder::{histogram, Recorder, Window};
use crate::report::{self, Counts, Latency, Rates, Summary};
use crate::schedule::Schedule;
use crate::units::ns;

/// Parameters of a connect run.
#[derive(Debug, Clone)]
pub struct ConnectSpec {
    /// Where to connect.
    pub url: WsUrl,
    /// Handshakes per second (0: as fast as `concurrency` allows).
    pub rate: f64,
    /// Dials in flight at most.
    pub concurrency: usize,
    /// Measured time.
    pub duration: Duration,
    /// Discarded time before it.
    pub warmup: Duration,
    /// Handshake timeout.
    pub connect_timeout: Duration,
}

/// Run it; returns the summary and the merged histograms.
pub fn run(spec: &ConnectSpec) -> Result<(Summary, Recorder), String> {
    crate::fdlimit::ensure(spec.concurrency + 64)?;
    let mut dialer =
        Dialer::new(spec.concurrency, spec.connect_timeout).map_err(|e| e.to_string())?;
    let t0 = now_ns() + 10_000_000;
    let window = Window { start: t0 + ns(spec.warmup), end: t0 + ns(spec.warmup + spec.duration) };
    let schedule = Schedule::new(t0, spec.rate, 1);
    let mut rec = Recorder::default();
    let lag = histogram();
    let mut lag = lag;
    let (mut started, mut ok, mut measured_started) = (0u64, 0u64, 0u64);
    let mut failures = 0u64;
    let mut errors = Vec::new();
    let mut done = Vec::new();
    let mut failed = Vec::new();
    let mut masker = Masker::new(0xc0);
    let mut close = Vec::new();
    let mut k = 0u64;
    loop {
        let now = now_ns();
        let sending = now < window.end;
        if sending {
            if spec.rate > 0.0 {
                let due = schedule.due_by(now).min(schedule.count_before(window.end));
                while k < due {
                    let t = schedule.intended(k);
                    dialer.start(&spec.url, k as usize, t);
                    measured_started += u64::from(window.contains(t));
                    k += 1;
                }
            } else {
                while dialer.in_flight() < spec.concurrency {
                    dialer.start(&spec.url, k as usize, now);
                    measured_started += u64::from(window.contains(now));
                    k += 1;
                }
            }
            started = k;
        } else if dialer.in_flight() == 0 {
            break;
        }
        let wait = if spec.rate > 0.0 && sending {
            schedule.intended(k).saturating_sub(now_ns())
        } else {
            1_000_000
        };
        // epoll waits in whole milliseconds: poll without waiting, then sleep precisely.
        let timeout =
            if wait >= 2_000_000 { Duration::from_nanos(wait - 1_000_000) } else { Duration::ZERO };
        dialer.poll(timeout, &mut done, &mut failed).map_err(|e| e.to_string())?;
        if done.is_empty() && failed.is_empty() && timeout.is_zero() && wait > 0 {
            sleep_until(now_ns() + wait.min(50_000));
        }
        for mut o in done.drain(..) {
            ok += 1;
            if window.contains(o.started) {
                rec.record(o.started, o.launched, o.done);
                lag.saturating_record(o.launched.saturating_sub(o.started));
            }
            close.clear();
            encode_masked(&mut close, OP_CLOSE, &1000u16.to_be_bytes(), masker.next());
            let _ = o.stream.write(&close);
        }
        for f in failed.drain(..) {
            failures += 1;
            if errors.len() < 100 {
                errors.push(f.message);
            }
        }
        if !sending && now > window.end + ns(spec.connect_timeout) {
            break;
        }
    }
    let secs = spec.duration.as_secs_f64();
    let summary = Summary {
        tool: "sluice-bench".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        scenario: "connect".into(),
        target: vec![format!("ws://{}{}", spec.url.authority, spec.url.path)],
        params: serde_json::json!({
            "rate": spec.rate,
            "concurrency": spec.concurrency,
            "duration_s": secs,
            "warmup_s": spec.warmup.as_secs_f64(),
        }),
        duration_s: secs,
        counts: Counts {
            sent: started,
            sent_measured: measured_started,
            expected: started,
            delivered: ok,
            lost: failures,
            ..Counts::default()
        },
        rates: Rates {
            offered: spec.rate,
            sent: measured_started as f64 / secs,
            delivered: rec.intended.len() as f64 / secs,
        },
        latency: Latency::of(&rec.intended),
        latency_actual: Latency::of(&rec.actual),
        send_lag: Latency::of(&lag),
        spectrum: report::spectrum(&rec.intended, 5),
        spectrum_actual: report::spectrum(&rec.actual, 5),
        errors,
        ..Summary::default()
    };
    Ok((summary, rec))
}
