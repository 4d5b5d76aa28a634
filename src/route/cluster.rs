//! A topic's place in a cluster: its JetStream stream, this node's consumer of it, and what its
//! local subscribers see when NATS comes and goes.
//!
//! - **Attached** (NATS reachable, the stream known): a local publish goes to the stream only;
//!   every node with local readers (subscribers, pipelines, sinks) consumes the stream and fans
//!   it out locally, so the offset of a message is its stream sequence on every node, and the
//!   epoch is named by the stream's creation time. A node that starts consuming a topic first
//!   reads the history the stream keeps; its subscribers wait meanwhile (`Behind::Waiting`)
//!   and then start exactly as they would on any other node.
//! - **Detached** (NATS unreachable): local publishes are delivered locally, under a new local
//!   epoch; envelope subscribers are told (`recovered:false`, `cluster_unreachable`). Those
//!   messages never reach the cluster: when NATS returns, the node publishes one gap marker
//!   (`cluster_unreachable`) in the topic's stream for them, and its subscribers resume from the
//!   last cluster offset they had, as a resume would.
//! - A message the node cannot send (its pending bytes are full) is counted and gets the same
//!   gap marker.
//!
//! Pipelines read what the node consumes, from the offset after the last they read, so a
//! node's pipelines see every message of the stream once whichever node received it.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;

use super::consumer::Consumer;
use super::envelope;
use super::stream::{Epoch, Loss, Stream};
use super::{Batch, Outlets, Router};
use crate::cluster::headers::{Kind, Meta};
use crate::cluster::jetstream::{self, StreamInfo, StreamSpec};
use crate::cluster::{Cluster, Control};
use crate::config::Storage;
use crate::ops::shard::{key_hash, mix64};
use crate::topic::TopicId;

/// How soon a stream that did not answer is asked for again.
const RETRY: std::time::Duration = std::time::Duration::from_millis(250);

/// Where a topic's stream stands on JetStream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamPhase {
    Unknown,
    Creating,
    Ready(Epoch),
}

/// A topic's cluster state.
#[derive(Debug)]
pub(crate) struct TopicLink {
    pub(super) subject: Box<str>,
    pub(crate) stream: StreamPhase,
    pub(super) consumer: Option<Consumer>,
    /// The local stream is a local one (NATS was unreachable).
    pub(crate) detached: bool,
    /// The cluster position the local subscribers had when the node detached.
    pub(super) prior: Option<(Epoch, u64)>,
    /// Messages lost to the cluster, owed as one gap marker.
    pub(super) owed: u64,
    /// Pipelines have read the stream up to this offset of this epoch.
    pub(super) fed: (Epoch, u64),
    /// When to ask for the stream again after a failure.
    pub(super) retry_at: Option<Instant>,
    /// The stream's last offset when its consumer started: live subscriptions made while the
    /// node catches up start after it.
    pub(super) boundary: Option<u64>,
}

impl TopicLink {
    /// Whether pipelines already read `offset` of `epoch`; if not, they read it now.
    pub(super) fn fed_through(&mut self, epoch: Epoch, offset: u64) -> bool {
        if self.fed.0 == epoch && offset <= self.fed.1 {
            return true;
        }
        self.fed = (epoch, offset);
        false
    }
}

impl Router {
    /// Give a new topic its cluster state (in a cluster). Its stream is asked for by the first
    /// publish or subscription that needs it, or by the next tick.
    pub(super) fn link_topic(&mut self, id: TopicId) {
        let Some(cluster) = self.cluster.as_deref_mut() else { return };
        let t = self.topics.get_mut(id);
        if t.link.is_some() {
            return;
        }
        t.link = Some(Box::new(TopicLink {
            subject: cluster.subject(&t.name).into(),
            stream: StreamPhase::Unknown,
            consumer: None,
            detached: !cluster.is_ready(),
            prior: None,
            owed: 0,
            fed: (Epoch(0), 0),
            retry_at: None,
            boundary: None,
        }));
    }

