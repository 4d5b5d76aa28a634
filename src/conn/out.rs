//! The bounded outgoing queue of one connection.
//!
//! Each entry is a shared, already-encoded buffer (`Arc<[u8]>`): a batch of frames fanned out to
//! many subscribers is one allocation referenced by every queue, never copied per subscriber.
//! Writing gathers up to [`MAX_IOVECS`] entries into one `writev`; a partial write leaves an
//! offset into the head entry and is resumed on the next writable event.
//!
//! The queue owns its bound (`limits.max_queued_bytes`, given at creation). There are three ways
//! in, and only one of them may pass the bound:
//!
//! - [`OutQueue::push`]: data (messages, echoes). Refused with [`Full`] when the unsent bytes
//!   plus this buffer would exceed the bound; the caller applies its slow-consumer policy.
//! - [`OutQueue::push_answer`]: a plain-HTTP answer, refused like data, except that an empty
//!   queue always takes one (an answer larger than the bound is sent alone); a refused answer
//!   means backpressure: the connection's next requests wait until the queue drains.
//! - [`OutQueue::push_control`]: pings and pongs, which may use [`CONTROL_RESERVE`] bytes past
//!   the bound, so a busy subscriber still answers pings; past the reserve, [`Full`].
//! - [`OutQueue::push_essential`]: the few buffers a connection must send whatever its queue
//!   holds, each at most once per connection and small: the `101` (and what precedes it), a
//!   final HTTP error response, its close frame. They are never discarded by
//!   [`OutQueue::discard_unstarted`] (the `101`), or come last (a close).
//!
//! So a connection's queue never holds more than `bound + CONTROL_RESERVE` + one answer + its
//! essential buffers.
//!
//! An entry may carry a [`Stamp`]: when the batch of messages in it was read. When its last
//! byte is written, `flush_to` hands the stamp to its caller, which records the delivery
//! latency; the queue itself never reads the clock.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;

/// Buffers gathered into one `writev` call.
pub(crate) const MAX_IOVECS: usize = 64;
/// Bytes of control frames (pings, pongs) a queue takes past its bound.
pub(crate) const CONTROL_RESERVE: usize = 4096;

/// The queue is over its bound: the buffer was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

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

/// A FIFO of shared encoded buffers with the count of unsent bytes, and its bound.
#[derive(Debug)]
pub(crate) struct OutQueue {
    chunks: VecDeque<Chunk>,
    queued: usize,
    /// Leading buffers that must go out even when the rest is discarded: the HTTP responses up
    /// to and including the `101`, without which the client cannot read what follows.
    essential: usize,
    bound: usize,
}

impl OutQueue {
    /// An empty queue that takes data up to `bound` unsent bytes.
    pub(crate) fn new(bound: usize) -> OutQueue {
        OutQueue { chunks: VecDeque::new(), queued: 0, essential: 0, bound }
    }

    /// The bound on unsent data bytes.
    pub(crate) fn bound(&self) -> usize {
        self.bound
    }

    /// Data bytes [`OutQueue::push`] would take now.
    pub(crate) fn room(&self) -> usize {
        self.bound.saturating_sub(self.queued)
    }

    /// Unsent bytes are at or over the bound: [`OutQueue::push`] of anything refuses.
    pub(crate) fn is_full(&self) -> bool {
        self.queued >= self.bound
    }

    /// Queue a data buffer within the bound.
    pub(crate) fn push(&mut self, data: Arc<[u8]>, stamp: Stamp) -> Result<(), Full> {
        if self.queued + data.len() > self.bound {
            return Err(Full);
        }
        self.append(data, stamp);
        Ok(())
    }

    /// Queue a plain-HTTP answer within the bound, or alone in an empty queue.
    pub(crate) fn push_answer(&mut self, data: Arc<[u8]>) -> Result<(), Full> {
        if self.queued + data.len() > self.bound && !self.chunks.is_empty() {
            return Err(Full);
        }
        self.append(data, Stamp::NONE);
        Ok(())
    }

    /// Queue a control frame (ping, pong) within the bound plus [`CONTROL_RESERVE`].
    pub(crate) fn push_control(&mut self, data: Arc<[u8]>) -> Result<(), Full> {
        if self.queued + data.len() > self.bound + CONTROL_RESERVE {
            return Err(Full);
        }
        self.append(data, Stamp::NONE);
        Ok(())
    }

    /// Queue a buffer that must be sent whatever the queue holds: the `101`, a final HTTP
    /// response, a close frame (see the module docs). A `101` is also kept by
    /// [`OutQueue::discard_unstarted`], with everything queued before it.
    pub(crate) fn push_essential(&mut self, data: Arc<[u8]>, keep: bool) {
        self.append(data, Stamp::NONE);
        if keep {
            self.essential = self.chunks.len();
        }
    }

