//! A receiving thread: one `mio` loop over many connections (10,000 subscribers need no thread
//! each), parsing server frames in place and recording each message's latency.
//!
//! Per read: one clock reading (every frame in that read arrived together), then per frame a
//! header parse, a 46-digit stamp decode, a sequence check and two histogram increments; no
//! allocation, no lock. A subscriber in Sluice's envelope mode (`--envelope`) first finds the
//! payload inside the envelope (`envelope.rs`); the others take no extra step. Bytes of an unfinished frame are carried in the connection's own small
//! buffer and put back in front of the next read. Subscribers answer pings with pongs; on a
//! publisher's read half (`Drain`) everything is read and discarded so a server's pings or
//! close frames never fill the socket.
//!
//! A message compressed with permessage-deflate (RSV1, after `--deflate` offered it) is inflated
//! first, into a buffer the thread reuses: each is inflated on its own, as Sluice compresses
//! each on its own (`server_no_context_takeover`). That is the work a browser does for it.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::clock::{now_ns, thread_cpu_ns};
use crate::envelope::{self, Content};
use crate::frame::{self, Masker, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT};
use crate::payload::read_stamp;
use crate::recorder::{Recorder, Window};
use crate::track::{Counts, Track};

const SCRATCH: usize = 256 * 1024;

/// What a connection receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A subscriber: messages from every sender.
    Sub,
    /// A subscriber in Sluice's envelope mode (`sluice.v1`): each message's payload is inside
    /// an envelope.
    Envelope,
    /// The read half of echo connection `sender`: its own messages, back.
    Echo(u32),
    /// The read half of a publisher: anything is discarded.
    Drain,
}

/// One connection handed to a receiver.
pub struct RxConn {
    /// The socket (or the read half of a shared one).
    pub stream: TcpStream,
    /// What it receives.
    pub role: Role,
    /// Bytes already read after the upgrade response.
    pub leftover: Vec<u8>,
    /// Index of its counter in `delivered` (subscribers and echo connections).
    pub slot: usize,
}

/// What a receiver thread needs.
pub struct RxPlan {
    /// Its connections.
    pub conns: Vec<RxConn>,
    /// Number of sender ids (publishers or echo connections).
    pub senders: usize,
    /// Messages intended in this window are recorded.
    pub window: Window,
    /// Unique messages received, per receiving connection (`slot`).
    pub delivered: Arc<Vec<AtomicU64>>,
    /// Set when the run is over.
    pub stop: Arc<AtomicBool>,
    /// Interval histograms for the progress display, about once a second.
    pub progress: Option<Sender<Recorder>>,
}

/// What a receiver saw.
#[derive(Debug, Default)]
pub struct RxResult {
    /// Latencies of measured messages.
    pub recorder: Recorder,
    /// Stream counters summed over its connections.
    pub counts: Counts,
    /// Messages with no stamp, or a stamp from a sender that does not exist.
    pub unparsable: u64,
    /// Data frames received in all.
    pub frames: u64,
    /// Connections the server closed or that failed, with why.
    pub errors: Vec<String>,
    /// CPU time of the thread, ns.
    pub cpu_ns: u64,
}

struct Conn {
    stream: TcpStream,
    role: Role,
    held: Vec<u8>,
    tracks: Vec<Track>,
    slot: usize,
    unique: u64,
    closed: bool,
}