    fn ask_stream(&mut self, id: TopicId, now: Instant) {
        let Some(cluster) = self.cluster.as_deref_mut().filter(|c| c.is_ready()) else { return };
        let t = self.topics.get_mut(id);
        let Some(link) = t.link.as_deref_mut() else { return };
        let c = &cluster.config;
        let spec = StreamSpec {
            max_msgs: t.policy.history_size as u64,
            max_age: t.policy.ttl,
            replicas: c.replicas,
            file: c.storage == Storage::File,
            duplicate_window: c.duplicate_window,
        };
        if link.stream != StreamPhase::Creating {
            link.stream = StreamPhase::Creating;
            cluster.create_stream(&t.name, &spec, now);
        }
    }

    /// Whether a new subscription of `id` must wait for the cluster (the node does not hold
    /// the topic's history yet); starts getting it if so.
    pub(super) fn cluster_pending(&mut self, id: TopicId, now: Instant) -> bool {
        let Some(link) = self.topics.get_mut(id).link.as_deref_mut() else { return false };
        if link.detached {
            return false;
        }
        match (link.stream, link.consumer) {
            (_, Some(c)) => !c.caught_up,
            (StreamPhase::Creating, None) => true,
            (_, None) => {
                // Ask (again): the consumer starts from the stream's state now.
                link.stream = StreamPhase::Unknown;
                self.ask_stream(id, now);
                true
            }
        }
    }

    /// Where a live subscription made now starts, while the node catches up with `id`.
    pub(super) fn cluster_boundary(&self, id: TopicId) -> Option<u64> {
        self.topics.get(id).link.as_deref().and_then(|l| l.boundary)
    }

    /// Topics on a local stream because NATS was unreachable (and not back in the cluster yet).
    pub(crate) fn detached_topics(&self) -> usize {
        self.topics.iter().filter(|t| t.link.as_deref().is_some_and(|l| l.detached)).count()
    }

    /// Whether the topic has local readers (and so needs a consumer).
    fn watched(&self, id: TopicId) -> bool {
        let t = self.topics.get(id);
        !t.subscribers.is_empty() || !t.pipes.is_empty() || !t.sinks.is_empty()
    }

    /// Send a local publish to the cluster. `false`: deliver it locally (detached, or no
    /// cluster); the messages are then owed to the cluster as a gap.
    pub(super) fn send_to_cluster(
        &mut self,
        id: TopicId,
        batch: &Batch,
        publisher: u64,
        reply: &mut Option<Sender<u64>>,
        now: Instant,
    ) -> bool {
        let Some(cluster) = self.cluster.as_deref_mut() else { return false };
        let t = self.topics.get_mut(id);
        let Some(link) = t.link.as_deref_mut() else { return false };
        if link.detached && !cluster.is_ready() {
            link.owed += batch.messages();
            cluster.stats.not_sent += batch.messages();
            return false;
        }
        let send = matches!(link.stream, StreamPhase::Ready(_));
        let publisher = mix64(key_hash(cluster.config.node.as_bytes()) ^ publisher);
        if send && link.owed > 0 {
            owe_gap(cluster, &t.name, link, now);
        }
        let last = batch.messages().saturating_sub(1) as usize;
        for (i, (text, payload)) in batch.iter().enumerate() {
            let meta = Meta {
                kind: if text { Kind::Text } else { Kind::Binary },
                publisher,
                window: batch.window(i).map(|w| (w.watermark, w.last)),
            };
            let r = if i == last { reply.take() } else { None };
            if let Err(r) = cluster.publish(&t.name, &link.subject, &meta, payload, send, r, now) {
                link.owed += 1;
                *reply = r;
            }
        }
        if link.stream == StreamPhase::Unknown && cluster.is_ready() {
            self.ask_stream(id, now);
        }
        true
    }

