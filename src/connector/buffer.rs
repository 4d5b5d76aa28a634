//! The outgoing buffer of a connector: messages waiting to be sent upstream, already encoded as
//! masked client frames, bounded in bytes, with a named overflow policy.
//!
//! The buffer belongs to the connector, not to a connection: it fills while the upstream is
//! away and drains into the next connection, in order. It is one contiguous `Vec` with a read
//! offset, reused for the life of the connector, so queueing a message costs one frame encoding
//! (the mask makes a client frame different for each message and each connector) and no
//! allocation once the buffer has grown to its working size.
//!
//! Rules:
//!
//! - A message is removed once its whole frame has been written to a socket. A frame written in
//!   part when its connection fails is sent again, whole, on the next connection (the upstream
//!   never saw it complete), so a message is never cut or sent twice by Sluice. Messages whose
//!   frames were written to a connection that then fails may still be lost with it: delivery
//!   to the upstream is at most once.
//! - When a connection starts closing (either side), what the buffer holds is handed to it,
//!   before its close frame, in order; except after a stall, when only a frame written in part
//!   is finished and the rest waits for the next connection.
//! - The bound counts the encoded frames held, including one being written.
//! - When a new message does not fit, the policy decides ([`Overflow`]); either way the loss is
//!   counted. A message larger than the whole bound is dropped and counted as oversize.

use std::collections::VecDeque;

use crate::conn::frames;

/// What a connector's buffer does with a message that does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Drop the oldest buffered messages until the new one fits: the upstream gets the most
    /// recent data after an outage (the default).
    #[default]
    DropOldest,
    /// Drop the new message: the upstream gets the data from the start of the outage, up to the
    /// bound.
    DropNewest,
}

impl std::str::FromStr for Overflow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "drop-oldest" => Ok(Overflow::DropOldest),
            "drop-newest" => Ok(Overflow::DropNewest),
            other => {
                Err(format!("unknown overflow policy `{other}` (use drop-oldest or drop-newest)"))
            }
        }
    }
}

/// Encoded frames waiting for the upstream.
#[derive(Debug)]
pub(crate) struct SinkBuffer {
    buf: Vec<u8>,
    /// Offset of the oldest frame in `buf`.
    start: usize,
    /// Length of each buffered frame, oldest first.
    frames: VecDeque<usize>,
    /// Bytes of the oldest frame already written to the current connection.
    head_sent: usize,
    bound: usize,
    policy: Overflow,
    /// Messages dropped by the overflow policy.
    pub(crate) dropped_overflow: u64,
    /// Messages dropped because they are larger than the whole bound.
    pub(crate) dropped_oversize: u64,
}

impl SinkBuffer {
    pub(crate) fn new(bound: usize, policy: Overflow) -> SinkBuffer {
        SinkBuffer {
            buf: Vec::new(),
            start: 0,
            frames: VecDeque::new(),
            head_sent: 0,
            bound,
            policy,
            dropped_overflow: 0,
            dropped_oversize: 0,
        }
    }

