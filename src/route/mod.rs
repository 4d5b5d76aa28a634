//! The message path after a read: topics and subscriptions, the batch, the hand-off to the
//! workers and back, and the fan-out to subscribers and sinks.
//!
//! ```text
//!  frames parsed from a read ──▶ Batch ──▶ Router::publish(topic)
//!                                             ├─▶ pipelines reading the topic: Pool::push (pipes.rs)
//!                                             └─▶ fan-out (fanout.rs): offsets, history (stream.rs,
//!                                                 history.rs), the batch shared once by every
//!                                                 subscriber's queue in each format (and, for
//!                                                 subscribers with permessage-deflate, in each
//!                                                 compressed variant: compressed.rs), the topic's
//!                                                 slow-consumer policy (subscriber.rs), the sinks
//!  results of the workers ──▶ Router::drain_results ──▶ Batch ──▶ the same publish
//!  a new subscription ──▶ Router::subscribe (subscribe.rs): live, last N, or a resume
//! ```
//!
//! Contract: the router owns the topics, their counters and the worker pool; it borrows the
//! connections and the connectors for one call at a time ([`Outlets`]). It never frees or closes
//! a connection: a subscriber over its queue's bound is handed back in [`Outlets::slow`], and
//! the reactor applies the slow-consumer policy. Everything here runs on the reactor thread.

mod batch;
mod cluster;
mod compressed;
mod consumer;
pub(crate) mod envelope;
mod fanout;
mod history;
mod pipes;
mod policy;
mod remote;
pub(crate) mod stream;
mod subscribe;
mod subscriber;
mod topics;

pub(crate) use batch::{Batch, BATCH_FLUSH};
pub(crate) use policy::{Policies, TopicPolicy};
pub(crate) use stream::{Epoch, Loss};
pub(crate) use subscribe::{Join, Start};
pub(crate) use topics::Topics;

use std::collections::BTreeSet;
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::cluster::Cluster;
use crate::config::CompressionConfig;
use crate::conn::Conns;
use crate::connector::table::Connectors;
use crate::deflate::Deflater;
use crate::metrics::{TopicStats, TopicTable};
use crate::topic::TopicId;
use crate::worker::Pool;

/// Where delivered messages go, lent to the router for one call.
pub(crate) struct Outlets<'a> {
    pub(crate) conns: &'a mut Conns,
    pub(crate) connectors: &'a mut Connectors,
    /// Subscribers whose queue could not take a batch, to be closed by the caller.
    pub(crate) slow: &'a mut Vec<usize>,
    /// The loop iteration's latency stamp (nanoseconds on the metrics clock), if measured.
    pub(crate) stamp_ns: Option<u64>,
    /// The loop iteration's instant (history ages).
    pub(crate) now: Instant,
}

/// Message counters of the whole relay (the reactor thread is their only writer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) messages_in: u64,
    pub(crate) bytes_in: u64,
    pub(crate) messages_out: u64,
    pub(crate) bytes_out: u64,
    pub(crate) messages_unrouted: u64,
}

/// Topics, subscriptions, pipelines: where each message goes.
pub(crate) struct Router {
    pub(crate) topics: Topics,
    /// Per-topic counters with bounded cardinality.
    pub(crate) series: TopicTable,
    pub(crate) counters: Counters,
    /// The worker pool, once pipelines have started.
    pub(crate) pool: Option<Pool>,
    /// Topic of each pool output slot.
    slot_topics: Vec<TopicId>,
    /// A scratch batch for messages that do not come from a read (handles, status events,
    /// worker results, error records); empty between calls.
    one: Batch,
    /// Delivery settings by topic pattern.
    policies: Policies,
    /// Bytes of every topic's history, and their bound.
    history_bytes: usize,
    max_history_bytes: usize,
    /// The order of stretches kept in history, across topics.
    seq: u64,
    /// `(order of a topic's oldest stretch, topic)`, lazily kept (`history.rs`).
    oldest: BTreeSet<(u64, TopicId)>,
    /// Scratch buffers: the envelopes of a batch, one envelope's JSON.
    envelopes: Vec<u8>,
    json: String,
    /// The cluster connection's state, in a cluster (`route/cluster.rs`).
    pub(crate) cluster: Option<Box<Cluster>>,
    /// Messages read from the cluster, gathered per topic (`route/remote.rs`).
    remote: remote::Remote,
    /// Consumers to restart once the cluster connection is back in the router.
    resets: Vec<(TopicId, &'static str)>,
    /// The one compressor of permessage-deflate, for every topic and connection (the fan-out,
    /// replays, `/echo`).
    pub(crate) deflate: Deflater,
}

impl Router {
    /// An empty router with at most `max_topic_series` per-topic series, the topics'
    /// delivery settings, the bound on their history, and how it compresses.
    pub(crate) fn new(
        max_topic_series: usize,
        policies: Policies,
        max_history_bytes: usize,
        compression: &CompressionConfig,
    ) -> Router {
        Router {
            topics: Topics::default(),
            series: TopicTable::new(max_topic_series),
            counters: Counters::default(),
            pool: None,
            slot_topics: Vec::new(),
            one: Batch::new(),
            policies,
            history_bytes: 0,
            max_history_bytes,
            seq: 0,
            oldest: BTreeSet::new(),
            envelopes: Vec::new(),
            json: String::new(),
            cluster: None,
            remote: remote::Remote::default(),
            resets: Vec::new(),
            deflate: Deflater::new(compression),
        }
    }

    /// The delivery settings of topic `name` (those it has, or would get if created now).
    pub(crate) fn policy_of(&self, name: &str) -> std::sync::Arc<TopicPolicy> {
        match self.topics.lookup(name) {
            Some(id) => self.topics.get(id).policy.clone(),
            None => self.policies.of(name),
        }
    }