/// Run until `stop` is set.
pub fn run(plan: RxPlan) -> RxResult {
    let cpu0 = thread_cpu_ns();
    let mut result = RxResult::default();
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            result.errors.push(format!("poll: {e}"));
            return result;
        }
    };
    let mut conns = Vec::with_capacity(plan.conns.len());
    for (i, c) in plan.conns.into_iter().enumerate() {
        let mut stream = c.stream;
        if let Err(e) = poll.registry().register(&mut stream, Token(i), Interest::READABLE) {
            result.errors.push(format!("register: {e}"));
            return result;
        }
        let tracks = match c.role {
            Role::Sub | Role::Envelope => vec![Track::default(); plan.senders],
            Role::Echo(_) => vec![Track::default()],
            Role::Drain => Vec::new(),
        };
        conns.push(Conn {
            stream,
            role: c.role,
            held: c.leftover,
            tracks,
            slot: c.slot,
            unique: 0,
            closed: false,
        });
    }
    let mut rx = Rx {
        scratch: vec![0; SCRATCH].into_boxed_slice(),
        inflate: None,
        window: plan.window,
        recorder: Recorder::default(),
        interval: plan.progress.as_ref().map(|_| Recorder::default()),
        masker: Masker::new(0x7e57),
        binary: Vec::new(),
        unparsable: 0,
        frames: 0,
        errors: Vec::new(),
    };
    // Frames that arrived with the upgrade response.
    for c in conns.iter_mut() {
        if !c.held.is_empty() {
            let mut held = std::mem::take(&mut c.held);
            let len = held.len();
            let used = rx.frames_in(c, &mut held, now_ns());
            c.held = held[used..len].to_vec();
        }
    }
    let mut events = Events::with_capacity(1024);
    let mut next_tick = now_ns() + 1_000_000_000;
    while !plan.stop.load(Ordering::Relaxed) {
        match poll.poll(&mut events, Some(Duration::from_millis(50))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                rx.errors.push(format!("poll: {e}"));
                break;
            }
        }
        for event in events.iter() {
            let key = event.token().0;
            let c = &mut conns[key];
            if c.closed {
                continue;
            }
            rx.read_all(c, event.is_read_closed() || event.is_error(), &plan.stop);
            if c.closed {
                let _ = poll.registry().deregister(&mut c.stream);
            }
            if c.role != Role::Drain {
                plan.delivered[c.slot].store(c.unique, Ordering::Relaxed);
            }
        }
        if let (Some(tx), Some(interval)) = (&plan.progress, rx.interval.as_mut()) {
            let now = now_ns();
            if now >= next_tick {
                next_tick = now + 1_000_000_000;
                let _ = tx.try_send(std::mem::take(interval));
            }
        }
    }
    for c in &conns {
        for t in &c.tracks {
            result.counts.add(&t.counts);
        }
    }
    result.recorder = rx.recorder;
    result.unparsable = rx.unparsable;
    result.frames = rx.frames;
    result.errors = rx.errors;
    result.cpu_ns = thread_cpu_ns() - cpu0;
    result
}

struct Rx {
    scratch: Box<[u8]>,
    /// permessage-deflate: the inflater and its output, made at the first compressed message.
    inflate: Option<(flate2::Decompress, Vec<u8>)>,
    window: Window,
    recorder: Recorder,
    interval: Option<Recorder>,
    masker: Masker,
    /// A binary payload decoded from an envelope's base64.
    binary: Vec<u8>,
    unparsable: u64,
    frames: u64,
    errors: Vec<String>,
}

