//! Messages on their way to JetStream: encoded once, kept until the stream acknowledges them,
//! sent again (same `Nats-Msg-Id`) after a reconnect, bounded in bytes.
//!
//! A message is *held* while its topic's stream is not known to exist (it is sent when it is),
//! *sent* once written to the connection, and leaves when its acknowledgement arrives.
//! Acknowledgements of different topics may come out of order (their streams have different
//! leaders), so entries are found by id; the front is popped as soon as it is acknowledged.
//!
//! Order: a message no stream took (`503`, the stream is electing a leader) is *failed*: held,
//! and sent again only if no later message of its topic was stored meanwhile — otherwise it
//! would land after that one, so it is given up instead (counted, and owed as a gap). So a
//! topic's stream holds one node's messages in the order they were published, or a gap.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;

/// One message for the cluster.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) id: u64,
    pub(crate) topic: Arc<str>,
    /// The whole `HPUB` operation.
    pub(crate) frame: Box<[u8]>,
    pub(crate) sent: Option<Instant>,
    pub(crate) acked: bool,
    /// No stream took it: held until its topic's later messages are settled.
    pub(crate) failed: bool,
    /// Who waits for the message's offset (a handle's `publish`).
    pub(crate) reply: Option<Sender<u64>>,
}

/// Every message not yet acknowledged, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Inflight {
    entries: VecDeque<Entry>,
    bytes: usize,
    /// Failed entries held (none: acknowledgements skip the search for them).
    failed: usize,
}

/// The answer to an acknowledgement.
#[derive(Debug)]
pub(crate) struct Acked {
    pub(crate) topic: Arc<str>,
    pub(crate) reply: Option<Sender<u64>>,
    /// Earlier failed messages of the topic given up (this one was stored after them).
    pub(crate) given_up: u64,
}

impl Inflight {
    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages held.
    pub(crate) fn len(&self) -> usize {
        self.entries.iter().filter(|e| !e.acked).count()
    }

    /// Keep a message (ids must increase).
    pub(crate) fn push(&mut self, entry: Entry) {
        self.bytes += entry.frame.len();
        self.entries.push_back(entry);
    }

    /// Append to `out` every held message of `topic` (or of every topic), in order, and mark
    /// them sent at `now`. A failed message waits while a later one of its topic is in flight.
    pub(crate) fn send_held(&mut self, topic: Option<&str>, out: &mut Vec<u8>, now: Instant) {
        for i in 0..self.entries.len() {
            let e = &self.entries[i];
            if e.acked || e.sent.is_some() || topic.is_some_and(|t| *e.topic != *t) {
                continue;
            }
            if e.failed {
                let later_in_flight = self
                    .entries
                    .range(i + 1..)
                    .any(|l| !l.acked && l.sent.is_some() && l.topic == e.topic);
                if later_in_flight {
                    continue;
                }
                self.failed -= 1;
            }
            let e = &mut self.entries[i];
            e.failed = false;
            out.extend_from_slice(&e.frame);
            e.sent = Some(now);
        }
    }

    /// After a reconnect: append to `out` everything sent and not acknowledged, in order
    /// (JetStream drops the copies it already has). Held messages stay held.
    pub(crate) fn resend(&mut self, out: &mut Vec<u8>, now: Instant) {
        for e in self.entries.iter_mut().filter(|e| !e.acked && e.sent.is_some()) {
            out.extend_from_slice(&e.frame);
            e.sent = Some(now);
        }
    }

    /// Message `id` was taken by no stream: hold it (failed); returns its topic.
    pub(crate) fn fail(&mut self, id: u64) -> Option<Arc<str>> {
        let i = self.entries.binary_search_by_key(&id, |e| e.id).ok()?;
        let e = &mut self.entries[i];
        if e.acked || e.sent.is_none() {
            return None;
        }
        e.sent = None;
        if !e.failed {
            e.failed = true;
            self.failed += 1;
        }
        Some(e.topic.clone())
    }

