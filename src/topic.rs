//! Topics: names, the registry, and the subscriber set of each topic.
//!
//! A topic exists while it has a publisher or a subscriber; an empty topic is freed, so the registry is bounded by the connections that use it.
//! Subscribers are kept in a [`Slab`] per topic, so joining and leaving are O(1) and fan-out is a
//! walk over a dense array. Fan-out itself lives in the reactor, which owns the connections.

use std::collections::HashMap;
use std::fmt;

use slab::Slab;

use crate::metrics::{SeriesId, TopicTable};

/// The longest topic name, in bytes.
pub const MAX_TOPIC_LEN: usize = 128;

/// Why a topic name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_TOPIC_LEN`] bytes.
    TooLong(usize),
    /// The name contains a byte outside `[A-Za-z0-9._:-]`.
    BadByte(u8),
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicError::Empty => f.write_str("topic name is empty"),
            TopicError::TooLong(n) => {
                write!(f, "topic name is {n} bytes, the limit is {MAX_TOPIC_LEN}")
            }
            TopicError::BadByte(b) => {
                write!(f, "topic name contains byte 0x{b:02x}; allowed are A-Z a-z 0-9 and . _ : -")
            }
        }
    }
}

impl std::error::Error for TopicError {}

/// Check a topic name: 1–128 bytes of `[A-Za-z0-9._:-]`.
pub fn validate_topic(name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::Empty);
    }
    if name.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong(name.len()));
    }
    match name.bytes().find(|b| !(b.is_ascii_alphanumeric() || b"._:-".contains(b))) {
        Some(b) => Err(TopicError::BadByte(b)),
        None => Ok(()),
    }
}

/// Index of a topic in the registry; stable while the topic exists.
pub(crate) type TopicId = usize;

/// One topic: its name, subscribers (connection keys) and publisher count.
#[derive(Debug)]
pub(crate) struct Topic {
    pub(crate) name: Box<str>,
    pub(crate) subscribers: Slab<usize>,
    pub(crate) publishers: usize,
    /// This topic's series in the metrics table (its own, or the shared overflow series).
    pub(crate) series: SeriesId,
    /// Pipelines reading this topic (indexes into the worker pool's pipelines).
    pub(crate) pipes: Box<[u32]>,
    /// A topic a pipeline reads or writes lives as long as the reactor.
    pinned: bool,
}

impl Topic {
    fn is_unused(&self) -> bool {
        !self.pinned && self.publishers == 0 && self.subscribers.is_empty()
    }
}

/// The topic registry.
#[derive(Debug, Default)]
pub(crate) struct Topics {
    by_name: HashMap<Box<str>, TopicId>,
    topics: Slab<Topic>,
}

impl Topics {
    /// Find a topic by name.
    pub(crate) fn lookup(&self, name: &str) -> Option<TopicId> {
        self.by_name.get(name).copied()
    }

    /// Find or create a topic, giving a new one its metrics series. The caller has validated
    /// the name.
    pub(crate) fn intern(&mut self, name: &str, series: &mut TopicTable) -> TopicId {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.topics.insert(Topic {
            name: name.into(),
            subscribers: Slab::new(),
            publishers: 0,
            series: series.series(name),
            pipes: Box::new([]),
            pinned: false,
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

    /// Add connection `conn` as a subscriber; returns its slot in the topic's subscriber set.
    pub(crate) fn subscribe(&mut self, id: TopicId, conn: usize) -> usize {
        self.topics[id].subscribers.insert(conn)
    }

    /// Remove a subscription made by [`Topics::subscribe`]; frees the topic if now unused.
    pub(crate) fn unsubscribe(&mut self, id: TopicId, slot: usize) {
        let topic = &mut self.topics[id];
        topic.subscribers.try_remove(slot);
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

    fn free_if_unused(&mut self, id: TopicId) {
        if self.topics[id].is_unused() {
            let topic = self.topics.remove(id);
            self.by_name.remove(&topic.name);
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate_topic("trades.BTC-USD:1_x"), Ok(()));
        assert_eq!(validate_topic(""), Err(TopicError::Empty));
        assert_eq!(validate_topic(&"a".repeat(128)), Ok(()));
        assert_eq!(validate_topic(&"a".repeat(129)), Err(TopicError::TooLong(129)));
        assert_eq!(validate_topic("a/b"), Err(TopicError::BadByte(b'/')));
        assert_eq!(validate_topic("a b"), Err(TopicError::BadByte(b' ')));
        assert_eq!(validate_topic("é"), Err(TopicError::BadByte(0xc3)));
    }

    #[test]
    fn topics_are_freed_when_unused() {
        let mut t = Topics::default();
        let a = t.intern("a", &mut TopicTable::new(10));
        let slot = t.subscribe(a, 7);
        t.add_publisher(a);
        assert_eq!(t.lookup("a"), Some(a));
        t.unsubscribe(a, slot);
        assert_eq!(t.lookup("a"), Some(a), "still has a publisher");
        t.remove_publisher(a);
        assert_eq!(t.lookup("a"), None);
        assert_eq!(t.len(), 0);
    }
}