impl Rx {
    /// Read until `WouldBlock` or a short read (the socket is drained: edge-triggered polling
    /// reports whatever arrives next, which saves a `read` per wake-up; with `hup`, read on to
    /// the EOF that will not be reported again), handling every complete frame.
    fn read_all(&mut self, c: &mut Conn, hup: bool, stop: &AtomicBool) {
        loop {
            let held = c.held.len();
            if held > SCRATCH / 2 {
                // A frame larger than half the scratch buffer is assembled in `held`.
                let mut chunk = [0u8; 16 * 1024];
                match c.stream.read(&mut chunk) {
                    Ok(0) => return self.eof(c, stop),
                    Ok(n) => {
                        c.held.extend_from_slice(&chunk[..n]);
                        let mut buf = std::mem::take(&mut c.held);
                        let used = self.frames_in(c, &mut buf, now_ns());
                        buf.drain(..used);
                        c.held = buf;
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return self.fail(c, stop, format!("read: {e}")),
                }
            }
            self.scratch[..held].copy_from_slice(&c.held);
            let n = match c.stream.read(&mut self.scratch[held..]) {
                Ok(0) => return self.eof(c, stop),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.fail(c, stop, format!("read: {e}")),
            };
            let now = now_ns();
            let mut scratch = std::mem::take(&mut self.scratch);
            let used = self.frames_in(c, &mut scratch[..held + n], now);
            c.held.clear();
            c.held.extend_from_slice(&scratch[used..held + n]);
            self.scratch = scratch;
            if c.closed || (n < SCRATCH - held && !hup) {
                return;
            }
        }
    }

    fn eof(&mut self, c: &mut Conn, stop: &AtomicBool) {
        c.closed = true;
        if !stop.load(Ordering::Relaxed) {
            self.errors.push("the server closed a connection (EOF)".into());
        }
    }

    fn fail(&mut self, c: &mut Conn, stop: &AtomicBool, why: String) {
        c.closed = true;
        if !stop.load(Ordering::Relaxed) {
            self.errors.push(why);
        }
    }

    /// Handle the complete frames at the start of `buf`; returns the bytes used.
    fn frames_in(&mut self, c: &mut Conn, buf: &mut [u8], now: u64) -> usize {
        let mut pos = 0;
        loop {
            let (opcode, compressed, payload_range, total) = match frame::parse(&buf[pos..]) {
                Ok(Some((f, total))) => {
                    let start = pos + total - f.payload.len();
                    (f.opcode, f.compressed && f.fin, start..pos + total, total)
                }
                Ok(None) => return pos,
                Err(e) => {
                    c.closed = true;
                    self.errors.push(format!("protocol error: {e}"));
                    return buf.len();
                }
            };
            pos += total;
            let payload = &buf[payload_range];
            match opcode {
                OP_TEXT | OP_BINARY if compressed => match self.inflated(payload) {
                    Ok(message) => {
                        let message = std::mem::take(message);
                        self.message(c, &message, now);
                        self.inflate.as_mut().expect("made by inflated").1 = message;
                    }
                    Err(e) => {
                        c.closed = true;
                        self.errors.push(format!("a compressed message does not inflate: {e}"));
                        return buf.len();
                    }
                },
                OP_TEXT | OP_BINARY | 0 => self.message(c, payload, now),
                OP_PING if matches!(c.role, Role::Sub | Role::Envelope) => {
                    let mut pong = Vec::with_capacity(6 + payload.len());
                    frame::encode_masked(&mut pong, OP_PONG, payload, self.masker.next());
                    let _ = c.stream.write(&pong);
                }
                OP_CLOSE => {
                    let code = payload.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
                    let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or(&[]));
                    self.errors.push(format!(
                        "the server closed a connection: code {} {reason}",
                        code.map_or("none".to_string(), |c| c.to_string())
                    ));
                    c.closed = true;
                    return buf.len();
                }
                _ => {}
            }
        }
    }

    /// One compressed message inflated (RFC 7692 §7.2.2: its deflate stream ends with the
    /// four bytes `00 00 ff ff`, which the sender removed).
    fn inflated(&mut self, z: &[u8]) -> Result<&mut Vec<u8>, flate2::DecompressError> {
        let (d, out) = self
            .inflate
            .get_or_insert_with(|| (flate2::Decompress::new(false), Vec::with_capacity(64 << 10)));
        d.reset(false);
        out.clear();
        for input in [z, &[0, 0, 0xff, 0xff][..]] {
            let mut input = input;
            while !input.is_empty() {
                if out.len() == out.capacity() {
                    out.reserve(out.capacity().max(4096));
                }
                let before = d.total_in();
                d.decompress_vec(input, out, flate2::FlushDecompress::Sync)?;
                let used = (d.total_in() - before) as usize;
                input = &input[used..];
                if used == 0 && out.len() < out.capacity() {
                    break;
                }
            }
        }
        // Output held back by a full buffer.
        while out.len() == out.capacity() {
            out.reserve(out.capacity().max(4096));
            d.decompress_vec(&[], out, flate2::FlushDecompress::Sync)?;
        }
        Ok(out)
    }

    #[inline]
    fn message(&mut self, c: &mut Conn, payload: &[u8], now: u64) {
        self.frames += 1;
        let stamp = if c.role == Role::Envelope {
            match envelope::open(payload, &mut self.binary) {
                Content::Payload(p) => read_stamp(p),
                Content::Control => return,
                Content::Invalid => None,
            }
        } else {
            read_stamp(payload)
        };
        let Some(stamp) = stamp else {
            if c.role != Role::Drain {
                self.unparsable += 1;
            }
            return;
        };
        let track = match c.role {
            Role::Drain => return,
            Role::Sub | Role::Envelope => c.tracks.get_mut(stamp.sender as usize),
            Role::Echo(id) if id == stamp.sender => c.tracks.get_mut(0),
            Role::Echo(_) => None,
        };
        let Some(track) = track else {
            self.unparsable += 1;
            return;
        };
        if track.on_seq(stamp.seq) {
            c.unique += 1;
            if self.window.contains(stamp.intended) {
                self.recorder.record(stamp.intended, stamp.sent, now);
                if let Some(i) = self.interval.as_mut() {
                    i.record(stamp.intended, stamp.sent, now);
                }
            }
        }
    }
}