    /// Find or create a topic by (validated) name.
    pub(crate) fn intern(&mut self, name: &str) -> TopicId {
        let id = self.topics.intern(name, &mut self.series, &self.policies);
        if self.cluster.is_some() {
            self.link_topic(id);
        }
        id
    }

    /// A publisher connection joins `name`.
    pub(crate) fn join_publisher(&mut self, name: &str) -> TopicId {
        let id = self.intern(name);
        self.topics.add_publisher(id);
        id
    }

    /// A publisher (connection `publisher`) leaves: it no longer holds back per-publisher
    /// watermarks, and the topic is freed if unused.
    pub(crate) fn leave_publisher(&mut self, topic: TopicId, publisher: u64) {
        self.topics.remove_publisher(topic);
        if let Some(pool) = &mut self.pool {
            pool.publisher_gone(publisher);
        }
    }

    /// Undo [`Router::subscribe`].
    pub(crate) fn unsubscribe(&mut self, topic: TopicId, slot: usize) {
        self.topics.unsubscribe(topic, slot);
        if self.cluster.is_some() {
            self.release_if_unwatched(topic);
        }
    }

    /// The publish path: hand the batch's messages (from `publisher`) to the pipelines reading
    /// `topic`, then fan them out to its subscribers and sinks, encoded once. Empties `batch`.
    pub(crate) fn publish(
        &mut self,
        topic: TopicId,
        batch: &mut Batch,
        publisher: u64,
        out: &mut Outlets<'_>,
    ) {
        if batch.is_empty() {
            return;
        }
        if self.cluster.is_some()
            && self.send_to_cluster(topic, batch, publisher, &mut None, out.now)
        {
            batch.clear();
            return;
        }
        self.publish_local(topic, batch, publisher, out);
    }

    /// The publish path on this node alone: pipelines, then the fan-out. Empties `batch`.
    fn publish_local(
        &mut self,
        topic: TopicId,
        batch: &mut Batch,
        publisher: u64,
        out: &mut Outlets<'_>,
    ) {
        if let Some(pool) = &mut self.pool {
            let pipes = &self.topics.get(topic).pipes;
            if !pipes.is_empty() {
                for (text, payload) in batch.iter() {
                    pool.push(pipes, publisher, text, payload);
                }
            }
        }
        self.fan_out(topic, batch, out);
    }

    /// Publish one message to a topic by name (a handle, a status event), as if one publisher
    /// had sent it; its offset goes to `reply` (in a cluster, once the stream acknowledged it).
    /// A topic that did not exist exists for this message (and stays while its history keeps
    /// it).
    pub(crate) fn publish_named(
        &mut self,
        name: &str,
        text: bool,
        payload: &[u8],
        publisher: u64,
        mut reply: Option<Sender<u64>>,
        out: &mut Outlets<'_>,
    ) {
        let id = self.intern(name);
        let mut one = std::mem::take(&mut self.one);
        one.push(text, payload);
        if self.cluster.is_none() || !self.send_to_cluster(id, &one, publisher, &mut reply, out.now)
        {
            self.publish_local(id, &mut one, publisher, out);
            if let Some(r) = reply.take() {
                let _ = r.try_send(self.topics.get(id).stream.top());
            }
        }
        one.clear();
        self.one = one;
        self.topics.free_if_unused(id);
    }

    /// Connection `key` drained its queue: send what its subscriptions (`subs`, as
    /// `(topic, slot)`) are owed under their slow-consumer policy.
    pub(crate) fn catch_up(
        &mut self,
        key: usize,
        subs: &[(TopicId, usize)],
        out: &mut Outlets<'_>,
    ) {
        let empty = Batch::default();
        for &(topic, slot) in subs {
            let t = self.topics.get_mut(topic);
            let name = t.name.clone();
            let Some(sub) = t.subscribers.get_mut(slot) else { continue };
            if sub.conn != key || sub.behind.is_none() {
                continue;
            }
            let d = fanout::Delivery {
                topic: &name,
                epoch: t.stream.epoch,
                first: 0,
                count: 0,
                batch: &empty,
                raw: None,
                envelopes: None,
                stamp: crate::conn::out::Stamp::NONE,
            };
            let series = &mut self.series.counters[t.series];
            let before = (series.messages_out, series.bytes_out);
            let deflate = t.policy.compression.then_some(&mut self.deflate);
            if !fanout::catch_up(sub, &d, None, deflate, out, series) {
                if out.conns.queued(key) == 0 {
                    // What it is owed does not fit even its empty queue: it cannot catch up.
                    series.drops.slow_consumer += 1;
                    out.slow.push(key);
                } else {
                    out.conns.owe(key);
                }
            }
            self.counters.messages_out += series.messages_out - before.0;
            self.counters.bytes_out += series.bytes_out - before.1;
        }
    }

    /// A publisher's message on `topic` was refused as invalid (its connection is closing).
    pub(crate) fn count_invalid(&mut self, topic: TopicId) {
        let series = self.topics.get(topic).series;
        self.series.counters[series].drops.invalid += 1;
    }

    /// Per-topic counters with the live gauges (subscribers and publishers of each series).
    pub(crate) fn topic_stats(&self) -> Vec<TopicStats> {
        let mut live = vec![[0u64; 4]; self.series.counters.len()];
        for t in self.topics.iter() {
            let g = &mut live[t.series];
            g[0] += t.subscribers.len() as u64;
            g[1] += t.publishers as u64;
            g[2] += t.stream.kept();
            g[3] += t.stream.history_bytes() as u64;
        }
        self.series.snapshot(|id| live[id])
    }
}
