//! The compressing side of the fan-out: one [`Deflater`] for the whole relay (every topic, every
//! connection), which decides per message whether it is worth compressing and appends the
//! frame a peer with a given window receives.
//!
//! The fan-out asks it once per message per window size in use (`route/compressed.rs` keeps
//! the result of a batch for every later subscriber with that window), replays once per
//! replayed message, `/echo` once per compressed message it answers. Messages shorter than `[compression] min_size`, messages
//! that do not get smaller, and messages the compressor fails on are sent as they are (RFC 7692
//! lets a sender leave any message uncompressed, so mixing is always valid); each case is
//! counted.

use super::{Compressor, Counters};
use crate::config::CompressionConfig;
use crate::conn::frames;

/// The relay's compressor, with the size below which messages are left alone.
#[derive(Debug)]
pub(crate) struct Deflater {
    compressor: Compressor,
    min_size: usize,
}

impl Deflater {
    /// A deflater for `[compression]`; no DEFLATE stream exists until the first message.
    pub(crate) fn new(config: &CompressionConfig) -> Deflater {
        Deflater { compressor: Compressor::new(config.level), min_size: config.min_size }
    }

    /// What it did: messages and bytes compressed, time spent, messages left uncompressed.
    pub(crate) fn counters(&self) -> Counters {
        self.compressor.counters
    }

    /// Append `payload` as one unmasked frame for a peer that agreed on `window_bits`:
    /// compressed (RSV1 set) if it is at least `min_size` bytes and gets smaller, else as it
    /// is. Returns true if it went compressed.
    pub(crate) fn push_message(
        &mut self,
        out: &mut Vec<u8>,
        text: bool,
        payload: &[u8],
        window_bits: u8,
    ) -> bool {
        let opcode = frames::data_opcode(text);
        if payload.len() < self.min_size {
            self.compressor.counters.uncompressed_small += 1;
            frames::encode_frame(out, opcode, payload, None);
            return false;
        }
        match self.compressor.compress(payload, window_bits) {
            Ok(z) if z.len() < payload.len() => {
                frames::encode_compressed_frame(out, opcode, z, None);
                true
            }
            Ok(_) => {
                self.compressor.counters.uncompressed_incompressible += 1;
                frames::encode_frame(out, opcode, payload, None);
                false
            }
            Err(e) => {
                log::debug!("{e}; the message goes uncompressed");
                self.compressor.counters.compress_failed += 1;
                frames::encode_frame(out, opcode, payload, None);
                false
            }
        }
    }

    /// Append `payload` as one compressed frame whatever its size (`/echo` answers a
    /// compressed message compressed); uncompressed only if the compressor fails.
    pub(crate) fn push_compressed(
        &mut self,
        out: &mut Vec<u8>,
        text: bool,
        payload: &[u8],
        window_bits: u8,
    ) {
        let opcode = frames::data_opcode(text);
        match self.compressor.compress(payload, window_bits) {
            Ok(z) => frames::encode_compressed_frame(out, opcode, z, None),
            Err(e) => {
                log::debug!("{e}; the message goes uncompressed");
                self.compressor.counters.compress_failed += 1;
                frames::encode_frame(out, opcode, payload, None);
            }
        }
    }

    /// Append every message of `messages` as [`Deflater::push_message`] does. Returns how
    /// many went compressed.
    pub(crate) fn push_messages<'a>(
        &mut self,
        out: &mut Vec<u8>,
        messages: impl IntoIterator<Item = (bool, &'a [u8])>,
        window_bits: u8,
    ) -> usize {
        messages
            .into_iter()
            .filter(|&(text, payload)| self.push_message(out, text, payload, window_bits))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::frames::{Event, Flow, FrameLimits, FrameReader, Role};
    use crate::deflate::{Inflate, Receive};

    /// Read frames as a client with the extension negotiated: (compressed?, payload) per
    /// message.
    fn read(bytes: &[u8]) -> Vec<(bool, Vec<u8>)> {
        let limits = FrameLimits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
            max_fragments: 1,
            max_empty_fragments: 0,
        };
        let mut reader = FrameReader::new(Role::Client);
        reader.set_receive(Receive::NoContext);
        let mut inflate = Inflate::new();
        let mut buf = bytes.to_vec();
        let mut got = Vec::new();
        let progress = reader
            .process_with(&mut buf, &limits, Some(&mut inflate), |e| {
                if let Event::Message { payload, .. } = e {
                    got.push(payload.to_vec());
                }
                Flow::Continue
            })
            .unwrap();
        assert_eq!(progress.consumed, bytes.len());
        // RSV1 of each frame (every frame here is a whole message).
        let mut flags = Vec::new();
        let mut rest = bytes;
        while let [b0, b1, ..] = *rest {
            let (len, head) = match b1 & 0x7f {
                126 => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
                127 => (u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize, 10),
                n => (usize::from(n), 2),
            };
            flags.push(b0 & 0x40 != 0);
            rest = &rest[head + len..];
        }
        flags.into_iter().zip(got).collect()
    }

    #[test]
    fn small_and_incompressible_messages_go_as_they_are() {
        let config = CompressionConfig { min_size: 64, ..CompressionConfig::default() };
        let mut d = Deflater::new(&config);
        let big = "{\"symbol\":\"BTC-USD\",\"bid\":101250.5,\"ask\":101251.0}".repeat(20);
        // Random bytes: DEFLATE cannot make them smaller.
        let mut x = 0x2545_f491u32;
        let noise: Vec<u8> = (0..300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 11) as u8
            })
            .collect();
        let mut out = Vec::new();
        let n = d.push_messages(
            &mut out,
            [(true, big.as_bytes()), (true, &b"tick"[..]), (false, &noise[..])],
            15,
        );
        assert_eq!(n, 1);
        let got = read(&out);
        let want = [(true, big.clone().into_bytes()), (false, b"tick".to_vec()), (false, noise)];
        assert_eq!(got, want);
        let c = d.counters();
        assert_eq!((c.compressed_messages, c.uncompressed_small), (2, 1));
        assert_eq!(c.uncompressed_incompressible, 1);
        assert_eq!(c.compressed_bytes_in, (big.len() + 300) as u64);
    }
}
