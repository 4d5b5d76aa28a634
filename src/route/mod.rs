//! The message path after a read: topics and subscriptions, the batch, the hand-off to the
//! workers and back, and the fan-out to subscribers and sinks.
//!
//! ```text
//!  frames parsed from a read ──▶ Batch ──▶ Router::publish(topic)
//!                                             ├─▶ pipelines reading the topic: Pool::push (pipes.rs)
//!                                             └─▶ fan-out (fanout.rs): the batch shared once by every
//!                                                 subscriber's queue, copied once into each sink
//!  results of the workers ──▶ Router::drain_results ──▶ Batch ──▶ the same publish
//! ```
//!
//! Contract: the router owns the topics, their counters and the worker pool; it borrows the
//! connections and the connectors for one call at a time ([`Outlets`]). It never frees or closes
//! a connection: a subscriber over its queue's bound is handed back in [`Outlets::slow`], and
//! the reactor applies the slow-consumer policy. Everything here runs on the reactor thread.

mod batch;
mod fanout;
mod pipes;
mod topics;

pub(crate) use batch::{Batch, BATCH_FLUSH};
pub(crate) use topics::Topics;

use crate::conn::Conns;
use crate::connector::table::Connectors;
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
}

impl Router {
    /// An empty router with at most `max_topic_series` per-topic series.
    pub(crate) fn new(max_topic_series: usize) -> Router {
        Router {
            topics: Topics::default(),
            series: TopicTable::new(max_topic_series),
            counters: Counters::default(),
            pool: None,
            slot_topics: Vec::new(),
            one: Batch::new(),
        }
    }

    /// Find or create a topic by (validated) name.
    pub(crate) fn intern(&mut self, name: &str) -> TopicId {
        self.topics.intern(name, &mut self.series)
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

    /// Connection `conn` subscribes to `name`: (topic, slot in its subscriber set).
    pub(crate) fn subscribe(&mut self, name: &str, conn: usize) -> (TopicId, usize) {
        let id = self.intern(name);
        (id, self.topics.subscribe(id, conn))
    }

    /// Undo [`Router::subscribe`].
    pub(crate) fn unsubscribe(&mut self, topic: TopicId, slot: usize) {
        self.topics.unsubscribe(topic, slot);
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

    /// Publish one message to a topic by name (a handle, a status event): as if one publisher
    /// had sent it, or counted as unrouted under the name's series if no such topic exists.
    pub(crate) fn publish_named(
        &mut self,
        name: &str,
        text: bool,
        payload: &[u8],
        publisher: u64,
        out: &mut Outlets<'_>,
    ) {
        let Some(id) = self.topics.lookup(name) else {
            self.counters.messages_in += 1;
            self.counters.bytes_in += payload.len() as u64;
            self.counters.messages_unrouted += 1;
            let series = self.series.series(name);
            let c = &mut self.series.counters[series];
            c.messages_in += 1;
            c.bytes_in += payload.len() as u64;
            c.drops.no_subscriber += 1;
            return;
        };
        let mut one = std::mem::take(&mut self.one);
        one.push(text, payload);
        self.publish(id, &mut one, publisher, out);
        self.one = one;
    }

    /// A publisher's message on `topic` was refused as invalid (its connection is closing).
    pub(crate) fn count_invalid(&mut self, topic: TopicId) {
        let series = self.topics.get(topic).series;
        self.series.counters[series].drops.invalid += 1;
    }

    /// Per-topic counters with the live gauges (subscribers and publishers of each series).
    pub(crate) fn topic_stats(&self) -> Vec<TopicStats> {
        let mut live = vec![(0u64, 0u64); self.series.counters.len()];
        for t in self.topics.iter() {
            let g = &mut live[t.series];
            g.0 += t.subscribers.len() as u64;
            g.1 += t.publishers as u64;
        }
        self.series.snapshot(|id| live[id])
    }
}
