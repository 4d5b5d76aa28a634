//! The bounded outgoing queue of one connection.
//!
//! Each entry is a shared, already-encoded buffer (`Arc<[u8]>`): a batch of frames fanned out to
//! many subscribers is one allocation referenced by every queue, never copied per subscriber.
//! Writing gathers up to [`MAX_IOVECS`] entries into one `writev`; a partial write leaves an
//! offset into the head entry and is resumed on the next writable event. The byte count of what
//! is still unsent is what the slow-consumer bound is checked against.
//!
//! An entry may carry a [`Stamp`]: when the batch of messages in it was read. When its last
//! byte is written, `flush_to` hands the stamp to its caller, which records the delivery
//! latency; the queue itself never reads the clock.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;

/// Buffers gathered into one `writev` call.
pub(crate) const MAX_IOVECS: usize = 64;

/// When a queued batch of messages was read (nanoseconds on the reactor's metrics clock), and
/// how many messages it holds. Kept to 16 bytes: it rides in every queue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) at_ns: u64,
    /// 0: not stamped (control frames, HTTP responses, echoes).
    pub(crate) messages: u32,
}

impl Stamp {
    /// No stamp.
    pub(crate) const NONE: Stamp = Stamp { at_ns: 0, messages: 0 };
}

#[derive(Debug)]
struct Chunk {
    data: Arc<[u8]>,
    pos: usize,
    stamp: Stamp,
}

/// Outcome of a flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flushed {
    /// Everything queued was written.
    All,
    /// The socket is full; the rest waits for the next writable event.
    WouldBlock,
}

/// A FIFO of shared encoded buffers with the count of unsent bytes.
#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    chunks: VecDeque<Chunk>,
    queued: usize,
    /// Leading buffers that must go out even when the rest is discarded: the HTTP responses up
    /// to and including the `101`, without which the client cannot read what follows.
    essential: usize,
}

impl OutQueue {
    /// Unsent bytes.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Queue a buffer. The caller has checked the bound.
    pub(crate) fn push(&mut self, data: Arc<[u8]>) {
        self.push_stamped(data, Stamp::NONE);
    }

    /// Queue a buffer that [`OutQueue::discard_unstarted`] never drops, nor anything queued
    /// before it (the `101 Switching Protocols`).
    pub(crate) fn push_essential(&mut self, data: Arc<[u8]>) {
        self.push(data);
        self.essential = self.chunks.len();
    }

    /// Queue a buffer whose completion is reported to `flush_to`'s caller with `stamp`.
    pub(crate) fn push_stamped(&mut self, data: Arc<[u8]>, stamp: Stamp) {
        if data.is_empty() {
            return;
        }
        self.queued += data.len();
        self.chunks.push_back(Chunk { data, pos: 0, stamp });
    }

    /// Drop everything not yet started; a buffer already partly written is kept so the byte
    /// stream stays a valid sequence of frames, and so are essential buffers. Returns the bytes
    /// dropped.
    pub(crate) fn discard_unstarted(&mut self) -> usize {
        let started = usize::from(self.chunks.front().is_some_and(|c| c.pos > 0));
        let before = self.queued;
        self.chunks.truncate(started.max(self.essential));
        self.queued = self.chunks.iter().map(|c| c.data.len() - c.pos).sum();
        self.release_if_empty();
        before - self.queued
    }

