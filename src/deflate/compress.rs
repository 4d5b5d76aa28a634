//! The compressor of outgoing messages: once per message (per window size) for every
//! subscriber, never per connection.
//!
//! Every message is compressed on its own (the stream is reset first: no context takeover), so
//! the same bytes are valid for every peer that agreed on the window, whatever it received
//! before. One DEFLATE stream per window size (9..=15 bits, made on first use) and one output
//! buffer are reused for every message: after warm-up a call allocates nothing, except to grow
//! the buffer for a larger message than any before. The time spent is measured around each
//! call and counted ([`Counters`]).

use std::fmt;
use std::time::Instant;

use flate2::{Compress, Compression, FlushCompress, Status};

use super::{backend_bits, Counters, MAX_WINDOW_BITS, TAIL};

/// The compressor failed (the backend reported an error). Send the message uncompressed: RFC
/// 7692 lets any message go without compression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompressError(String);

impl fmt::Display for CompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "compression failed: {}", self.0)
    }
}

impl std::error::Error for CompressError {}

/// Streams of the window sizes in use, and the output buffer they share.
pub(crate) struct Compressor {
    level: u32,
    /// Index `bits - 9`.
    streams: [Option<Compress>; 7],
    out: Vec<u8>,
    /// Messages, bytes in and out, time spent.
    pub(crate) counters: Counters,
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let windows: Vec<u8> =
            (9..=MAX_WINDOW_BITS).filter(|b| self.streams[(b - 9) as usize].is_some()).collect();
        f.debug_struct("Compressor")
            .field("level", &self.level)
            .field("windows", &windows)
            .field("counters", &self.counters)
            .finish()
    }
}

/// Output buffers above this are given back after the message that needed them.
const KEEP_BUFFER: usize = 64 << 10;

impl Compressor {
    /// A compressor at DEFLATE `level` (1 fastest … 9 smallest). No stream exists until the
    /// first message.
    pub(crate) fn new(level: u32) -> Compressor {
        Compressor {
            level: level.clamp(1, 9),
            streams: Default::default(),
            out: Vec::new(),
            counters: Counters::default(),
        }
    }

