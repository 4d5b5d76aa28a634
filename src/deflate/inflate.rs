//! Inflating received messages with a cap on what they inflate to.
//!
//! An [`Inflater`] is one DEFLATE stream. [`Inflater::push`] feeds it one frame's compressed
//! payload and appends what it inflates to a buffer that never grows past the caller's limit:
//! the buffer grows in steps as output is produced (never to the limit up front), and once it
//! holds the limit a single probe byte decides — any further output refuses the message
//! ([`InflateError::TooBig`], close `1009`). A run of zeros that would inflate to 1 MiB against
//! a 1 MiB limit is refused after at most the limit was allocated, whatever its compressed
//! size. Work per call is bounded by the frame's bytes and the limit.
//!
//! [`Inflate`] is what the reactor holds for all connections: the shared inflater (reset for
//! every message) for peers that keep no context, the output buffer of single-frame messages,
//! the counters, and the gauge of inflaters owned by connections (peers keeping their context,
//! and fragmented compressed messages in progress).
//!
//! A stream that ends (a block with BFINAL set, RFC 7692 §7.2.3.4) ends the message's data:
//! what follows in that message is ignored, and the next message starts a new stream.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use flate2::{Decompress, FlushDecompress, Status};

use super::{backend_bits, Counters, MAX_WINDOW_BITS, TAIL};

/// Why a compressed message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// It inflates past the limit (`max_message_size`): close `1009`.
    TooBig {
        /// The limit, in inflated bytes.
        limit: usize,
    },
    /// It is not valid DEFLATE: close `1007` (the payload is not what RSV1 says it is).
    Invalid(String),
}

impl InflateError {
    /// The close code to fail the connection with.
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            InflateError::TooBig { .. } => 1009,
            InflateError::Invalid(_) => 1007,
        }
    }
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InflateError::TooBig { limit } => {
                write!(f, "compressed message inflates past the {limit}-byte limit")
            }
            InflateError::Invalid(e) => write!(f, "invalid compressed data: {e}"),
        }
    }
}

impl std::error::Error for InflateError {}

/// Keeps [`Inflate::context_inflaters`] right: +1 while the inflater lives.
#[derive(Debug)]
struct Gauge(Arc<AtomicUsize>);

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One DEFLATE stream, inflating a message at a time.
pub(crate) struct Inflater {
    d: Decompress,
    /// The stream ended inside the current message.
    ended: bool,
    _gauge: Option<Gauge>,
}

impl fmt::Debug for Inflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inflater")
            .field("total_in", &self.d.total_in())
            .field("total_out", &self.d.total_out())
            .field("ended", &self.ended)
            .finish()
    }
}

/// A step of output buffer growth never adds more than this at once.
const MAX_STEP: usize = 1 << 20;

impl Inflater {
    /// An inflater for a peer whose window is at most 2^`window_bits` bytes (8..=15).
    pub(crate) fn new(window_bits: u8) -> Inflater {
        Inflater {
            d: Decompress::new_with_window_bits(false, backend_bits(window_bits)),
            ended: false,
            _gauge: None,
        }
    }

    /// Forget the stream: the next message starts afresh (a peer without context takeover,
    /// or after a stream that ended).
    pub(crate) fn reset(&mut self) {
        self.d.reset(false);
        self.ended = false;
    }

    /// Inflate one frame's compressed `input`, appending to `out`, which must not grow past
    /// `limit` bytes. On the message's `last` frame the `00 00 ff ff` tail is inflated too,
    /// so everything the message stands for is in `out` when this returns `Ok`.
    pub(crate) fn push(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        self.feed(input, out, limit)?;
        if last {
            self.feed(&TAIL, out, limit)?;
            if self.ended {
                // After a final block the next message is a new stream.
                self.reset();
            }
        }
        Ok(())
    }

    fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        let invalid = |e: flate2::DecompressError| InflateError::Invalid(e.to_string());
        while !input.is_empty() && !self.ended {
            if out.len() > limit {
                return Err(InflateError::TooBig { limit });
            }
            let before = self.d.total_in();
            let produced;
            let status = if out.len() == out.capacity() && out.capacity() >= limit {
                // Full to the limit: one more byte means too big.
                let mut probe = [0u8; 1];
                let out_before = self.d.total_out();
                let s =
                    self.d.decompress(input, &mut probe, FlushDecompress::None).map_err(invalid)?;
                if self.d.total_out() > out_before {
                    return Err(InflateError::TooBig { limit });
                }
                produced = false;
                s
            } else {
                if out.len() == out.capacity() {
                    let want =
                        out.capacity().max(input.len().saturating_mul(4)).clamp(256, MAX_STEP);
                    out.reserve_exact(want.min(limit - out.len()));
                }
                let len = out.len();
                let s =
                    self.d.decompress_vec(input, out, FlushDecompress::None).map_err(invalid)?;
                produced = out.len() > len;
                s
            };
            let used = (self.d.total_in() - before) as usize;
            input = &input[used..];
            if status == Status::StreamEnd {
                self.ended = true;
            } else if used == 0 && !produced {
                // Input left, room for output, and the stream takes neither.
                return Err(InflateError::Invalid("the stream makes no progress".into()));
            }
        }
        if out.len() > limit {
            return Err(InflateError::TooBig { limit });
        }
        Ok(())
    }
}

/// Buffers above this are given back after the message that needed them.
const KEEP_BUFFER: usize = 64 << 10;

/// The reactor's inflating state for all its connections.
#[derive(Debug)]
pub(crate) struct Inflate {
    /// For peers without context takeover, made at the first such message.
    shared: Option<Inflater>,
    /// The inflated payload of the last single-frame message.
    out: Vec<u8>,
    /// Messages and bytes inflated, refusals.
    pub(crate) counters: Counters,
    /// Inflaters owned by connections, alive now.
    owned: Arc<AtomicUsize>,
}

impl Default for Inflate {
    fn default() -> Self {
        Inflate::new()
    }
}

impl Inflate {
    /// No inflater and no buffer until the first compressed message.
    pub(crate) fn new() -> Inflate {
        Inflate {
            shared: None,
            out: Vec::new(),
            counters: Counters::default(),
            owned: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Inflaters owned by connections now: one per connection whose peer keeps its context
    /// (after its first compressed message), one per fragmented compressed message in
    /// progress from a peer that keeps none. Each holds about 46 KiB (`perf/deflate.sh`).
    pub(crate) fn context_inflaters(&self) -> usize {
        self.owned.load(Ordering::Relaxed)
    }

    /// An inflater a connection owns, counted in [`Inflate::context_inflaters`] while it lives.
    pub(crate) fn owned_inflater(&self, window_bits: u8) -> Box<Inflater> {
        self.owned.fetch_add(1, Ordering::Relaxed);
        let mut i = Inflater::new(window_bits);
        i._gauge = Some(Gauge(self.owned.clone()));
        Box::new(i)
    }

    /// Inflate a whole message (one frame) with `own`, or the shared inflater reset first.
    /// Returns the inflated payload, valid until the next call.
    pub(crate) fn message(
        &mut self,
        own: Option<&mut Inflater>,
        payload: &[u8],
        limit: usize,
    ) -> Result<&[u8], InflateError> {
        let inflater = match own {
            Some(i) => i,
            None => {
                let i = self.shared.get_or_insert_with(|| Inflater::new(MAX_WINDOW_BITS));
                i.reset();
                i
            }
        };
        if self.out.capacity() > KEEP_BUFFER {
            self.out = Vec::new();
        }
        self.out.clear();
        let result = inflater.push(payload, true, &mut self.out, limit);
        self.count(payload.len(), result.as_ref().map(|_| self.out.len()).map_err(Clone::clone))?;
        Ok(&self.out)
    }

    /// Count a message's outcome: `Ok(inflated length)` or the refusal.
    pub(crate) fn count(
        &mut self,
        compressed: usize,
        result: Result<usize, InflateError>,
    ) -> Result<(), InflateError> {
        let c = &mut self.counters;
        match result {
            Ok(len) => {
                c.inflated_messages += 1;
                c.inflated_bytes_in += compressed as u64;
                c.inflated_bytes_out += len as u64;
                Ok(())
            }
            Err(e) => {
                match e {
                    InflateError::TooBig { .. } => c.inflate_refused_too_big += 1,
                    InflateError::Invalid(_) => c.inflate_refused_invalid += 1,
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
#[path = "inflate_tests.rs"]
mod tests;
