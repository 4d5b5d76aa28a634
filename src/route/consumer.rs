//! This node's reader of a topic's stream (a JetStream ordered push consumer): where it starts,
//! how it catches up before waiting subscriptions start, what each delivery and heartbeat says,
//! and how a broken one starts again after the last offset the node has.

use std::time::Instant;

use super::stream::{Epoch, Stream};
use super::subscribe::{queue_opening, Start};
use super::subscriber::Behind;
use super::{Outlets, Router};
use crate::cluster::jetstream::{self, StreamInfo};
use crate::cluster::Inbound;
use crate::topic::TopicId;

/// This node's consumer of a topic's stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Consumer {
    pub(super) sid: u64,
    /// The consumer sequence expected next (a gap means lost deliveries: restart it).
    pub(super) next: u64,
    /// It delivered everything the stream held when it started.
    pub(super) caught_up: bool,
    /// When it last delivered a message or a heartbeat.
    pub(super) seen: Instant,
}

impl Router {
    /// Start consuming `id` from the oldest message its stream keeps: the local stream becomes
    /// the cluster's, and subscribers wait until the node has caught up.
    pub(super) fn start_consumer(
        &mut self,
        id: TopicId,
        epoch: Epoch,
        info: &StreamInfo,
        out: &mut Outlets<'_>,
    ) {
        let Some(cluster) = self.cluster.as_deref_mut() else { return };
        let t = self.topics.get_mut(id);
        let Some(link) = t.link.as_deref_mut() else { return };
        let resume_at = match link.prior.filter(|_| link.detached) {
            Some(prior) => prior,
            None => (t.stream.epoch, t.stream.top()),
        };
        let boundary = info.state.last_seq;
        for (_, sub) in t.subscribers.iter_mut() {
            match sub.behind.as_deref_mut() {
                // Subscribed live before the node knew the stream: what follows its top then.
                Some(Behind::Waiting(start @ Start::Live)) => *start = Start::After(boundary),
                Some(Behind::Waiting(_)) => {}
                _ => {
                    let (epoch, offset) = resume_at;
                    sub.behind = Some(Box::new(Behind::Waiting(Start::Since { epoch, offset })));
                }
            }
        }
        link.boundary = Some(boundary);
        link.detached = false;
        link.prior = None;
        let s = info.state;
        let top =
            if s.first_seq > 0 && s.last_seq >= s.first_seq { s.first_seq - 1 } else { s.last_seq };
        let sid = cluster.create_consumer(&t.name, jetstream::From::All, out.now);
        link.consumer = Some(Consumer { sid, next: 1, caught_up: false, seen: out.now });
        self.replace_stream(id, Stream::at(epoch, top));
    }

    pub(super) fn consumer_started(
        &mut self,
        id: TopicId,
        sid: u64,
        pending: Result<u64, jetstream::ApiError>,
        out: &mut Outlets<'_>,
    ) {
        let t = self.topics.get_mut(id);
        let Some(link) = t.link.as_deref_mut() else { return };
        let Some(c) = link.consumer.as_mut().filter(|c| c.sid == sid) else { return };
        match pending {
            Ok(0) if !c.caught_up => {
                c.caught_up = true;
                self.join_waiting(id, out);
            }
            Ok(_) => {}
            Err(e) => {
                let name = t.name.clone();
                link.consumer = None;
                if let Some(cluster) = self.cluster.as_deref_mut() {
                    cluster.drop_consumer(sid);
                }
                self.stream_failed(id, &format!("its consumer: {e}"), out.now);
                log::warn!("cluster: consuming `{name}` failed: {e}");
            }
        }
    }

    /// Start every subscription of `id` that waited for the topic's history.
    pub(super) fn join_waiting(&mut self, id: TopicId, out: &mut Outlets<'_>) {
        self.flush_remote(out);
        let waiting: Vec<(usize, usize, bool, Option<u8>, Start)> = self
            .topics
            .get(id)
            .subscribers
            .iter()
            .filter_map(|(slot, s)| match s.behind.as_deref() {
                Some(Behind::Waiting(start)) => Some((slot, s.conn, s.envelope, s.deflate, *start)),
                _ => None,
            })
            .collect();
        for (slot, conn, env, deflate, start) in waiting {
            let opening = self.opening(id, conn, env, deflate, start, out);
            queue_opening(out, conn, opening);
            if let Some(sub) = self.topics.get_mut(id).subscribers.get_mut(slot) {
                sub.behind = None;
            }
        }
    }

    /// Restart the consumers `on_inbound` found broken (the cluster connection was busy then).
    pub(crate) fn cluster_resets(&mut self, out: &mut Outlets<'_>) {
        for (id, why) in std::mem::take(&mut self.resets) {
            if self.topics.try_get_mut(id).is_some() {
                self.reset_consumer(id, why, out);
            }
        }
    }

    /// One message or heartbeat of a consumer (the cluster connection is taken out of the
    /// router meanwhile: what needs it waits in `resets`).
    pub(crate) fn on_inbound(&mut self, m: Inbound<'_>, out: &mut Outlets<'_>) {
        match m {
            Inbound::Heartbeat { topic, sid, last_consumer } => {
                let Some(id) = self.topics.lookup(topic) else { return };
                let Some(c) = self.consumer_mut(id, sid) else { return };
                c.seen = out.now;
                if last_consumer >= c.next && c.next != u64::MAX {
                    c.next = u64::MAX;
                    self.resets.push((id, "a heartbeat showed lost deliveries"));
                }
            }
            Inbound::Message { topic, sid, delivery, meta, payload } => {
                let Some(id) = self.topics.lookup(topic) else { return };
                let Some(c) = self.consumer_mut(id, sid) else { return };
                c.seen = out.now;
                if delivery.consumer_seq != c.next {
                    // Ignore the rest until the consumer starts again (after this read).
                    if c.next != u64::MAX {
                        c.next = u64::MAX;
                        self.resets.push((id, "a delivery was lost"));
                    }
                    return;
                }
                c.next += 1;
                self.accept_remote(id, delivery.stream_seq, meta, payload, out);
                if delivery.pending == 0 {
                    if let Some(c) = self.consumer_mut(id, sid).filter(|c| !c.caught_up) {
                        c.caught_up = true;
                        self.join_waiting(id, out);
                    }
                }
            }
        }
    }

    fn consumer_mut(&mut self, id: TopicId, sid: u64) -> Option<&mut Consumer> {
        let link = self.topics.get_mut(id).link.as_deref_mut()?;
        link.consumer.as_mut().filter(|c| c.sid == sid)
    }

    /// Restart the consumer of `id` after the last offset the node has.
    pub(super) fn reset_consumer(&mut self, id: TopicId, why: &str, out: &mut Outlets<'_>) {
        self.flush_remote(out);
        let Some(cluster) = self.cluster.as_deref_mut() else { return };
        let t = self.topics.get_mut(id);
        let Some(link) = t.link.as_deref_mut() else { return };
        let Some(old) = link.consumer else { return };
        log::info!("cluster: restarting the consumer of `{}`: {why}", t.name);
        cluster.drop_consumer(old.sid);
        cluster.stats.consumer_resets += 1;
        let from = jetstream::From::Seq(t.stream.top() + 1);
        let sid = cluster.create_consumer(&t.name, from, out.now);
        link.consumer = Some(Consumer { sid, next: 1, caught_up: old.caught_up, seen: out.now });
    }
}