    /// Compress `payload` on its own for peers that agreed on a window of `window_bits`
    /// (8..=15). Returns the frame payload (the trailing `00 00 ff ff` removed, RFC 7692
    /// §7.2.1), valid until the next call.
    pub(crate) fn compress(
        &mut self,
        payload: &[u8],
        window_bits: u8,
    ) -> Result<&[u8], CompressError> {
        let started = Instant::now();
        let bits = backend_bits(window_bits);
        let level = self.level;
        let stream = self.streams[(bits - 9) as usize].get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(level), false, bits)
        });
        stream.reset();
        if self.out.capacity() > KEEP_BUFFER && payload.len() < KEEP_BUFFER {
            self.out = Vec::new();
        }
        self.out.clear();
        // Stored blocks cost 5 bytes per 16 KiB at worst; the flush adds a few more.
        self.out.reserve(payload.len() + payload.len() / 1024 * 5 + 64);
        loop {
            let done = stream.total_in() as usize;
            let status = stream
                .compress_vec(&payload[done..], &mut self.out, FlushCompress::Sync)
                .map_err(|e| CompressError(e.to_string()))?;
            // The flush is complete once all input is in and the output did not fill up.
            if stream.total_in() as usize == payload.len() && self.out.len() < self.out.capacity() {
                break;
            }
            if status == Status::BufError && self.out.len() < self.out.capacity() {
                return Err(CompressError("no progress".into()));
            }
            self.out.reserve(self.out.capacity().max(64));
        }
        if !self.out.ends_with(&TAIL) {
            return Err(CompressError("the sync flush did not end with 00 00 ff ff".into()));
        }
        self.out.truncate(self.out.len() - TAIL.len());
        let c = &mut self.counters;
        c.compressed_messages += 1;
        c.compressed_bytes_in += payload.len() as u64;
        c.compressed_bytes_out += self.out.len() as u64;
        c.compress_nanos += started.elapsed().as_nanos() as u64;
        Ok(&self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::distance;

    fn inflate(z: &[u8]) -> Vec<u8> {
        let mut d = flate2::Decompress::new(false);
        let mut input = z.to_vec();
        input.extend_from_slice(&TAIL);
        let mut out = Vec::with_capacity(1 << 20);
        d.decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync).unwrap();
        assert_eq!(d.total_in() as usize, input.len());
        out
    }

    /// Text with repeats near and far: distances up to the whole input are worth using.
    fn sample(len: usize) -> Vec<u8> {
        let mut x = 0x2545_f491u32;
        let mut words = Vec::new();
        for i in 0..64 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            words.push(format!("{{\"k{i}\":{x},\"name\":\"w{}\"}}", x % 977));
        }
        let mut s = Vec::new();
        while s.len() < len {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            s.extend_from_slice(words[(x % 64) as usize].as_bytes());
        }
        s.truncate(len);
        s
    }

    #[test]
    fn rfc_7692_hello_is_byte_exact() {
        // §7.2.3.1: "Hello" compressed is f2 48 cd c9 c9 07 00 (one fixed-Huffman block).
        let mut c = Compressor::new(6);
        assert_eq!(c.compress(b"Hello", 15).unwrap(), [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        // No context takeover: the second message is the same bytes again (§7.2.3.2 shows
        // what a compressor keeping its context would send instead).
        assert_eq!(c.compress(b"Hello", 15).unwrap(), [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        // An empty message is one byte: an empty stored block's header, its LEN stripped.
        assert_eq!(c.compress(b"", 15).unwrap(), [0x00]);
        assert_eq!(inflate(&[0x00]), b"");
    }

    #[test]
    fn every_window_round_trips_and_stays_inside_its_window() {
        let mut c = Compressor::new(6);
        let data = sample(200_000);
        for bits in 8..=15u8 {
            for len in [0, 1, 100, 1000, 40_000, 200_000] {
                let z = c.compress(&data[..len], bits).unwrap().to_vec();
                assert_eq!(inflate(&z), &data[..len], "bits {bits} len {len}");
                let mut tailed = z.clone();
                tailed.extend_from_slice(&TAIL);
                let scan = distance::scan(&tailed).unwrap();
                assert_eq!(scan.len, len);
                assert!(
                    scan.max_distance <= 1 << bits,
                    "bits {bits}: a back-reference of {} bytes",
                    scan.max_distance
                );
                if len == 200_000 {
                    // The window really was used (to its end less zlib's 262-byte lookahead).
                    let window = 1usize << backend_bits(bits);
                    assert!(scan.max_distance >= window - 262 - 64, "bits {bits}: {scan:?}");
                }
            }
        }
    }

    #[test]
    fn counters_and_buffer_reuse() {
        let mut c = Compressor::new(1);
        let data = sample(1000);
        let n = c.compress(&data, 15).unwrap().len();
        assert!(n < 1000);
        let cap = c.out.capacity();
        c.compress(&data, 15).unwrap();
        assert_eq!(c.out.capacity(), cap, "the buffer is reused");
        assert_eq!(c.counters.compressed_messages, 2);
        assert_eq!(c.counters.compressed_bytes_in, 2000);
        assert_eq!(c.counters.compressed_bytes_out, 2 * n as u64);
        // A large message grows the buffer; the next small one gives it back.
        c.compress(&sample(300_000), 15).unwrap();
        assert!(c.out.capacity() > KEEP_BUFFER);
        c.compress(&data, 15).unwrap();
        assert!(c.out.capacity() <= KEEP_BUFFER);
        // Incompressible input grows a little, and still round-trips.
        let noise: Vec<u8> =
            (0..50_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let z = c.compress(&noise, 12).unwrap().to_vec();
        assert_eq!(inflate(&z), noise);
    }
}
