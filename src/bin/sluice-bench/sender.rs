//! The sending thread: writes stamped, masked frames on the publisher (or echo) connections,
//! either on the open-loop [`Schedule`] or, for `flood`, as fast as a bounded in-flight window
//! allows.
//!
//! Per message: one clock read per batch, 46 digits written into a copy of the payload
//! template, one mask pass. Frames due together on one connection go out in one `write`. A
//! socket that does not take everything keeps the rest in the connection's buffer; past
//! [`MAX_PENDING`] the sender waits for it to drain (the intended times keep counting, so that
//! wait shows up in the latency from the intended time, as it should).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::clock::{now_ns, precise_timers, sleep_until, thread_cpu_ns};
use crate::frame::{encode_masked, Masker};
use crate::payload::{stamp_offset, template, write_stamp, Format, Stamp};
use crate::recorder::{histogram, Window};
use crate::schedule::Schedule;

/// Bytes buffered for one connection before the sender waits for the socket.
pub const MAX_PENDING: usize = 4 << 20;
/// Messages encoded per batch before writing.
const BATCH: u64 = 1024;

/// How messages are paced.
#[derive(Debug, Clone)]
pub enum Pace {
    /// Open loop at a constant rate.
    Rate(Schedule),
    /// As fast as possible while (sent − delivered to the slowest receiver) < `window`.
    Flood {
        /// Bound on messages in flight.
        window: u64,
        /// Unique messages delivered, one counter per receiving connection.
        delivered: Arc<Vec<AtomicU64>>,
        /// Each receiving connection gets every message (pubsub) or its sender's (echo: false).
        fan_in: bool,
    },
}

/// What the sender needs.
pub struct SendPlan {
    /// Write halves, one per sender id.
    pub conns: Vec<TcpStream>,
    /// Pacing.
    pub pace: Pace,
    /// The measured window; sending stops at `window.end`.
    pub window: Window,
    /// Flood starts sending at this time.
    pub t0: u64,
    /// Payload format and size.
    pub format: Format,
    /// Payload size in bytes.
    pub size: usize,
    /// Frame opcode (text or binary).
    pub opcode: u8,
    /// Set by the main thread to stop early (Ctrl-C, fatal error elsewhere).
    pub stop: Arc<AtomicBool>,
    /// Messages sent so far (read by the progress display).
    pub sent_total: Arc<AtomicU64>,
}

/// What the sender did.
#[derive(Debug)]
pub struct SendResult {
    /// Messages sent on each connection.
    pub sent: Vec<u64>,
    /// Messages sent whose intended time was in the measured window.
    pub sent_measured: u64,
    /// Actual minus intended send time of measured messages.
    pub lag: Histogram<u64>,
    /// Time the first and last message left, ns.
    pub first: u64,
    /// See `first`.
    pub last: u64,
    /// Times a socket did not take everything at once.
    pub blocked_writes: u64,
    /// CPU time of the thread, ns.
    pub cpu_ns: u64,
    /// A fatal error, if any (the connection was lost).
    pub error: Option<String>,
}

struct Conn {
    stream: TcpStream,
    out: Vec<u8>,
    pos: usize,
    seq: u64,
}

