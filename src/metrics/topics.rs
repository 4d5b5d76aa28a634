//! Per-topic counters with bounded label cardinality.
//!
//! Each topic name gets a *series* the first time it is seen (a publisher, a subscriber or a
//! handle publish), until `max_topic_series` names have one; every later name shares the series
//! [`OTHER_TOPICS`]. A series outlives its topic, so its counters only ever grow, as Prometheus
//! expects of a counter, and the table's memory is bounded by the cap. The hot path reaches a
//! series by index (stored on the topic when it is created), never by name.

use std::collections::HashMap;

/// Label value of the series that aggregates every topic past the cap. `~` cannot occur in a
/// topic name, so it never collides with a real topic.
pub const OTHER_TOPICS: &str = "~other";

/// Messages dropped, by reason. Every bounded queue or policy that drops a message counts it
/// here under a named reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Drops {
    /// Published while the topic had no subscriber.
    pub no_subscriber: u64,
    /// Not queued to a subscriber because its queue was over `max_queued_bytes` (the
    /// subscriber was closed with `1008`); one count per message per such subscriber.
    pub slow_consumer: u64,
    /// A publisher's message refused as invalid (bad UTF-8, over the size limits, a protocol
    /// error); the publisher was closed with `1007`, `1009` or `1002`.
    pub invalid: u64,
    /// Not sent to a subscriber behind its bound under the `skip` policy (it was told with a
    /// `gap`); one count per message per such subscriber.
    pub skipped: u64,
    /// Replaced by a newer value of the same key for a subscriber behind its bound under the
    /// `latest` policy (it was told with `"conflated":n`); one count per replaced message.
    pub conflated: u64,
    /// Lost before the topic (a worker queue that dropped, an operator that failed, an upstream
    /// that reconnected): one count per gap marker in the stream.
    pub lost: u64,
}

impl Drops {
    /// `(reason label, count)` for every reason, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("no_subscriber", self.no_subscriber),
            ("slow_consumer", self.slow_consumer),
            ("invalid", self.invalid),
            ("skipped", self.skipped),
            ("conflated", self.conflated),
            ("lost", self.lost),
        ]
        .into_iter()
    }

    /// Total over every reason.
    pub fn total(&self) -> u64 {
        self.iter().map(|(_, n)| n).sum()
    }

    pub(crate) fn add(&mut self, other: &Drops) {
        self.no_subscriber += other.no_subscriber;
        self.slow_consumer += other.slow_consumer;
        self.invalid += other.invalid;
        self.skipped += other.skipped;
        self.conflated += other.conflated;
        self.lost += other.lost;
    }
}

/// Counters of one topic (or of [`OTHER_TOPICS`]) since the reactor started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicStats {
    /// The topic name, or [`OTHER_TOPICS`].
    pub name: String,
    /// Subscribers now (summed over the topics of the series).
    pub subscribers: u64,
    /// Publisher connections now.
    pub publishers: u64,
    /// Messages published (by connections and handles).
    pub messages_in: u64,
    /// Payload bytes of those messages.
    pub bytes_in: u64,
    /// Messages queued to subscribers: one per message per subscriber.
    pub messages_out: u64,
    /// Encoded bytes queued to subscribers (frame headers included), one count per subscriber.
    pub bytes_out: u64,
    /// Messages dropped, by reason.
    pub drops: Drops,
    /// Messages (and gap markers) kept in history now.
    pub history_messages: u64,
    /// Bytes kept in history now.
    pub history_bytes: u64,
    /// Messages evicted from history by `limits.max_history_bytes` (not by the topic's own
    /// size or age).
    pub history_evicted: u64,
}

/// Counters updated on the hot path.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub(crate) messages_in: u64,
    pub(crate) bytes_in: u64,
    pub(crate) messages_out: u64,
    pub(crate) bytes_out: u64,
    pub(crate) drops: Drops,
    pub(crate) history_evicted: u64,
}

/// Index of a series in the table.
pub(crate) type SeriesId = usize;

/// The bounded table of per-topic series.
#[derive(Debug)]
pub(crate) struct TopicTable {
    cap: usize,
    by_name: HashMap<Box<str>, SeriesId>,
    names: Vec<Box<str>>,
    pub(crate) counters: Vec<Counters>,
    other: Option<SeriesId>,
}

impl TopicTable {
    /// A table holding at most `cap` named series, plus [`OTHER_TOPICS`].
    pub(crate) fn new(cap: usize) -> TopicTable {
        TopicTable {
            cap,
            by_name: HashMap::new(),
            names: Vec::new(),
            counters: Vec::new(),
            other: None,
        }
    }

    /// The series of a topic name, creating it (or falling back to [`OTHER_TOPICS`]).
    pub(crate) fn series(&mut self, name: &str) -> SeriesId {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        if self.by_name.len() < self.cap {
            let id = self.push(name);
            self.by_name.insert(name.into(), id);
            return id;
        }
        match self.other {
            Some(id) => id,
            None => {
                let id = self.push(OTHER_TOPICS);
                self.other = Some(id);
                id
            }
        }
    }

    fn push(&mut self, name: &str) -> SeriesId {
        self.names.push(name.into());
        self.counters.push(Counters::default());
        self.names.len() - 1
    }

    /// Every series with its counters; gauges are filled in by
    /// `live(series) -> [subscribers, publishers, history messages, history bytes]`.
    pub(crate) fn snapshot(&self, mut live: impl FnMut(SeriesId) -> [u64; 4]) -> Vec<TopicStats> {
        (0..self.names.len())
            .map(|id| {
                let c = &self.counters[id];
                let [subscribers, publishers, history_messages, history_bytes] = live(id);
                TopicStats {
                    name: self.names[id].to_string(),
                    subscribers,
                    publishers,
                    messages_in: c.messages_in,
                    bytes_in: c.bytes_in,
                    messages_out: c.messages_out,
                    bytes_out: c.bytes_out,
                    drops: c.drops,
                    history_messages,
                    history_bytes,
                    history_evicted: c.history_evicted,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_past_the_cap_share_one_series() {
        let mut t = TopicTable::new(2);
        let a = t.series("a");
        let b = t.series("b");
        assert_eq!(t.series("a"), a);
        let c = t.series("c");
        let d = t.series("d");
        assert_eq!(c, d);
        assert!(c != a && c != b);
        t.counters[c].messages_in += 3;
        let snap = t.snapshot(|_| [0; 4]);
        let names: Vec<_> = snap.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", OTHER_TOPICS]);
        assert_eq!(snap[2].messages_in, 3);
    }

    #[test]
    fn a_zero_cap_aggregates_everything() {
        let mut t = TopicTable::new(0);
        assert_eq!(t.series("x"), t.series("y"));
        assert_eq!(t.snapshot(|_| [0; 4]).len(), 1);
    }
}