    /// Write as much as the socket takes, `writev`-ing up to [`MAX_IOVECS`] buffers at a time.
    /// `written` is called with the stamp of every stamped buffer whose last byte went out.
    pub(crate) fn flush_to<W: Write>(
        &mut self,
        w: &mut W,
        mut written: impl FnMut(Stamp),
    ) -> io::Result<Flushed> {
        while !self.chunks.is_empty() {
            let result = if self.chunks.len() == 1 {
                // The common case on fan-out (one batch per subscriber per iteration): a plain
                // `write`, without building (and zeroing) a 64-entry iovec array.
                let chunk = &self.chunks[0];
                w.write(&chunk.data[chunk.pos..])
            } else {
                let mut iov = [IoSlice::new(&[]); MAX_IOVECS];
                let mut n = 0;
                for (slot, chunk) in iov.iter_mut().zip(self.chunks.iter()) {
                    *slot = IoSlice::new(&chunk.data[chunk.pos..]);
                    n += 1;
                }
                w.write_vectored(&iov[..n])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.advance(n, &mut written),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.release_if_empty();
        Ok(Flushed::All)
    }

    fn advance(&mut self, mut written: usize, done: &mut impl FnMut(Stamp)) {
        self.queued -= written;
        while written > 0 {
            let head = self.chunks.front_mut().expect("wrote more than was queued");
            let left = head.data.len() - head.pos;
            if written < left {
                head.pos += written;
                return;
            }
            written -= left;
            self.essential = self.essential.saturating_sub(1);
            if let Some(Chunk { stamp, .. }) = self.chunks.pop_front() {
                if stamp.messages != 0 {
                    done(stamp);
                }
            }
        }
    }

    /// An idle connection should not hold a large ring: give back big capacity once drained.
    fn release_if_empty(&mut self) {
        if self.chunks.is_empty() && self.chunks.capacity() > 16 {
            self.chunks = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts at most `limit` bytes per call, then `WouldBlock` once `budget` is
    /// spent.
    struct Trickle {
        got: Vec<u8>,
        limit: usize,
        budget: usize,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.budget == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.limit - n).min(self.budget);
                self.got.extend_from_slice(&b[..take]);
                n += take;
                self.budget -= take;
                if n == self.limit || self.budget == 0 {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_resume_without_losing_bytes() {
        let mut q = OutQueue::default();
        let a: Arc<[u8]> = Arc::from(&b"hello "[..]);
        let b: Arc<[u8]> = Arc::from(&b"world"[..]);
        q.push(a.clone());
        q.push(b);
        q.push(a);
        assert_eq!(q.queued(), 17);
        let mut w = Trickle { got: Vec::new(), limit: 4, budget: 7, calls: 0 };
        assert_eq!(q.flush_to(&mut w, |_| {}).unwrap(), Flushed::WouldBlock);
        assert_eq!(q.queued(), 10);
        w.budget = usize::MAX;
        assert_eq!(q.flush_to(&mut w, |_| {}).unwrap(), Flushed::All);
        assert_eq!(w.got, b"hello worldhello ");
        assert!(q.is_empty());
        assert_eq!(q.queued(), 0);
    }

    #[test]
    fn many_buffers_go_out_in_few_calls() {
        let mut q = OutQueue::default();
        let frame: Arc<[u8]> = Arc::from(&[1u8; 10][..]);
        for _ in 0..128 {
            q.push(frame.clone());
        }
        let mut w = Trickle { got: Vec::new(), limit: usize::MAX, budget: usize::MAX, calls: 0 };
        q.flush_to(&mut w, |_| {}).unwrap();
        assert_eq!(w.got.len(), 1280);
        assert_eq!(w.calls, 128 / MAX_IOVECS);
    }

    #[test]
    fn stamps_are_reported_once_the_last_byte_is_written() {
        let mut q = OutQueue::default();
        q.push_stamped(Arc::from(&b"abcd"[..]), Stamp { at_ns: 7, messages: 2 });
        q.push(Arc::from(&b"ef"[..]));
        q.push_stamped(Arc::from(&b"gh"[..]), Stamp { at_ns: 9, messages: 1 });
        let mut seen = Vec::new();
        let mut w = Trickle { got: Vec::new(), limit: 3, budget: 3, calls: 0 };
        q.flush_to(&mut w, |s| seen.push(s.messages)).unwrap();
        assert!(seen.is_empty(), "the first buffer is only partly written");
        w.budget = usize::MAX;
        q.flush_to(&mut w, |s| seen.push(s.messages)).unwrap();
        assert_eq!(seen, [2, 1]);
    }

    #[test]
    fn discard_keeps_essential_buffers() {
        let mut q = OutQueue::default();
        q.push(Arc::from(&b"HTTP/1.1 200"[..]));
        q.push_essential(Arc::from(&b"HTTP/1.1 101"[..]));
        q.push(Arc::from(&b"frame"[..]));
        assert_eq!(q.discard_unstarted(), 5);
        assert_eq!(q.queued(), 24);
        let mut w = Trickle { got: Vec::new(), limit: usize::MAX, budget: 12, calls: 0 };
        q.flush_to(&mut w, |_| {}).unwrap();
        // The first is out; the 101 is still essential.
        assert_eq!(q.discard_unstarted(), 0);
        assert_eq!(q.queued(), 12);
        w.budget = usize::MAX;
        q.flush_to(&mut w, |_| {}).unwrap();
        q.push(Arc::from(&b"later"[..]));
        assert_eq!(q.discard_unstarted(), 5, "nothing is essential once sent");
    }

    #[test]
    fn discard_keeps_a_started_buffer() {
        let mut q = OutQueue::default();
        q.push(Arc::from(&b"abcdef"[..]));
        q.push(Arc::from(&b"ghi"[..]));
        let mut w = Trickle { got: Vec::new(), limit: 2, budget: 2, calls: 0 };
        q.flush_to(&mut w, |_| {}).unwrap();
        assert_eq!(q.discard_unstarted(), 3);
        assert_eq!(q.queued(), 4);
        let mut q2 = OutQueue::default();
        q2.push(Arc::from(&b"abc"[..]));
        assert_eq!(q2.discard_unstarted(), 3);
        assert!(q2.is_empty());
    }
}
