//! The compressed frames of one message for its subscribers: compressed the first time a window
//! size is asked for, the same shared bytes for every later subscriber with that window.
//!
//! The fan-out makes one [`SharedFrames`] per message, asks it for the frame of each subscriber
//! that negotiated compression, and queues the returned `Arc` (a reference count increment, as
//! for the uncompressed frame). Whether the message is worth compressing at all
//! (`[compression] min_size`) is decided before; a failed compression returns `None`: send the
//! uncompressed frame, which RFC 7692 always allows.

use std::sync::Arc;

use super::{backend_bits, Compressor};
use crate::conn::frames;

/// One message's compressed frames, by window size (9..=15 bits), made on demand.
#[derive(Debug)]
pub(crate) struct SharedFrames<'a> {
    payload: &'a [u8],
    text: bool,
    /// Index `bits - 9`; `Some(None)`: compression failed for that window.
    frames: [Option<Option<Arc<[u8]>>>; 7],
}

impl<'a> SharedFrames<'a> {
    /// Nothing is compressed until a subscriber asks.
    pub(crate) fn new(payload: &'a [u8], text: bool) -> SharedFrames<'a> {
        SharedFrames { payload, text, frames: Default::default() }
    }

    /// The frame (header with RSV1, compressed payload) for a subscriber that agreed on
    /// `window_bits`; `None` if compression failed.
    pub(crate) fn get(
        &mut self,
        compressor: &mut Compressor,
        window_bits: u8,
    ) -> Option<Arc<[u8]>> {
        let (payload, text) = (self.payload, self.text);
        self.frames[(backend_bits(window_bits) - 9) as usize]
            .get_or_insert_with(|| {
                let z = compressor.compress(payload, window_bits).ok()?;
                let mut frame = Vec::with_capacity(z.len() + 10);
                frames::encode_compressed_frame(&mut frame, frames::data_opcode(text), z, None);
                Some(Arc::from(frame))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::frames::{Event, Flow, FrameLimits, FrameReader, Role};
    use crate::deflate::{Inflate, Receive};

    #[test]
    fn one_compression_per_window_whatever_the_subscribers() {
        let message = "{\"symbol\":\"BTC-USD\",\"bid\":101250.5,\"ask\":101251.0}".repeat(20);
        let mut compressor = Compressor::new(2);
        let mut shared = SharedFrames::new(message.as_bytes(), true);
        // 100 subscribers: most with the full window, some asked for 10 bits, one for 8 (→ 9).
        let windows: Vec<u8> = (0..100)
            .map(|i| {
                if i % 10 == 3 {
                    10
                } else if i == 50 {
                    8
                } else {
                    15
                }
            })
            .collect();
        let got: Vec<Arc<[u8]>> =
            windows.iter().map(|&w| shared.get(&mut compressor, w).unwrap()).collect();
        assert_eq!(compressor.counters.compressed_messages, 3, "15, 10 and 9 bits");
        for (i, frame) in got.iter().enumerate() {
            let same = windows.iter().position(|&w| w == windows[i]).unwrap();
            assert!(Arc::ptr_eq(frame, &got[same]), "subscriber {i} shares the bytes");
        }
        // Each variant is a valid compressed frame of the message for a reader.
        let limits = FrameLimits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
            max_fragments: 1,
            max_empty_fragments: 0,
        };
        let mut inflate = Inflate::new();
        for frame in [&got[0], &got[3], &got[50]] {
            assert_eq!(frame[0], 0x80 | 0x40 | 0x01, "FIN, RSV1, text");
            assert!(frame.len() < message.len() / 4);
            let mut reader = FrameReader::new(Role::Client);
            reader.set_receive(Receive::NoContext);
            let mut bytes = frame.to_vec();
            let mut text = String::new();
            reader
                .process_with(&mut bytes, &limits, Some(&mut inflate), |e| {
                    if let Event::Message { text: true, payload } = e {
                        text = String::from_utf8(payload.to_vec()).unwrap();
                    }
                    Flow::Continue
                })
                .unwrap();
            assert_eq!(text, message);
        }
    }
}
