//! permessage-deflate on the message path: the compressed variants of a delivery, shared by
//! every subscriber that agreed on the same window, and the re-encoding of the frames a single
//! subscriber gets (replays, owed `latest` values).
//!
//! A delivery's frames are one shared buffer per format (raw, envelope). For subscribers that
//! negotiated compression, [`Variants`] makes a second buffer per (format, window size) the
//! first time one of them needs it: every message of the batch compressed once (those below
//! `min_size`, or that would not shrink, as they are — mixing is valid), concatenated, and the
//! same `Arc` queued to every later subscriber with that format and window. So compression
//! costs once per message per window size in use (almost always one: 15 bits), never per
//! subscriber, and allocates one buffer per batch, as the uncompressed path does.

use std::sync::Arc;

use super::batch::Frames;
use crate::deflate::{Deflater, MAX_WINDOW_BITS};

/// Window sizes a variant can have: 9..=15 bits (8 is compressed with 9, see
/// `deflate::backend_bits`).
const WINDOWS: usize = (MAX_WINDOW_BITS - 8) as usize;

/// One delivery's compressed frames, by format (raw, envelope) and window size, made on demand.
#[derive(Debug, Default)]
pub(super) struct Variants {
    slots: [[Option<Arc<[u8]>>; WINDOWS]; 2],
}

impl Variants {
    /// The frames of `plain` (a buffer of unmasked data frames of format `envelope`) for a
    /// subscriber that agreed on `window_bits`. Compressed the first time; the same bytes for
    /// every later subscriber with that format and window. When no message of the delivery is
    /// worth compressing, that is `plain` itself.
    pub(super) fn get(
        &mut self,
        deflater: &mut Deflater,
        envelope: bool,
        window_bits: u8,
        plain: &Arc<[u8]>,
    ) -> Arc<[u8]> {
        let slot = &mut self.slots[usize::from(envelope)]
            [usize::from(crate::deflate::backend_bits(window_bits) - 9)];
        slot.get_or_insert_with(|| {
            recode(deflater, plain, window_bits).map_or_else(|| plain.clone(), Arc::from)
        })
        .clone()
    }
}

/// The messages of a buffer of unmasked data frames, re-encoded for a subscriber that agreed
/// on `window_bits`: `None` if none of them is worth compressing (send the buffer as it is).
pub(super) fn recode(deflater: &mut Deflater, frames: &[u8], window_bits: u8) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(frames.len());
    let compressed = deflater.push_messages(&mut out, Frames(frames), window_bits);
    (compressed > 0).then_some(out)
}

/// Re-encode `frames` in place for a subscriber that agreed on `window_bits` (see [`recode`]).
pub(super) fn recode_in_place(deflater: &mut Deflater, frames: &mut Vec<u8>, window_bits: u8) {
    if let Some(z) = recode(deflater, frames, window_bits) {
        *frames = z;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CompressionConfig;
    use crate::route::Batch;

    #[test]
    fn one_compression_per_message_and_window_whatever_the_subscribers() {
        let mut deflater = Deflater::new(&CompressionConfig::default());
        let mut batch = Batch::new();
        let big = "{\"symbol\":\"BTC-USD\",\"bid\":101250.5,\"ask\":101251.0}".repeat(20);
        batch.push(true, big.as_bytes());
        batch.push(true, b"{\"tick\":1}");
        batch.push(false, big.as_bytes());
        let raw = batch.share();
        let mut variants = Variants::default();
        // 100 subscribers: most with the full window, some asked for 10 bits, one for 8 (→ 9).
        let windows: Vec<u8> = (0..100)
            .map(|i| match i {
                50 => 8,
                i if i % 10 == 3 => 10,
                _ => 15,
            })
            .collect();
        let got: Vec<Arc<[u8]>> =
            windows.iter().map(|&w| variants.get(&mut deflater, false, w, &raw)).collect();
        let c = deflater.counters();
        assert_eq!(c.compressed_messages, 3 * 2, "2 messages worth it, at 15, 10 and 9 bits");
        assert_eq!(c.uncompressed_small, 3, "the tick, once per window");
        for (i, frames) in got.iter().enumerate() {
            let same = windows.iter().position(|&w| w == windows[i]).unwrap();
            assert!(Arc::ptr_eq(frames, &got[same]), "subscriber {i} shares the bytes");
            assert!(frames.len() < raw.len() / 4);
        }
        // A delivery with nothing worth compressing is shared as it is.
        let mut small = Batch::new();
        small.push(true, b"{\"tick\":2}");
        let plain = small.share();
        let mut variants = Variants::default();
        assert!(Arc::ptr_eq(&variants.get(&mut deflater, true, 15, &plain), &plain));
        assert_eq!(recode(&mut deflater, &plain, 15), None);
    }
}