    /// Send again (in order) what was sent before `before` and is not acknowledged.
    pub(crate) fn resend_older(&mut self, before: Instant, out: &mut Vec<u8>, now: Instant) {
        for e in self.entries.iter_mut().filter(|e| !e.acked && e.sent.is_some_and(|t| t <= before))
        {
            out.extend_from_slice(&e.frame);
            e.sent = Some(now);
        }
    }

    /// The acknowledgement of message `id`; `None` if it is unknown (a late answer).
    pub(crate) fn ack(&mut self, id: u64) -> Option<Acked> {
        let i = self.entries.binary_search_by_key(&id, |e| e.id).ok()?;
        let e = &mut self.entries[i];
        if e.acked {
            return None;
        }
        e.acked = true;
        let mut acked = Acked { topic: e.topic.clone(), reply: e.reply.take(), given_up: 0 };
        if self.failed > 0 {
            for e in self.entries.range_mut(..i) {
                if e.failed && !e.acked && e.topic == acked.topic {
                    e.acked = true;
                    e.failed = false;
                    e.reply = None;
                    self.failed -= 1;
                    acked.given_up += 1;
                }
            }
        }
        while self.entries.front().is_some_and(|e| e.acked) {
            if let Some(e) = self.entries.pop_front() {
                self.bytes -= e.frame.len();
            }
        }
        Some(acked)
    }

    /// When the oldest message still waiting for its acknowledgement was sent.
    pub(crate) fn oldest_sent(&self) -> Option<Instant> {
        self.entries.iter().filter(|e| !e.acked).filter_map(|e| e.sent).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, topic: &str) -> Entry {
        Entry {
            id,
            topic: Arc::from(topic),
            frame: format!("m{id};").into_bytes().into(),
            sent: None,
            acked: false,
            failed: false,
            reply: None,
        }
    }

    #[test]
    fn a_failed_message_is_sent_again_only_if_nothing_later_was_stored() {
        let now = Instant::now();
        let mut f = Inflight::default();
        for (id, t) in [(1, "a"), (2, "a"), (3, "b")] {
            f.push(entry(id, t));
        }
        let mut out = Vec::new();
        f.send_held(None, &mut out, now);
        // 1 and 2 find no stream; 2 is failed while 1 is still failed: both wait, in order.
        assert_eq!(f.fail(1).as_deref(), Some("a"));
        assert_eq!(f.fail(2).as_deref(), Some("a"));
        out.clear();
        f.send_held(Some("a"), &mut out, now);
        assert_eq!(out, b"m1;m2;", "nothing later was stored: both again, in order");
        // 1 fails again, but 2 (sent after it) is stored: 1 would land after 2: given up.
        f.fail(1);
        out.clear();
        f.send_held(Some("a"), &mut out, now);
        assert!(out.is_empty(), "1 waits while 2 is in flight");
        let acked = f.ack(2).unwrap();
        assert_eq!(acked.given_up, 1);
        assert!(f.ack(1).is_none(), "given up");
        f.ack(3);
        assert_eq!((f.len(), f.bytes()), (0, 0));
    }

    #[test]
    fn held_sent_resent_and_acknowledged_in_any_order() {
        let now = Instant::now();
        let mut f = Inflight::default();
        for (id, t) in [(1, "a"), (2, "b"), (3, "a")] {
            f.push(entry(id, t));
        }
        let mut out = Vec::new();
        f.send_held(Some("a"), &mut out, now);
        assert_eq!(out, b"m1;m3;");
        f.send_held(None, &mut out, now);
        assert_eq!(out, b"m1;m3;m2;");
        assert_eq!(f.oldest_sent(), Some(now));
        assert_eq!(f.ack(3).map(|a| a.topic.to_string()), Some("a".into()));
        assert!(f.ack(3).is_none(), "twice");
        assert_eq!((f.len(), f.bytes()), (2, 9));
        f.push(entry(4, "c"));
        out.clear();
        f.resend(&mut out, now);
        assert_eq!(out, b"m1;m2;", "the acknowledged one is not sent again, the held one waits");
        f.ack(1);
        assert_eq!((f.len(), f.bytes()), (2, 9));
        f.ack(2);
        f.ack(4);
        assert_eq!((f.len(), f.bytes()), (0, 0));
    }
}