    /// Unsent bytes.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    fn append(&mut self, data: Arc<[u8]>, stamp: Stamp) {
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
        let mut q = OutQueue::new(1 << 20);
        let a: Arc<[u8]> = Arc::from(&b"hello "[..]);
        let b: Arc<[u8]> = Arc::from(&b"world"[..]);
        q.push(a.clone(), Stamp::NONE).unwrap();
        q.push(b, Stamp::NONE).unwrap();
        q.push(a, Stamp::NONE).unwrap();
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
        let mut q = OutQueue::new(1 << 20);
        let frame: Arc<[u8]> = Arc::from(&[1u8; 10][..]);
        for _ in 0..128 {
            q.push(frame.clone(), Stamp::NONE).unwrap();
        }
        let mut w = Trickle { got: Vec::new(), limit: usize::MAX, budget: usize::MAX, calls: 0 };
        q.flush_to(&mut w, |_| {}).unwrap();
        assert_eq!(w.got.len(), 1280);
        assert_eq!(w.calls, 128 / MAX_IOVECS);
    }

    #[test]
    fn stamps_are_reported_once_the_last_byte_is_written() {
        let mut q = OutQueue::new(1 << 20);
        q.push(Arc::from(&b"abcd"[..]), Stamp { at_ns: 7, messages: 2 }).unwrap();
        q.push(Arc::from(&b"ef"[..]), Stamp::NONE).unwrap();
        q.push(Arc::from(&b"gh"[..]), Stamp { at_ns: 9, messages: 1 }).unwrap();
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
        let mut q = OutQueue::new(1 << 20);
        q.push(Arc::from(&b"HTTP/1.1 200"[..]), Stamp::NONE).unwrap();
        q.push_essential(Arc::from(&b"HTTP/1.1 101"[..]), true);
        q.push(Arc::from(&b"frame"[..]), Stamp::NONE).unwrap();
        assert_eq!(q.discard_unstarted(), 5);
        assert_eq!(q.queued(), 24);
        let mut w = Trickle { got: Vec::new(), limit: usize::MAX, budget: 12, calls: 0 };
        q.flush_to(&mut w, |_| {}).unwrap();
        // The first is out; the 101 is still essential.
        assert_eq!(q.discard_unstarted(), 0);
        assert_eq!(q.queued(), 12);
        w.budget = usize::MAX;
        q.flush_to(&mut w, |_| {}).unwrap();
        q.push(Arc::from(&b"later"[..]), Stamp::NONE).unwrap();
        assert_eq!(q.discard_unstarted(), 5, "nothing is essential once sent");
    }

    #[test]
    fn discard_keeps_a_started_buffer() {
        let mut q = OutQueue::new(1 << 20);
        q.push(Arc::from(&b"abcdef"[..]), Stamp::NONE).unwrap();
        q.push(Arc::from(&b"ghi"[..]), Stamp::NONE).unwrap();
        let mut w = Trickle { got: Vec::new(), limit: 2, budget: 2, calls: 0 };
        q.flush_to(&mut w, |_| {}).unwrap();
        assert_eq!(q.discard_unstarted(), 3);
        assert_eq!(q.queued(), 4);
        let mut q2 = OutQueue::new(1 << 20);
        q2.push(Arc::from(&b"abc"[..]), Stamp::NONE).unwrap();
        assert_eq!(q2.discard_unstarted(), 3);
        assert!(q2.is_empty());
    }

    #[test]
    fn the_queue_owns_its_bound() {
        let mut q = OutQueue::new(10);
        let six: Arc<[u8]> = Arc::from(&[0u8; 6][..]);
        // Data over the bound is refused even alone; an answer is taken alone.
        assert_eq!(q.push(Arc::from(&[0u8; 50][..]), Stamp::NONE), Err(Full));
        q.push_answer(Arc::from(&[0u8; 50][..])).unwrap();
        assert_eq!(q.push_answer(six.clone()), Err(Full));
        assert!(q.is_full());
        let mut q = OutQueue::new(10);
        q.push(six.clone(), Stamp::NONE).unwrap();
        assert_eq!(q.push(six.clone(), Stamp::NONE), Err(Full), "6 + 6 > 10");
        // Control frames get a reserve past the bound, and no more.
        let pong: Arc<[u8]> = Arc::from(&[0u8; 2000][..]);
        q.push_control(pong.clone()).unwrap();
        q.push_control(pong.clone()).unwrap();
        assert_eq!(q.push_control(pong), Err(Full));
        // Essential buffers always go in.
        q.push_essential(six, false);
        assert_eq!(q.queued(), 6 + 4000 + 6);
    }
}