    /// Put a loss in the cluster's stream of `id` (attached); `false`: mark it locally.
    pub(super) fn send_loss_to_cluster(&mut self, id: TopicId, loss: Loss, now: Instant) -> bool {
        let Some(cluster) = self.cluster.as_deref_mut() else { return false };
        let t = self.topics.get_mut(id);
        let Some(link) = t.link.as_deref_mut() else { return false };
        if link.detached {
            return false;
        }
        let meta = Meta { kind: Kind::Gap, publisher: 0, window: None };
        let send = matches!(link.stream, StreamPhase::Ready(_));
        let payload = format!("{} 1", loss.as_str());
        if cluster
            .publish(&t.name, &link.subject, &meta, payload.as_bytes(), send, None, now)
            .is_err()
        {
            link.owed += 1;
        }
        true
    }

    /// Act on what the cluster connection collected.
    pub(crate) fn cluster_controls(&mut self, out: &mut Outlets<'_>) {
        let Some(cluster) = self.cluster.as_deref_mut() else { return };
        let controls = std::mem::take(&mut cluster.controls);
        for c in controls {
            match c {
                Control::Ready => {
                    for id in self.topics.ids() {
                        if let Some(link) = self.topics.get_mut(id).link.as_deref_mut() {
                            link.stream = StreamPhase::Unknown;
                            link.consumer = None;
                        }
                        self.ask_stream(id, out.now);
                    }
                }
                Control::Stream { topic, result } => {
                    let Some(id) = self.topics.lookup(&topic) else { continue };
                    match result {
                        Ok(info) => self.stream_ready(id, &info, out),
                        Err(e) if e.err_code == jetstream::STREAM_NAME_IN_USE => {
                            // Made with other settings (another node's, an operator's): use it.
                            log::warn!("cluster: the stream of `{topic}` exists with other settings; using them");
                            if let Some(c) = self.cluster.as_deref_mut() {
                                c.stream_info(&topic, out.now);
                            }
                        }
                        Err(e) => self.stream_failed(id, &e.to_string(), out.now),
                    }
                }
                Control::Consumer { topic, sid, result } => {
                    let Some(id) = self.topics.lookup(&topic) else { continue };
                    self.consumer_started(id, sid, result.map(|c| c.num_pending), out);
                }
                Control::NoStream { topic } => {
                    let Some(id) = self.topics.lookup(&topic) else { continue };
                    if let Some(link) = self.topics.get_mut(id).link.as_deref_mut() {
                        if link.stream != StreamPhase::Creating {
                            link.stream = StreamPhase::Unknown;
                            link.retry_at = Some(out.now + RETRY);
                        }
                    }
                }
                Control::PublishFailed { topic, why } => {
                    log::warn!("cluster: a message of `{topic}` was not stored: {why}");
                    let Some(id) = self.topics.lookup(&topic) else { continue };
                    if let Some(link) = self.topics.get_mut(id).link.as_deref_mut() {
                        link.owed += 1;
                        link.stream = StreamPhase::Unknown;
                        link.retry_at = Some(out.now + RETRY);
                    }
                }
            }
        }
    }

    pub(super) fn stream_failed(&mut self, id: TopicId, why: &str, now: Instant) {
        let Some(cluster) = self.cluster.as_deref_mut() else { return };
        let t = self.topics.get_mut(id);
        log::warn!("cluster: the stream of topic `{}` is not usable: {why}", t.name);
        cluster.last_error = Some(format!("topic `{}`: {why}", t.name));
        if let Some(link) = t.link.as_deref_mut() {
            link.stream = StreamPhase::Unknown;
            link.retry_at = Some(now + RETRY);
        }
    }

    fn stream_ready(&mut self, id: TopicId, info: &StreamInfo, out: &mut Outlets<'_>) {
        let Some(cluster) = self.cluster.as_deref_mut() else { return };
        let t = self.topics.get_mut(id);
        let Some(link) = t.link.as_deref_mut() else { return };
        let epoch = Epoch(key_hash(info.created.as_bytes()) | 1);
        if !link.detached && t.stream.epoch != epoch {
            // The stream was made again (deleted, or lost by NATS): a new epoch. Consume it
            // from its start; subscribers resume as after a restart.
            if let Some(c) = link.consumer.take() {
                cluster.drop_consumer(c.sid);
            }
        }
        link.stream = StreamPhase::Ready(epoch);
        link.retry_at = None;
        if link.owed > 0 {
            // Before what was held since the node rejoined: the gap came first.
            owe_gap(cluster, &t.name, link, out.now);
        }
        cluster.send_held(&t.name, out.now);
        if link.fed.0 != epoch {
            // Pipelines start with what is published from now on.
            link.fed = (epoch, info.state.last_seq);
        }
        if !self.watched(id) {
            // No local reader to move over: local publishes go to the cluster from now on.
            if let Some(link) = self.topics.get_mut(id).link.as_deref_mut() {
                link.detached = false;
                link.prior = None;
            }
        } else if self.topics.get(id).link.as_deref().is_some_and(|l| l.consumer.is_none()) {
            self.start_consumer(id, epoch, info, out);
        }
    }

