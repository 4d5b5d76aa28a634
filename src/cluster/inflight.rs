//! Messages on their way to JetStream: encoded once, kept until the stream acknowledges them,
//! sent again (same `Nats-Msg-Id`) after a reconnect, bounded in bytes.
//!
//! A message is *held* while its topic's stream is not known to exist (it is sent when it is),
//! *sent* once written to the connection, and leaves when its acknowledgement arrives.
//! Acknowledgements of different topics may come out of order (their streams have different
//! leaders), so entries are found by id; the front is popped as soon as it is acknowledged.

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
    /// Who waits for the message's offset (a handle's `publish`).
    pub(crate) reply: Option<Sender<u64>>,
}

/// Every message not yet acknowledged, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Inflight {
    entries: VecDeque<Entry>,
    bytes: usize,
}

/// The answer to an acknowledgement.
#[derive(Debug)]
pub(crate) struct Acked {
    pub(crate) topic: Arc<str>,
    pub(crate) reply: Option<Sender<u64>>,
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
    /// them sent at `now`.
    pub(crate) fn send_held(&mut self, topic: Option<&str>, out: &mut Vec<u8>, now: Instant) {
        for e in self.entries.iter_mut().filter(|e| !e.acked && e.sent.is_none()) {
            if topic.is_none_or(|t| *e.topic == *t) {
                out.extend_from_slice(&e.frame);
                e.sent = Some(now);
            }
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

    /// The acknowledgement of message `id`; `None` if it is unknown (a late answer).
    pub(crate) fn ack(&mut self, id: u64) -> Option<Acked> {
        let i = self.entries.binary_search_by_key(&id, |e| e.id).ok()?;
        let e = &mut self.entries[i];
        if e.acked {
            return None;
        }
        e.acked = true;
        let acked = Acked { topic: e.topic.clone(), reply: e.reply.take() };
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
            reply: None,
        }
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
