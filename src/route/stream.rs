//! A topic's stream: its epoch, its offsets, and the bounded history of its recent messages.
//!
//! Every message published to a topic gets the next offset (contiguous from 1). The epoch names
//! the stream: it is chosen when the topic is created, so it changes whenever the stream's
//! continuity is lost (the topic was freed with its history, the relay restarted). The history
//! keeps the batches of frames the fan-out already encoded — shared with the subscribers'
//! queues, not copied — with the offset of their first message, bounded by a message count and
//! an age per topic, and by a byte bound over every topic (see `Router::trim_histories`).
//!
//! A loss the relay knows of (a worker queue that dropped, an operator that failed, an upstream
//! that reconnected) takes an offset of its own as a *gap marker*, so live and resuming
//! subscribers both see it at the same place in the stream.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::batch::Frames;
use super::envelope::WindowMeta;

/// A stream's name: a random 64-bit value, shown as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Epoch(pub(crate) u64);

impl Epoch {
    pub(crate) fn random() -> Epoch {
        Epoch(rand::random())
    }

    /// Parse the 16 hex digits of [`Epoch`]'s `Display` (any case).
    pub(crate) fn parse(s: &str) -> Option<Epoch> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(s, 16).ok().map(Epoch)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Why messages are missing from a stream (a gap marker's reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loss {
    /// A pipeline's worker queue was full: some of its inputs were dropped.
    PipelineQueueFull,
    /// A pipeline's operator failed; its state on a worker was reset.
    OperatorFailed,
    /// The upstream feed of a source connector reconnected.
    UpstreamReconnect,
    /// Published on a node that could not reach the cluster (or whose backlog to it was full).
    ClusterUnreachable,
    /// In a cluster: a pipeline's inputs left their stream before this node read them.
    InputExpired,
}

impl Loss {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Loss::PipelineQueueFull => "pipeline_queue_full",
            Loss::OperatorFailed => "operator_failed",
            Loss::UpstreamReconnect => "upstream_reconnect",
            Loss::ClusterUnreachable => "cluster_unreachable",
            Loss::InputExpired => "input_expired",
        }
    }

    /// The loss named `s` (as [`Loss::as_str`] writes it).
    pub(crate) fn parse(s: &str) -> Option<Loss> {
        [
            Loss::PipelineQueueFull,
            Loss::OperatorFailed,
            Loss::UpstreamReconnect,
            Loss::ClusterUnreachable,
            Loss::InputExpired,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
    }
}

/// What a stretch of history holds.
#[derive(Debug, Clone)]
pub(crate) enum Kept {
    /// Messages, as the unmasked frames the fan-out encoded (and, for window results, their
    /// watermark and finality).
    Frames(Arc<[u8]>, Option<Arc<[Option<WindowMeta>]>>),
    /// A gap marker (one offset).
    Gap(Loss),
}

/// A stretch of history: `count` consecutive offsets from `first`.
#[derive(Debug, Clone)]
pub(crate) struct Stretch {
    pub(crate) first: u64,
    pub(crate) count: u64,
    pub(crate) kept: Kept,
    /// When it was published.
    pub(crate) at: Instant,
    /// Its place in the order of every topic's history (oldest-first eviction).
    pub(crate) seq: u64,
}

impl Stretch {
    /// Bytes it holds (a gap marker costs a nominal 64).
    pub(crate) fn bytes(&self) -> usize {
        match &self.kept {
            Kept::Frames(f, w) => f.len() + w.as_ref().map_or(0, |w| w.len() * 16) + 64,
            Kept::Gap(_) => 64,
        }
    }
}

/// A message or a gap marker read back from history.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Item<'a> {
    Message { offset: u64, text: bool, payload: &'a [u8], window: Option<WindowMeta> },
    Gap { offset: u64, loss: Loss },
}

/// The stream of one topic.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) epoch: Epoch,
    /// The offset of the last message (0: none yet).
    top: u64,
    history: VecDeque<Stretch>,
    /// Offsets of the first stretch already evicted.
    skipped: u64,
    /// Messages (and markers) kept.
    kept: u64,
    bytes: usize,
}

impl Stream {
    pub(crate) fn new() -> Stream {
        Stream {
            epoch: Epoch::random(),
            top: 0,
            history: VecDeque::new(),
            skipped: 0,
            kept: 0,
            bytes: 0,
        }
    }

    /// A stream that continues `epoch` after offset `top`, with no history (a cluster's stream
    /// as this node starts reading it).
    pub(crate) fn at(epoch: Epoch, top: u64) -> Stream {
        Stream { epoch, top, ..Stream::new() }
    }

    /// Offsets up to `to` will never come (they left the cluster's stream unread).
    pub(crate) fn skip_to(&mut self, to: u64) {
        self.top = self.top.max(to);
    }

    /// The offset of the last message (0: none yet).
    pub(crate) fn top(&self) -> u64 {
        self.top
    }

    /// The oldest offset kept (`top + 1` when nothing is).
    pub(crate) fn oldest(&self) -> u64 {
        self.history.front().map_or(self.top + 1, |s| s.first + self.skipped)
    }

    pub(crate) fn history_bytes(&self) -> usize {
        self.bytes
    }

    /// Messages and markers kept.
    pub(crate) fn kept(&self) -> u64 {
        self.kept
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.history.is_empty()
    }

    /// Give the next `count` offsets to new messages; returns the first.
    pub(crate) fn assign(&mut self, count: u64) -> u64 {
        let first = self.top + 1;
        self.top += count;
        first
    }

