//! The topic registry and the subscriber set of each topic.
//!
//! A topic exists while it has a publisher, a subscriber or a sink, or while a pipeline reads or
//! writes it (pinned); an unused topic is freed, so the registry is bounded by what uses it.
//! Subscribers are kept in a [`Slab`] per topic, so joining and leaving are O(1) and fan-out is a
//! walk over a dense array.

use std::collections::{HashMap, VecDeque};

use slab::Slab;

use std::sync::Arc;

use super::policy::{Policies, TopicPolicy};
use super::stream::{Epoch, Stream};
use super::subscriber::Subscriber;
use crate::metrics::{SeriesId, TopicTable};
use crate::topic::TopicId;

/// One topic: its name, subscribers, publisher count, stream and delivery settings.
#[derive(Debug)]
pub(crate) struct Topic {
    pub(crate) name: Arc<str>,
    pub(crate) subscribers: Slab<Subscriber>,
    pub(crate) publishers: usize,
    /// This topic's series in the metrics table (its own, or the shared overflow series).
    pub(crate) series: SeriesId,
    /// Pipelines reading this topic (indexes into the worker pool's pipelines).
    pub(crate) pipes: Box<[u32]>,
    /// A topic a pipeline reads or writes lives as long as the reactor.
    pinned: bool,
    /// Connectors that send this topic's messages upstream (indexes into the connector table).
    pub(crate) sinks: Vec<usize>,
    /// Offsets, epoch and history.
    pub(crate) stream: Stream,
    pub(crate) policy: Arc<TopicPolicy>,
    /// Subscribers in envelope mode (the batch's envelopes are encoded only if there are any).
    pub(crate) envelopes: usize,
}

impl Topic {
    /// Nothing uses it and its history is empty: it can be freed (its stream ends).
    fn is_unused(&self) -> bool {
        !self.pinned
            && self.publishers == 0
            && self.subscribers.is_empty()
            && self.sinks.is_empty()
            && self.stream.is_empty()
    }
}

/// Ended streams remembered (name → epoch and last offset), oldest forgotten first.
pub(crate) const ENDED_STREAMS: usize = 10_000;

/// The topic registry.
#[derive(Debug, Default)]
pub(crate) struct Topics {
    by_name: HashMap<Box<str>, TopicId>,
    topics: Slab<Topic>,
    /// Streams of freed topics: (epoch, last offset) by name, so a subscriber that had all of
    /// an ended stream resumes into the topic's next one (at most [`ENDED_STREAMS`]).
    ended: HashMap<Box<str>, (Epoch, u64)>,
    ended_order: VecDeque<Box<str>>,
}

impl Topics {
    /// Find a topic by name.
    pub(crate) fn lookup(&self, name: &str) -> Option<TopicId> {
        self.by_name.get(name).copied()
    }

    /// Find or create a topic, giving a new one its metrics series, a new stream and its
    /// settings. The caller has validated the name.
    pub(crate) fn intern(
        &mut self,
        name: &str,
        series: &mut TopicTable,
        policies: &Policies,
    ) -> TopicId {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.topics.insert(Topic {
            name: Arc::from(name),
            subscribers: Slab::new(),
            publishers: 0,
            series: series.series(name),
            pipes: Box::new([]),
            pinned: false,
            sinks: Vec::new(),
            stream: Stream::new(),
            policy: policies.of(name),
            envelopes: 0,
        });
        self.by_name.insert(name.into(), id);
        id
    }

    pub(crate) fn get(&self, id: TopicId) -> &Topic {
        &self.topics[id]
    }

    pub(crate) fn get_mut(&mut self, id: TopicId) -> &mut Topic {
        &mut self.topics[id]
    }

    /// Add a subscriber; returns its slot in the topic's subscriber set.
    pub(crate) fn subscribe(&mut self, id: TopicId, sub: Subscriber) -> usize {
        let topic = &mut self.topics[id];
        topic.envelopes += usize::from(sub.envelope);
        topic.subscribers.insert(sub)
    }

    /// Remove a subscription made by [`Topics::subscribe`]; frees the topic if now unused.
    pub(crate) fn unsubscribe(&mut self, id: TopicId, slot: usize) {
        let topic = &mut self.topics[id];
        if let Some(sub) = topic.subscribers.try_remove(slot) {
            topic.envelopes -= usize::from(sub.envelope);
        }
        self.free_if_unused(id);
    }

    /// Register a publisher connection on a topic.
    pub(crate) fn add_publisher(&mut self, id: TopicId) {
        self.topics[id].publishers += 1;
    }

    /// Unregister a publisher; frees the topic if now unused.
    pub(crate) fn remove_publisher(&mut self, id: TopicId) {
        let topic = &mut self.topics[id];
        topic.publishers = topic.publishers.saturating_sub(1);
        self.free_if_unused(id);
    }

    /// Free a topic nothing uses any more (its history emptied, say): its stream ends.
    pub(crate) fn free_if_unused(&mut self, id: TopicId) {
        if self.topics[id].is_unused() {
            let topic = self.topics.remove(id);
            self.by_name.remove(&*topic.name);
            let name: Box<str> = topic.name.as_ref().into();
            let end = (topic.stream.epoch, topic.stream.top());
            if self.ended.insert(name.clone(), end).is_none() {
                self.ended_order.push_back(name);
                if self.ended_order.len() > ENDED_STREAMS {
                    if let Some(old) = self.ended_order.pop_front() {
                        self.ended.remove(&old);
                    }
                }
            }
        }
    }

    /// How the last stream of topic `name` ended, if it did and is remembered.
    pub(crate) fn ended(&self, name: &str) -> Option<(Epoch, u64)> {
        self.ended.get(name).copied()
    }

    /// Register connector `connector` as a sink of the topic.
    pub(crate) fn add_sink(&mut self, id: TopicId, connector: usize) {
        self.topics[id].sinks.push(connector);
    }

    /// Unregister a sink; frees the topic if now unused.
    pub(crate) fn remove_sink(&mut self, id: TopicId, connector: usize) {
        self.topics[id].sinks.retain(|&c| c != connector);
        self.free_if_unused(id);
    }

    /// Keep a topic for the life of the reactor (pipeline inputs and outputs).
    pub(crate) fn pin(&mut self, id: TopicId) {
        self.topics[id].pinned = true;
    }

    /// Number of live topics.
    pub(crate) fn len(&self) -> usize {
        self.topics.len()
    }

    /// Every live topic.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Topic> {
        self.topics.iter().map(|(_, t)| t)
    }

    /// Every live topic with its id.
    pub(crate) fn ids(&self) -> Vec<TopicId> {
        self.topics.iter().map(|(id, _)| id).collect()
    }

    /// The topic with this id, if it exists.
    pub(crate) fn try_get_mut(&mut self, id: TopicId) -> Option<&mut Topic> {
        self.topics.get_mut(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_freed_when_unused() {
        let mut t = Topics::default();
        let a = t.intern("a", &mut TopicTable::new(10), &Policies::default());
        let slot = t.subscribe(a, Subscriber::new(7, false));
        t.add_publisher(a);
        assert_eq!(t.lookup("a"), Some(a));
        t.unsubscribe(a, slot);
        assert_eq!(t.lookup("a"), Some(a), "still has a publisher");
        t.remove_publisher(a);
        assert_eq!(t.lookup("a"), None);
        assert_eq!(t.len(), 0);
    }
}
