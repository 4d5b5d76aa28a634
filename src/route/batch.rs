//! The batch: the messages one read produced for one topic, encoded once as unmasked server
//! frames, ready to be shared by every subscriber. It is an explicit value the reactor passes
//! from the frame parser to [`crate::route::Router::publish`], which empties it.

use std::sync::Arc;

use super::envelope::WindowMeta;
use crate::conn::frames;

/// Encoded frames are handed on once a batch reaches this size (the parser pauses, the batch
/// is published, parsing goes on).
pub(crate) const BATCH_FLUSH: usize = 64 * 1024;

/// Messages encoded once for all their receivers, and their counts.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    frames: Vec<u8>,
    messages: u64,
    payload_bytes: u64,
    /// Window results: the watermark and finality of each message that is one (empty if no
    /// message of the batch is).
    windows: Vec<Option<WindowMeta>>,
}

impl Batch {
    /// An empty batch with room for [`BATCH_FLUSH`] bytes and one more frame.
    pub(crate) fn new() -> Batch {
        Batch {
            frames: Vec::with_capacity(BATCH_FLUSH * 2),
            messages: 0,
            payload_bytes: 0,
            windows: Vec::new(),
        }
    }

    /// Encode one message.
    pub(crate) fn push(&mut self, text: bool, payload: &[u8]) {
        frames::encode_frame(&mut self.frames, frames::data_opcode(text), payload, None);
        self.messages += 1;
        self.payload_bytes += payload.len() as u64;
    }

    /// Encode one message that may be a window result.
    pub(crate) fn push_window(&mut self, text: bool, payload: &[u8], meta: Option<WindowMeta>) {
        if meta.is_some() || !self.windows.is_empty() {
            self.windows.resize(self.messages as usize, None);
            self.windows.push(meta);
        }
        self.push(text, payload);
    }

    /// The window metadata of every message, if some are window results.
    pub(crate) fn windows(&self) -> Option<&[Option<WindowMeta>]> {
        (!self.windows.is_empty()).then_some(&self.windows[..])
    }

    /// The window metadata of message `i`, if it is a window result.
    pub(crate) fn window(&self, i: usize) -> Option<WindowMeta> {
        self.windows.get(i).copied().flatten()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.messages == 0
    }

    /// Big enough to hand on now.
    pub(crate) fn is_full(&self) -> bool {
        self.frames.len() >= BATCH_FLUSH
    }

    pub(crate) fn messages(&self) -> u64 {
        self.messages
    }

    /// Payload bytes of the messages (frame headers excluded).
    pub(crate) fn payload_bytes(&self) -> u64 {
        self.payload_bytes
    }

    /// The encoded frames, in one shared allocation.
    pub(crate) fn share(&self) -> Arc<[u8]> {
        Arc::from(&self.frames[..])
    }

    /// Every message: (text, payload).
    pub(crate) fn iter(&self) -> Frames<'_> {
        Frames(&self.frames)
    }

    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.messages = 0;
        self.payload_bytes = 0;
        self.windows.clear();
    }
}

/// The messages of a buffer of unmasked data frames the relay encoded itself.
#[derive(Debug, Clone)]
pub(crate) struct Frames<'a>(pub(crate) &'a [u8]);

impl<'a> Iterator for Frames<'a> {
    type Item = (bool, &'a [u8]);

    fn next(&mut self) -> Option<(bool, &'a [u8])> {
        let (text, payload, rest) = next_frame(self.0)?;
        self.0 = rest;
        Some((text, payload))
    }
}

/// Split the first frame off a buffer of unmasked data frames: (text, payload, the rest).
fn next_frame(buf: &[u8]) -> Option<(bool, &[u8], &[u8])> {
    let (&b0, rest) = buf.split_first()?;
    let (&b1, rest) = rest.split_first()?;
    let (len, rest) = match b1 & 0x7f {
        126 => {
            let (n, rest) = rest.split_at_checked(2)?;
            (usize::from(u16::from_be_bytes([n[0], n[1]])), rest)
        }
        127 => {
            let (n, rest) = rest.split_at_checked(8)?;
            (usize::try_from(u64::from_be_bytes(n.try_into().ok()?)).ok()?, rest)
        }
        n => (usize::from(n), rest),
    };
    let (payload, rest) = rest.split_at_checked(len)?;
    Some((b0 & 0x0f == 0x1, payload, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_messages_split_back() {
        let mut b = Batch::new();
        let big = vec![7u8; 70_000];
        let mid = vec![b'x'; 300];
        for (text, payload) in
            [(true, &b"hi"[..]), (false, &big[..]), (true, &mid[..]), (true, b"")]
        {
            b.push(text, payload);
        }
        assert_eq!((b.messages(), b.payload_bytes()), (4, 70_302));
        assert!(b.is_full());
        let got: Vec<_> = b.iter().map(|(t, p)| (t, p.len())).collect();
        assert_eq!(got, [(true, 2), (false, 70_000), (true, 300), (true, 0)]);
        b.clear();
        assert!(b.is_empty() && b.iter().next().is_none());
        // Window metadata, from the first message or a later one.
        let w = WindowMeta { watermark: 9, last: true };
        b.push_window(true, b"a", Some(w));
        b.push_window(true, b"b", None);
        assert_eq!((b.window(0), b.window(1)), (Some(w), None));
        b.clear();
        b.push_window(true, b"a", None);
        b.push_window(true, b"b", Some(w));
        assert_eq!(
            (b.window(0), b.window(1), b.windows().map(<[_]>::len)),
            (None, Some(w), Some(2))
        );
    }
}
