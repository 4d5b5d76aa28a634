//! Messages read from the cluster: consecutive messages of one topic are gathered into one
//! batch (fanned out together, encoded once), at the offsets their stream gave them; gap
//! markers become the topic's own; pipelines read each message once.

use std::sync::Arc;

use super::envelope::{self, WindowMeta};
use super::stream::{Loss, Stream};
use super::{Batch, Outlets, Router};
use crate::cluster::headers::{Kind, Meta};
use crate::conn::out::Stamp;
use crate::topic::TopicId;

/// The batch of cluster messages being gathered.
#[derive(Default)]
pub(crate) struct Remote {
    topic: Option<TopicId>,
    batch: Batch,
}

impl Router {
    /// One message of topic `id`'s stream at `offset`.
    pub(super) fn accept_remote(
        &mut self,
        id: TopicId,
        offset: u64,
        meta: Option<Meta>,
        payload: &[u8],
        out: &mut Outlets<'_>,
    ) {
        // A message published on the subject by another NATS client: text if it is UTF-8.
        let meta = meta.unwrap_or(Meta {
            kind: if std::str::from_utf8(payload).is_ok() { Kind::Text } else { Kind::Binary },
            publisher: 0,
            window: None,
        });
        let gathered = if self.remote.topic == Some(id) { self.remote.batch.messages() } else { 0 };
        let top = self.topics.get(id).stream.top() + gathered;
        if offset <= top {
            return; // Already here (a consumer restarted a little early).
        }
        if self.remote.topic != Some(id)
            || offset > top + 1
            || meta.kind == Kind::Gap
            || self.remote.batch.is_full()
        {
            self.flush_remote(out);
        }
        if offset > top + 1 {
            self.hole(id, offset - 1, out);
        }
        if meta.kind == Kind::Gap {
            let text = String::from_utf8_lossy(payload);
            let mut parts = text.split(' ');
            let loss = parts.next().and_then(Loss::parse).unwrap_or(Loss::ClusterUnreachable);
            let count = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
            self.mark_loss_local(id, loss, count, out);
            return;
        }
        let text = meta.kind == Kind::Text;
        self.feed_pipes(id, offset, meta.publisher, text, payload);
        let window = meta.window.map(|(watermark, last)| WindowMeta { watermark, last });
        self.remote.topic = Some(id);
        self.remote.batch.push_window(text, payload, window);
    }

    /// Pipelines read each offset of the stream once.
    fn feed_pipes(&mut self, id: TopicId, offset: u64, publisher: u64, text: bool, payload: &[u8]) {
        let t = self.topics.get_mut(id);
        let (Some(pool), Some(link)) = (self.pool.as_mut(), t.link.as_deref_mut()) else { return };
        if t.pipes.is_empty() || link.fed_through(t.stream.epoch, offset) {
            return;
        }
        pool.push(&t.pipes, publisher, text, payload);
    }

    /// Fan out what was gathered.
    pub(crate) fn flush_remote(&mut self, out: &mut Outlets<'_>) {
        let Some(id) = self.remote.topic.take() else { return };
        let mut batch = std::mem::take(&mut self.remote.batch);
        self.fan_out(id, &mut batch, out);
        self.remote.batch = batch;
    }

    /// Offsets up to `to` are gone from the stream (expired before this node read them).
    fn hole(&mut self, id: TopicId, to: u64, out: &mut Outlets<'_>) {
        let t = self.topics.get_mut(id);
        let from = t.stream.top() + 1;
        t.stream.skip_to(to);
        // What the pipelines had not read yet (they start where the node joined the stream).
        let fed = t.link.as_deref().filter(|l| l.fed.0 == t.stream.epoch).map_or(0, |l| l.fed.1);
        let missed = to.saturating_sub(fed.max(from - 1));
        if let (Some(pool), false) = (self.pool.as_mut(), t.pipes.is_empty() || missed == 0) {
            log::warn!(
                "cluster: {missed} messages of `{}` left the stream before this node read them; \
                 its pipelines miss them",
                t.name
            );
            for slot in pool.expired(&t.pipes, missed) {
                let topic = self.slot_topics[slot as usize];
                self.mark_loss(topic, Loss::InputExpired, out);
            }
        }
        let t = self.topics.get_mut(id);
        let joined = t.subscribers.iter().any(|(_, s)| s.envelope && !s.is_waiting());
        if !joined {
            return;
        }
        let gap = envelope::gap(&t.name, from, to, "position_expired");
        let frame: Arc<[u8]> = Arc::from(envelope::control_frame(&gap));
        for (_, sub) in t.subscribers.iter() {
            if sub.envelope && !sub.is_waiting() {
                let _ = out.conns.queue(sub.conn, frame.clone(), Stamp::NONE);
            }
        }
    }

    /// Replace a topic's stream (its history goes with the old one).
    pub(super) fn replace_stream(&mut self, id: TopicId, stream: Stream) {
        let t = self.topics.get_mut(id);
        let old = std::mem::replace(&mut t.stream, stream);
        self.history_bytes -= old.history_bytes();
    }
}
