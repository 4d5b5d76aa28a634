//! The bounds of history: per topic (a message count and an age, in `stream.rs`) and over
//! every topic together (`limits.max_history_bytes`): past the byte bound, the oldest stretch
//! of any topic is evicted first, and counted.
//!
//! Oldest-first across topics uses an index of `(global order of a topic's oldest stretch,
//! topic)`, kept lazily: an entry is added when a topic's history goes from empty to not empty,
//! and checked (and moved to the topic's real oldest stretch) only when the byte bound makes it
//! pop. Publishing costs nothing more than appending; the index holds at most two entries per
//! topic.

use std::sync::Arc;
use std::time::Instant;

use super::envelope;
use super::fanout::Delivery;
use super::stream::{Kept, Loss, Stretch};
use super::{Batch, Outlets, Router};
use crate::conn::out::Stamp;
use crate::topic::TopicId;

impl Router {
    /// Keep a stretch of `topic`'s stream in its history (if the topic keeps any), then hold
    /// every history to the byte bound.
    pub(super) fn keep(
        &mut self,
        topic: TopicId,
        first: u64,
        count: u64,
        kept: Kept,
        now: Instant,
    ) {
        let t = self.topics.get_mut(topic);
        let size = t.policy.history_size;
        if size == 0 {
            return;
        }
        let was_empty = t.stream.is_empty();
        self.seq += 1;
        let stretch = Stretch { first, count, kept, at: now, seq: self.seq };
        let delta = t.stream.keep(stretch, size);
        self.history_bytes = self.history_bytes.saturating_add_signed(delta);
        if was_empty {
            self.oldest.insert((self.seq, topic));
        }
        if self.history_bytes > self.max_history_bytes {
            self.trim_histories();
        }
    }

    /// Put a gap marker in `topic`'s stream: one offset that says messages were lost there.
    /// Live envelope subscribers get it now (raw ones cannot be told); resuming ones find it in
    /// the history. In a cluster the marker goes to the topic's stream, so every node gets it.
    pub(crate) fn mark_loss(&mut self, topic: TopicId, loss: Loss, out: &mut Outlets<'_>) {
        if !self.send_loss_to_cluster(topic, loss, out.now) {
            self.mark_loss_local(topic, loss, 1, out);
        }
    }

    /// Put a gap marker for `lost` messages in `topic`'s local stream; returns its offset.
    pub(super) fn mark_loss_local(
        &mut self,
        topic: TopicId,
        loss: Loss,
        lost: u64,
        out: &mut Outlets<'_>,
    ) -> u64 {
        let t = self.topics.get_mut(topic);
        let offset = t.stream.assign(1);
        self.series.counters[t.series].drops.lost += lost;
        self.keep(topic, offset, 1, Kept::Gap(loss), out.now);
        let t = self.topics.get(topic);
        if t.envelopes > 0 {
            let name = t.name.clone();
            let gap = envelope::gap(&name, offset, offset, loss.as_str());
            let empty = Batch::default();
            let d = Delivery {
                topic: &name,
                epoch: t.stream.epoch,
                first: offset,
                count: 1,
                batch: &empty,
                raw: None,
                envelopes: Some(Arc::from(envelope::control_frame(&gap))),
                stamp: Stamp::NONE,
            };
            self.deliver(topic, &d, out);
        }
        offset
    }

    /// Evict the oldest stretches of any topic until the histories fit the byte bound.
    fn trim_histories(&mut self) {
        while self.history_bytes > self.max_history_bytes {
            let Some((seq, id)) = self.oldest.pop_first() else { return };
            let Some(t) = self.topics.try_get_mut(id) else { continue };
            match t.stream.oldest_seq() {
                Some(s) if s == seq => {
                    let (freed, lost) = t.stream.evict_oldest();
                    self.history_bytes -= freed;
                    self.series.counters[t.series].history_evicted += lost;
                    if let Some(next) = t.stream.oldest_seq() {
                        self.oldest.insert((next, id));
                    }
                    self.topics.free_if_unused(id);
                }
                // Stale: the topic's oldest stretch went by its own bounds; look again later.
                Some(s) => {
                    self.oldest.insert((s, id));
                }
                None => {}
            }
        }
    }

    /// Evict what is older than each topic's `ttl`, and free topics left unused (once a second).
    pub(crate) fn expire_histories(&mut self, now: Instant) {
        for id in self.topics.ids() {
            let t = self.topics.get_mut(id);
            if t.stream.is_empty() {
                continue;
            }
            let freed = t.stream.expire(now, t.policy.ttl);
            self.history_bytes -= freed;
            self.topics.free_if_unused(id);
        }
    }

    /// Bytes held by every topic's history.
    pub(crate) fn history_bytes(&self) -> usize {
        self.history_bytes
    }
}