    /// NATS is unreachable: every topic goes on locally, under a new epoch.
    pub(crate) fn cluster_down(&mut self, out: &mut Outlets<'_>) {
        self.flush_remote(out);
        for id in self.topics.ids() {
            let t = self.topics.get_mut(id);
            let Some(link) = t.link.as_deref_mut() else { continue };
            link.stream = StreamPhase::Unknown;
            let caught_up = link.consumer.take().is_some_and(|c| c.caught_up);
            if link.detached {
                continue;
            }
            link.detached = true;
            if caught_up {
                link.prior = Some((t.stream.epoch, t.stream.top()));
            }
            let (name, local) = (t.name.clone(), Epoch::random());
            let told = envelope::not_recovered(&name, "cluster_unreachable", local, 0, 1);
            let frame: Arc<[u8]> = Arc::from(envelope::control_frame(&told));
            for (_, sub) in t.subscribers.iter() {
                if sub.envelope && !sub.is_waiting() {
                    let _ = out.conns.queue(sub.conn, frame.clone(), crate::conn::out::Stamp::NONE);
                }
            }
            self.replace_stream(id, Stream::at(local, 0));
            self.join_waiting(id, out);
        }
    }

    /// Once in a while: restart silent consumers, ask again for streams that failed.
    pub(crate) fn cluster_tick(&mut self, out: &mut Outlets<'_>) {
        let Some(cluster) = self.cluster.as_deref() else { return };
        if !cluster.is_ready() {
            return;
        }
        let silent = cluster.heartbeat() * 3;
        for id in self.topics.ids() {
            let Some(link) = self.topics.get(id).link.as_deref() else { continue };
            let ask =
                link.stream == StreamPhase::Unknown && link.retry_at.is_none_or(|at| out.now >= at);
            let silent =
                link.consumer.is_some_and(|c| out.now.saturating_duration_since(c.seen) > silent);
            if ask {
                self.ask_stream(id, out.now);
            }
            if silent {
                self.reset_consumer(id, "no heartbeat", out);
            }
        }
    }

    /// A topic lost its last local reader: stop consuming it and drop its copy of the history
    /// (the stream keeps it); free the topic if nothing else uses it.
    pub(super) fn release_if_unwatched(&mut self, id: TopicId) {
        if self.topics.try_get_mut(id).is_none() || self.watched(id) {
            return;
        }
        let Some(link) = self.topics.get_mut(id).link.as_deref_mut() else { return };
        if link.detached {
            return;
        }
        if let Some(c) = link.consumer.take() {
            if let Some(cluster) = self.cluster.as_deref_mut() {
                cluster.drop_consumer(c.sid);
            }
        }
        let t = self.topics.get(id);
        let keep = Stream::at(t.stream.epoch, t.stream.top());
        self.replace_stream(id, keep);
        self.topics.free_if_unused(id);
    }
}

/// Publish the gap marker for what `link` owes the cluster.
fn owe_gap(cluster: &mut Cluster, topic: &Arc<str>, link: &mut TopicLink, now: Instant) {
    let meta = Meta { kind: Kind::Gap, publisher: 0, window: None };
    let payload = format!("{} {}", Loss::ClusterUnreachable.as_str(), link.owed);
    if cluster.publish(topic, &link.subject, &meta, payload.as_bytes(), true, None, now).is_ok() {
        link.owed = 0;
    }
}