    /// Keep what was just assigned (`first..first+count`) within `size` messages. Returns the
    /// bytes added minus the bytes evicted.
    pub(crate) fn keep(&mut self, stretch: Stretch, size: usize) -> isize {
        let added = stretch.bytes() as isize;
        self.kept += stretch.count;
        self.bytes += stretch.bytes();
        self.history.push_back(stretch);
        let mut freed = 0;
        while self.kept > size as u64 {
            freed += self.evict(self.kept - size as u64);
        }
        added - freed as isize
    }

    /// Evict up to `n` of the oldest offsets (within the first stretch); returns bytes freed.
    fn evict(&mut self, n: u64) -> usize {
        let Some(front) = self.history.front() else { return 0 };
        let left = front.count - self.skipped;
        if n < left {
            self.skipped += n;
            self.kept -= n;
            return 0;
        }
        self.kept -= left;
        self.skipped = 0;
        let gone = self.history.pop_front().map_or(0, |s| s.bytes());
        self.bytes -= gone;
        gone
    }

    /// Evict everything published before `now - ttl`; returns bytes freed.
    pub(crate) fn expire(&mut self, now: Instant, ttl: Duration) -> usize {
        let mut freed = 0;
        while self.history.front().is_some_and(|s| now.saturating_duration_since(s.at) >= ttl) {
            let left = self.history.front().map_or(0, |s| s.count - self.skipped);
            freed += self.evict(left);
        }
        freed
    }

    /// Evict the oldest stretch (the global byte bound); returns bytes freed and offsets lost.
    pub(crate) fn evict_oldest(&mut self) -> (usize, u64) {
        let left = self.history.front().map_or(0, |s| s.count - self.skipped);
        (self.evict(left), left)
    }

    /// The global order of the oldest stretch kept.
    pub(crate) fn oldest_seq(&self) -> Option<u64> {
        self.history.front().map(|s| s.seq)
    }

    /// Everything kept from offset `from` to `to` (inclusive), in order; `f` is called once per
    /// message or marker. The caller has checked `oldest() <= from` and `to <= top()`.
    pub(crate) fn read(&self, from: u64, to: u64, mut f: impl FnMut(Item<'_>)) {
        let start = self.history.partition_point(|s| s.first + s.count <= from);
        for s in self.history.iter().skip(start) {
            if s.first > to {
                return;
            }
            match &s.kept {
                Kept::Gap(loss) => f(Item::Gap { offset: s.first, loss: *loss }),
                Kept::Frames(frames, windows) => {
                    for (i, (text, payload)) in Frames(frames).enumerate() {
                        let offset = s.first + i as u64;
                        if offset > to {
                            return;
                        }
                        if offset >= from {
                            let window = windows.as_ref().and_then(|w| w.get(i).copied().flatten());
                            f(Item::Message { offset, text, payload, window });
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Batch;

    fn stretch(s: &mut Stream, msgs: &[&str], at: Instant) -> Stretch {
        let mut b = Batch::new();
        for m in msgs {
            b.push(true, m.as_bytes());
        }
        let first = s.assign(msgs.len() as u64);
        let kept = Kept::Frames(b.share(), None);
        Stretch { first, count: msgs.len() as u64, kept, at, seq: first }
    }

    fn all(s: &Stream) -> Vec<String> {
        let mut out = Vec::new();
        s.read(s.oldest(), s.top(), |i| match i {
            Item::Message { offset, payload, .. } => {
                out.push(format!("{offset}:{}", String::from_utf8_lossy(payload)))
            }
            Item::Gap { offset, loss } => out.push(format!("{offset}:gap {}", loss.as_str())),
        });
        out
    }

    #[test]
    fn offsets_are_contiguous_and_history_keeps_the_newest() {
        let t0 = Instant::now();
        let mut s = Stream::new();
        assert_eq!((s.top(), s.oldest()), (0, 1));
        let a = stretch(&mut s, &["a", "b", "c"], t0);
        s.keep(a, 4);
        let b = stretch(&mut s, &["d", "e"], t0);
        s.keep(b, 4);
        assert_eq!((s.top(), s.oldest(), s.kept()), (5, 2, 4));
        assert_eq!(all(&s), ["2:b", "3:c", "4:d", "5:e"]);
        let first = s.assign(1);
        s.keep(
            Stretch { first, count: 1, kept: Kept::Gap(Loss::UpstreamReconnect), at: t0, seq: 9 },
            4,
        );
        assert_eq!(all(&s), ["3:c", "4:d", "5:e", "6:gap upstream_reconnect"]);
        let mut part = Vec::new();
        s.read(4, 5, |i| part.push(matches!(i, Item::Message { .. })));
        assert_eq!(part, [true, true]);
    }

    #[test]
    fn age_and_the_global_bound_evict_whole_stretches() {
        let t0 = Instant::now();
        let mut s = Stream::new();
        let a = stretch(&mut s, &["old"], t0);
        s.keep(a, 100);
        let b = stretch(&mut s, &["new"], t0 + Duration::from_secs(10));
        s.keep(b, 100);
        let bytes = s.history_bytes();
        let freed = s.expire(t0 + Duration::from_secs(12), Duration::from_secs(5));
        assert!(freed > 0 && s.history_bytes() == bytes - freed);
        assert_eq!(all(&s), ["2:new"]);
        assert_eq!(s.evict_oldest().1, 1);
        assert!(s.is_empty() && s.history_bytes() == 0);
        assert_eq!((s.top(), s.oldest()), (2, 3));
    }

    #[test]
    fn epochs_print_and_parse() {
        let e = Epoch(0x7f3a_9c1e_0000_00ff);
        assert_eq!(e.to_string(), "7f3a9c1e000000ff");
        assert_eq!(Epoch::parse("7F3A9C1E000000FF"), Some(e));
        assert_eq!(Epoch::parse("7f3a9c1e"), None);
        assert_eq!(Epoch::parse("+f3a9c1e000000ff"), None);
    }
}