    /// Bytes held (encoded frames, including the written part of a frame being written).
    pub(crate) fn bytes(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Messages held.
    pub(crate) fn messages(&self) -> usize {
        self.frames.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Encode a message as a masked client frame at the end of the buffer, applying the
    /// overflow policy if it does not fit.
    pub(crate) fn push(&mut self, text: bool, payload: &[u8], mask: [u8; 4]) {
        let size = frame_len(payload.len());
        if size > self.bound {
            self.dropped_oversize += 1;
            return;
        }
        while self.bytes() + size > self.bound {
            if self.policy == Overflow::DropNewest || !self.drop_oldest() {
                self.dropped_overflow += 1;
                return;
            }
        }
        if self.start > 0 && self.buf.len() + size > self.buf.capacity() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        frames::encode_frame(&mut self.buf, frames::data_opcode(text), payload, Some(mask));
        debug_assert_eq!(self.buf.len() - self.start, self.bytes());
        self.frames.push_back(size);
    }

    /// Drop the oldest message that is not being written. False if there is none.
    fn drop_oldest(&mut self) -> bool {
        if self.head_sent == 0 {
            let Some(len) = self.frames.pop_front() else { return false };
            self.start += len;
        } else if self.frames.len() >= 2 {
            // The head is partly on the wire: it must be finished; drop the one after it.
            let at = self.start + self.frames[0];
            let len = self.frames.remove(1).unwrap_or(0);
            self.buf.drain(at..at + len);
        } else {
            return false;
        }
        self.dropped_overflow += 1;
        self.release_if_empty();
        true
    }

    /// Every byte not yet written, in order.
    pub(crate) fn unsent(&self) -> &[u8] {
        &self.buf[self.start + self.head_sent..]
    }

    /// The rest of a frame written in part, if any: it goes before anything else.
    pub(crate) fn partial(&self) -> Option<&[u8]> {
        (self.head_sent > 0)
            .then(|| &self.buf[self.start + self.head_sent..self.start + self.frames[0]])
    }

    /// `n` more bytes were written. Returns the number of messages (and their frame bytes) now
    /// completely written.
    pub(crate) fn advance(&mut self, mut n: usize) -> (u64, u64) {
        let (mut msgs, mut bytes) = (0, 0);
        while n > 0 {
            let Some(&len) = self.frames.front() else { break };
            let left = len - self.head_sent;
            if n < left {
                self.head_sent += n;
                break;
            }
            n -= left;
            self.frames.pop_front();
            self.start += len;
            self.head_sent = 0;
            msgs += 1;
            bytes += len as u64;
        }
        self.release_if_empty();
        (msgs, bytes)
    }

    /// The connection being written to ends abruptly: a frame written in part is sent again,
    /// whole, on the next connection.
    pub(crate) fn restart(&mut self) {
        self.head_sent = 0;
    }

    /// Take the rest of a frame written in part (to finish it on its connection before a close
    /// frame); the message counts as written. Returns the bytes and the whole frame's length.
    pub(crate) fn take_partial(&mut self) -> Option<(Vec<u8>, u64)> {
        let rest = self.partial()?.to_vec();
        let (_, bytes) = self.advance(rest.len());
        Some((rest, bytes))
    }

    /// Take every unsent byte (to hand to a connection that is closing after them). Returns the
    /// bytes, and the messages and frame bytes they complete.
    pub(crate) fn take_all(&mut self) -> (Vec<u8>, (u64, u64)) {
        let rest = self.unsent().to_vec();
        let done = self.advance(rest.len());
        (rest, done)
    }

    fn release_if_empty(&mut self) {
        if self.frames.is_empty() {
            self.buf.clear();
            self.start = 0;
            self.head_sent = 0;
        }
    }
}

/// Size of a masked frame carrying `payload` bytes.
pub(crate) fn frame_len(payload: usize) -> usize {
    let ext = match payload {
        0..=125 => 0,
        126..=65535 => 2,
        _ => 8,
    };
    2 + ext + 4 + payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::frames::{Event, Flow, FrameLimits, FrameReader, Role};

    const MASK: [u8; 4] = [1, 2, 3, 4];

    /// Decode masked frames the way a server does.
    fn decode(bytes: &[u8]) -> Vec<String> {
        let mut buf = bytes.to_vec();
        let mut out = Vec::new();
        let limits = FrameLimits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
            max_fragments: 1000,
            max_empty_fragments: 1000,
        };
        let p = FrameReader::new(Role::Server)
            .process(&mut buf, &limits, |e| {
                if let Event::Message { payload, .. } = e {
                    out.push(String::from_utf8_lossy(payload).to_string());
                }
                Flow::Continue
            })
            .unwrap();
        assert_eq!(p.consumed, bytes.len(), "whole frames only");
        out
    }

    fn filled(bound: usize, policy: Overflow, msgs: &[&str]) -> SinkBuffer {
        let mut b = SinkBuffer::new(bound, policy);
        for m in msgs {
            b.push(true, m.as_bytes(), MASK);
        }
        b
    }

    #[test]
    fn frames_are_masked_and_sizes_are_exact() {
        let b = filled(1000, Overflow::DropOldest, &["a", "bc"]);
        assert_eq!(b.bytes(), frame_len(1) + frame_len(2));
        assert_eq!(b.unsent()[1] & 0x80, 0x80, "mask bit");
        assert_eq!(decode(b.unsent()), ["a", "bc"]);
        assert_eq!([frame_len(125), frame_len(126), frame_len(70_000)], [131, 134, 70_014]);
    }

    #[test]
    fn drop_oldest_keeps_the_newest_within_the_bound() {
        // Each 4-byte message is a 10-byte frame: a 35-byte bound holds three.
        let b = filled(35, Overflow::DropOldest, &["m001", "m002", "m003", "m004", "m005"]);
        assert_eq!(decode(b.unsent()), ["m003", "m004", "m005"]);
        assert_eq!((b.messages(), b.dropped_overflow), (3, 2));
        assert!(b.bytes() <= 35);
    }

    #[test]
    fn drop_newest_keeps_the_oldest_within_the_bound() {
        let b = filled(35, Overflow::DropNewest, &["m001", "m002", "m003", "m004", "m005"]);
        assert_eq!(decode(b.unsent()), ["m001", "m002", "m003"]);
        assert_eq!(b.dropped_overflow, 2);
    }

    #[test]
    fn oversize_messages_are_dropped_and_counted() {
        let mut b = filled(35, Overflow::DropOldest, &["m001"]);
        b.push(true, &[b'x'; 40], MASK);
        assert_eq!((b.dropped_oversize, b.dropped_overflow, b.messages()), (1, 0, 1));
    }

    #[test]
    fn partial_writes_resume_and_a_partial_head_is_never_dropped() {
        let mut b = filled(35, Overflow::DropOldest, &["m001", "m002"]);
        assert_eq!(b.advance(4), (0, 0));
        assert_eq!(b.partial().map(<[u8]>::len), Some(6));
        // A full buffer with a partly written head drops the message after the head.
        b.push(true, b"m003", MASK);
        b.push(true, b"m004", MASK);
        assert_eq!(b.dropped_overflow, 1);
        let mut wire = filled(35, Overflow::DropOldest, &["m001"]).unsent()[..4].to_vec();
        wire.extend_from_slice(b.unsent());
        assert_eq!(decode(&wire), ["m001", "m003", "m004"]);
        assert_eq!(b.advance(6 + 10), (2, 20));
        assert_eq!(decode(b.unsent()), ["m004"]);
    }

    #[test]
    fn a_broken_connection_resends_the_partial_frame_whole() {
        let mut b = filled(100, Overflow::DropOldest, &["m001", "m002"]);
        b.advance(13);
        assert_eq!(b.messages(), 1);
        b.restart();
        assert_eq!(decode(b.unsent()), ["m002"]);
    }

    #[test]
    fn take_partial_and_take_all() {
        let mut b = filled(100, Overflow::DropOldest, &["m001", "m002", "m003"]);
        assert_eq!(b.take_partial(), None);
        b.advance(3);
        assert_eq!(b.take_partial().map(|(v, n)| (v.len(), n)), Some((7, 10)));
        assert_eq!(b.messages(), 2);
        let (all, done) = b.take_all();
        assert_eq!((decode(&all), done), (vec!["m002".to_string(), "m003".to_string()], (2, 20)));
        assert!(b.is_empty() && b.bytes() == 0);
    }

    #[test]
    fn the_buffer_is_reused_without_growing() {
        let mut b = SinkBuffer::new(1000, Overflow::DropOldest);
        for round in 0..100 {
            for i in 0..20 {
                b.push(true, format!("r{round:03}-{i:02}").as_bytes(), MASK);
            }
            let n = b.unsent().len();
            b.advance(n / 2);
            if round % 3 == 0 {
                let n = b.unsent().len();
                b.advance(n);
            }
        }
        assert!(b.buf.capacity() <= 2048, "capacity {}", b.buf.capacity());
        assert!(b.bytes() <= 1000);
    }

    #[test]
    fn overflow_names_parse() {
        assert_eq!("drop-newest".parse(), Ok(Overflow::DropNewest));
        assert!("drop-all".parse::<Overflow>().unwrap_err().contains("drop-oldest"));
    }
}