impl Conn {
    /// Write what is buffered. `Ok(true)` if everything went out.
    fn flush(&mut self, blocked: &mut u64) -> io::Result<bool> {
        while self.pos < self.out.len() {
            match self.stream.write(&self.out[self.pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *blocked += 1;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.pos = 0;
        Ok(true)
    }

    fn pending(&self) -> usize {
        self.out.len() - self.pos
    }
}

/// Run the sender to the end of the window; the last buffered bytes are flushed within
/// `flush_timeout` after it.
pub fn run(plan: SendPlan, flush_timeout: Duration) -> SendResult {
    precise_timers();
    let cpu0 = thread_cpu_ns();
    let poll = Poll::new();
    let mut events = Events::with_capacity(64);
    let mut conns: Vec<Conn> = Vec::with_capacity(plan.conns.len());
    let mut result = SendResult {
        sent: vec![0; plan.conns.len()],
        sent_measured: 0,
        lag: histogram(),
        first: 0,
        last: 0,
        blocked_writes: 0,
        cpu_ns: 0,
        error: None,
    };
    let mut poll = match poll {
        Ok(p) => p,
        Err(e) => {
            result.error = Some(format!("poll: {e}"));
            return result;
        }
    };
    for (i, mut stream) in plan.conns.into_iter().enumerate() {
        if let Err(e) = poll.registry().register(&mut stream, Token(i), Interest::WRITABLE) {
            result.error = Some(format!("register: {e}"));
            return result;
        }
        conns.push(Conn { stream, out: Vec::with_capacity(64 * 1024), pos: 0, seq: 0 });
    }
    let mut payload = template(plan.format, plan.size);
    let offset = stamp_offset(plan.format);
    let mut masker = Masker::new(0x5e4d);
    let mut k: u64 = 0;
    let end = plan.window.end;
    let mut encode = |conns: &mut Vec<Conn>, result: &mut SendResult, i: usize, t: u64, now| {
        let c = &mut conns[i];
        let stamp = Stamp { sender: i as u32, seq: c.seq, intended: t, sent: now };
        write_stamp(&mut payload, offset, &stamp);
        encode_masked(&mut c.out, plan.opcode, &payload, masker.next());
        c.seq += 1;
        result.sent[i] += 1;
        if plan.window.contains(t) {
            result.sent_measured += 1;
            result.lag.saturating_record(now - t.min(now));
        }
        if result.first == 0 {
            result.first = now;
        }
        result.last = now;
    };
    let outcome: io::Result<()> = (|| {
        match &plan.pace {
            Pace::Rate(schedule) => loop {
                let total = schedule.count_before(end);
                if plan.stop.load(Ordering::Relaxed) || k >= total {
                    return Ok(());
                }
                let next = schedule.intended(k);
                let mut now = now_ns();
                if next > now {
                    if conns.iter().any(|c| c.pending() > 0) {
                        wait_writable(&mut poll, &mut events, next - now)?;
                        flush_all(&mut conns, &mut result.blocked_writes)?;
                    } else {
                        sleep_until(next);
                    }
                    now = now_ns();
                    if next > now {
                        continue;
                    }
                }
                let upto = schedule.due_by(now).min(total).min(k + BATCH);
                while k < upto {
                    let t = schedule.intended(k);
                    let (i, _) = schedule.route(k);
                    encode(&mut conns, &mut result, i, t, now);
                    k += 1;
                }
                flush_all(&mut conns, &mut result.blocked_writes)?;
                while conns.iter().any(|c| c.pending() > MAX_PENDING) {
                    if plan.stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    wait_writable(&mut poll, &mut events, 10_000_000)?;
                    flush_all(&mut conns, &mut result.blocked_writes)?;
                }
                plan.sent_total.store(k, Ordering::Relaxed);
            },
            Pace::Flood { window, delivered, fan_in } => {
                sleep_until(plan.t0);
                let n = conns.len() as u64;
                loop {
                    let now = now_ns();
                    if now >= end || plan.stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    let counts = delivered.iter().map(|d| d.load(Ordering::Relaxed));
                    // Pubsub: every receiver gets every message, the slowest one counts.
                    // Echo: each connection receives its own messages back, so they add up.
                    let acked = if *fan_in { counts.min().unwrap_or(k) } else { counts.sum() };
                    let room = window.saturating_sub(k - acked.min(k));
                    if room == 0 {
                        if conns.iter().any(|c| c.pending() > 0) {
                            flush_all(&mut conns, &mut result.blocked_writes)?;
                        }
                        std::thread::yield_now();
                        continue;
                    }
                    for _ in 0..room.min(BATCH) {
                        let i = (k % n) as usize;
                        encode(&mut conns, &mut result, i, now, now);
                        k += 1;
                    }
                    flush_all(&mut conns, &mut result.blocked_writes)?;
                    while conns.iter().any(|c| c.pending() > MAX_PENDING) {
                        wait_writable(&mut poll, &mut events, 10_000_000)?;
                        flush_all(&mut conns, &mut result.blocked_writes)?;
                    }
                    plan.sent_total.store(k, Ordering::Relaxed);
                }
            }
        }
    })();
    plan.sent_total.store(k, Ordering::Relaxed);
    if let Err(e) = outcome {
        result.error = Some(format!("sending failed: {e}"));
    } else {
        let deadline = now_ns() + crate::units::ns(flush_timeout);
        while conns.iter().any(|c| c.pending() > 0) && now_ns() < deadline {
            if let Err(e) = wait_writable(&mut poll, &mut events, 10_000_000)
                .and_then(|_| flush_all(&mut conns, &mut result.blocked_writes))
            {
                result.error = Some(format!("sending failed: {e}"));
                break;
            }
        }
        let unsent: usize = conns.iter().map(Conn::pending).sum();
        if unsent > 0 && result.error.is_none() {
            result.error =
                Some(format!("{unsent} bytes could not be written: the server stopped reading"));
        }
    }
    result.cpu_ns = thread_cpu_ns() - cpu0;
    result
}

fn flush_all(conns: &mut [Conn], blocked: &mut u64) -> io::Result<()> {
    for c in conns.iter_mut() {
        if c.pending() > 0 {
            c.flush(blocked)?;
        }
    }
    Ok(())
}

fn wait_writable(poll: &mut Poll, events: &mut Events, timeout_ns: u64) -> io::Result<()> {
    match poll.poll(events, Some(Duration::from_nanos(timeout_ns))) {
        Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
        _ => Ok(()),
    }
}
