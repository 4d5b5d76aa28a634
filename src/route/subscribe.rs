//! Joining a topic: where a new subscription starts (live, the last N messages, or a resume
//! from a position), all-or-nothing recovery, and leaving.
//!
//! A resume (`since=<epoch>:<offset>`, "I have everything up to and including this offset") is
//! answered in the same call that registers the subscription, so no live message can come
//! between the answer and the replay: either `recovery` with `recovered:true` and offsets
//! `offset+1..=top` (then live messages, with no duplicate and no hole), or `recovered:false`
//! with a reason and live messages only. Never a partial replay: a replay that does not fit the
//! subscriber's queue whole is refused as `too_many`, like one over `max_recovery`.

use std::sync::Arc;

use super::compressed;
use super::envelope::{self, Publication};
use super::stream::{Epoch, Item};
use super::subscriber::{Behind, Subscriber};
use super::{Outlets, Router};
use crate::conn::frames;
use crate::conn::out::Stamp;
use crate::handle::{HistoryEntry, Message, TopicHistory};
use crate::topic::TopicId;

/// Where a new subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// With the next message.
    Live,
    /// With the last `n` messages kept (fewer if fewer are kept, or if they do not fit the
    /// subscriber's queue: the newest that do), then live.
    Last(u64),
    /// After `offset` of stream `epoch`: the gap, then live; or live only, told why.
    Since { epoch: Epoch, offset: u64 },
    /// What follows `offset` of the current stream, then live: a live subscription made in a
    /// cluster before the node held the topic, from the stream's top the node knew then.
    After(u64),
}

/// The answer to a resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Offsets `from..=to` are replayed (none if `from > to`).
    Recovered { from: u64, to: u64 },
    /// Nothing is replayed.
    Refused(&'static str),
}

/// One request to join a topic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Join<'a> {
    pub(crate) topic: &'a str,
    pub(crate) conn: usize,
    pub(crate) envelope: bool,
    pub(crate) start: Start,
    /// The window (bits) the connection agreed on for permessage-deflate, if it did.
    pub(crate) deflate: Option<u8>,
}

impl Router {
    /// Join a topic: queue what the subscription starts with, then register it. Returns the
    /// topic and the subscription's slot in it. In a cluster, a topic whose history this node
    /// does not hold yet registers the subscription as waiting; it starts once the history is
    /// here (`route/cluster.rs`).
    pub(crate) fn subscribe(&mut self, join: Join<'_>, out: &mut Outlets<'_>) -> (TopicId, usize) {
        let id = self.intern(join.topic);
        let mut sub = Subscriber::new(join.conn, join.envelope);
        sub.deflate = join.deflate;
        if self.cluster_pending(id, out.now) {
            let start = match (join.start, self.cluster_boundary(id)) {
                (Start::Live, Some(top)) => Start::After(top),
                (start, _) => start,
            };
            sub.behind = Some(Box::new(Behind::Waiting(start)));
        } else {
            let opening = self.opening(id, join.conn, join.envelope, join.deflate, join.start, out);
            queue_opening(out, join.conn, opening);
        }
        let slot = self.topics.subscribe(id, sub);
        (id, slot)
    }

    /// What a subscription starting at `start` gets first: its control message (envelope mode)
    /// and the replay, fitted to connection `conn`'s queue (compressed with `deflate`'s window
    /// when the connection agreed on it and the topic compresses).
    pub(super) fn opening(
        &mut self,
        id: TopicId,
        conn: usize,
        envelope: bool,
        deflate: Option<u8>,
        start: Start,
        out: &Outlets<'_>,
    ) -> Vec<u8> {
        let t = self.topics.get(id);
        let (epoch, top, oldest) = (t.stream.epoch, t.stream.top(), t.stream.oldest());
        let (name, max_recovery) = (t.name.clone(), t.policy.max_recovery);
        // In a cluster the stream outlives this node's copy of the topic: no local ending.
        let ended = if t.link.is_some() { None } else { self.topics.ended(&name) };
        let compress = deflate.filter(|_| t.policy.compression);
        let room = out.conns.room(conn);
        let mut opening = Vec::new();
        let last = match start {
            Start::Last(n) => Some(n),
            Start::After(offset) => Some(top.saturating_sub(offset)),
            _ => None,
        };
        match start {
            Start::Live if envelope => {
                push_control(&mut opening, &envelope::subscribed(&name, epoch, top));
            }
            Start::Live => {}
            Start::Last(_) | Start::After(_) => {
                let n = last.unwrap_or(0);
                let from = oldest.max((top + 1).saturating_sub(n)).max(1);
                let mut chunks = self.replay(id, from, top, envelope);
                if let Some(bits) = compress {
                    self.compress_replay(&mut chunks, bits, room);
                }
                // The newest that fit (with the `subscribed` message before them).
                let mut len = 128 + name.len();
                let fit = chunks.iter().rev().take_while(|(_, c)| {
                    len += c.len();
                    len <= room
                });
                let skip = chunks.len() - fit.count();
                if envelope {
                    // The position the subscriber starts from: just before what is replayed.
                    let at = chunks.get(skip).map_or(top, |(offset, _)| offset - 1);
                    push_control(&mut opening, &envelope::subscribed(&name, epoch, at));
                }
                chunks[skip..].iter().for_each(|(_, c)| opening.extend_from_slice(c));
            }
            Start::Since { epoch: asked, offset } => {
                let now = Position { epoch, top, oldest };
                let answer = match decide(asked, offset, now, ended, max_recovery) {
                    Resume::Recovered { from, to } => {
                        let head = envelope::recovered(&name, epoch, from, to);
                        let mut replay = self.replay(id, from, to, envelope);
                        if let Some(bits) = compress {
                            self.compress_replay(&mut replay, bits, room);
                        }
                        let bytes: usize = replay.iter().map(|(_, c)| c.len()).sum();
                        if head.len() + 8 + bytes > room {
                            Resume::Refused("too_many")
                        } else {
                            if envelope {
                                push_control(&mut opening, &head);
                            }
                            replay.iter().for_each(|(_, c)| opening.extend_from_slice(c));
                            Resume::Recovered { from, to }
                        }
                    }
                    refused => refused,
                };
                if let (Resume::Refused(reason), true) = (answer, envelope) {
                    let no = envelope::not_recovered(&name, reason, epoch, top, oldest);
                    push_control(&mut opening, &no);
                }
            }
        }
        opening
    }

    /// Compress replayed chunks for a subscriber that agreed on `window_bits`, newest first,
    /// until they pass `room` bytes (older ones would not be sent: they do not fit).
    fn compress_replay(&mut self, chunks: &mut [(u64, Vec<u8>)], window_bits: u8, room: usize) {
        let mut len = 0;
        for (_, chunk) in chunks.iter_mut().rev() {
            compressed::recode_in_place(&mut self.deflate, chunk, window_bits);
            len += chunk.len();
            if len > room {
                break;
            }
        }
    }

    /// The frames of offsets `from..=to` of `topic`'s history, one buffer per offset with its
    /// offset (envelopes or raw frames; gap markers only as envelopes).
    fn replay(
        &mut self,
        topic: TopicId,
        from: u64,
        to: u64,
        as_envelopes: bool,
    ) -> Vec<(u64, Vec<u8>)> {
        let t = self.topics.get(topic);
        let mut chunks = Vec::new();
        if from > to {
            return chunks;
        }
        let json = &mut self.json;
        t.stream.read(from, to, |item| {
            let mut out = Vec::new();
            let at = match item {
                Item::Message { offset, .. } | Item::Gap { offset, .. } => offset,
            };
            match item {
                Item::Message { offset, text, payload, window } if as_envelopes => {
                    let p = Publication {
                        topic: &t.name,
                        offset,
                        epoch: t.stream.epoch,
                        text,
                        payload,
                        window,
                        conflated: 0,
                    };
                    envelope::encode_frame(&mut out, json, &p);
                }
                Item::Message { text, payload, .. } => {
                    frames::encode_frame(&mut out, frames::data_opcode(text), payload, None);
                }
                Item::Gap { offset, loss } if as_envelopes => {
                    let gap = envelope::gap(&t.name, offset, offset, loss.as_str());
                    push_control(&mut out, &gap);
                }
                Item::Gap { .. } => {}
            }
            if !out.is_empty() {
                chunks.push((at, out));
            }
        });
        chunks
    }
}

impl Router {
    /// A topic's history for an embedder: up to `max` entries from offset `from`.
    pub(crate) fn history(&self, name: &str, from: u64, max: usize) -> TopicHistory {
        let Some(id) = self.topics.lookup(name) else {
            return TopicHistory { epoch: String::new(), top: 0, oldest: 1, entries: Vec::new() };
        };
        let s = &self.topics.get(id).stream;
        let mut entries = Vec::new();
        let from = from.max(s.oldest());
        let to = s.top().min(from.saturating_add(max as u64).saturating_sub(1));
        if max > 0 && from <= to {
            s.read(from, to, |item| {
                entries.push(match item {
                    Item::Message { offset, text, payload, .. } => {
                        let message = match (text, std::str::from_utf8(payload)) {
                            (true, Ok(t)) => Message::Text(t.to_string()),
                            _ => Message::Binary(payload.to_vec()),
                        };
                        HistoryEntry::Message { offset, message }
                    }
                    Item::Gap { offset, loss } => {
                        HistoryEntry::Gap { offset, reason: loss.as_str() }
                    }
                })
            });
        }
        TopicHistory { epoch: s.epoch.to_string(), top: s.top(), oldest: s.oldest(), entries }
    }
}

/// Where a topic's stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) epoch: Epoch,
    /// The last offset (0: none yet).
    pub(crate) top: u64,
    /// The oldest offset kept.
    pub(crate) oldest: u64,
}

/// The all-or-nothing answer to "I have everything of stream `asked` up to `offset`", for a
/// stream at `now`; `ended` is how the topic's previous stream ended, if it is remembered.
pub(crate) fn decide(
    asked: Epoch,
    offset: u64,
    now: Position,
    ended: Option<(Epoch, u64)>,
    max_recovery: u64,
) -> Resume {
    // A subscriber that had all of the topic's previous stream missed exactly the new stream.
    let offset = match ended {
        Some(end) if asked != now.epoch && end == (asked, offset) => 0,
        _ if asked != now.epoch || offset > now.top => {
            // Another stream, or a position this stream never had.
            return Resume::Refused("epoch_changed");
        }
        _ => offset,
    };
    if offset + 1 < now.oldest {
        return Resume::Refused("position_expired");
    }
    if now.top - offset > max_recovery {
        return Resume::Refused("too_many");
    }
    Resume::Recovered { from: offset + 1, to: now.top }
}

/// Queue a subscription's first frames on its connection. Replays were fitted to the room;
/// what is left over is the small control message of a subscription made on a full queue,
/// which goes out anyway (once per subscription, bounded by `max_topics_per_subscription`).
pub(super) fn queue_opening(out: &mut Outlets<'_>, conn: usize, opening: Vec<u8>) {
    if opening.is_empty() {
        return;
    }
    let c = &mut out.conns[conn];
    if c.out.push(Arc::from(&opening[..]), Stamp::NONE).is_err() {
        c.out.push_essential(Arc::from(opening), false);
    }
    out.conns.mark_dirty(conn);
}

fn push_control(out: &mut Vec<u8>, json: &str) {
    frames::encode_frame(out, frames::data_opcode(true), json.as_bytes(), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_are_all_or_nothing() {
        let (e, other) = (Epoch(1), Epoch(2));
        let at = |top, oldest| Position { epoch: e, top, oldest };
        let d = |asked, offset, now, max| decide(asked, offset, now, None, max);
        assert_eq!(d(e, 42, at(97, 10), 1000), Resume::Recovered { from: 43, to: 97 });
        assert_eq!(d(e, 97, at(97, 10), 1000), Resume::Recovered { from: 98, to: 97 });
        assert_eq!(d(other, 42, at(97, 10), 1000), Resume::Refused("epoch_changed"));
        assert_eq!(d(e, 98, at(97, 10), 1000), Resume::Refused("epoch_changed"));
        // Offset 9 held: offsets 10.. are kept, so the gap is whole.
        assert_eq!(d(e, 9, at(97, 10), 1000), Resume::Recovered { from: 10, to: 97 });
        assert_eq!(d(e, 8, at(97, 10), 1000), Resume::Refused("position_expired"));
        assert_eq!(d(e, 0, at(97, 1), 96), Resume::Refused("too_many"));
        assert_eq!(d(e, 1, at(97, 1), 96), Resume::Recovered { from: 2, to: 97 });
    }

    #[test]
    fn a_subscriber_that_had_all_of_an_ended_stream_resumes_into_the_next() {
        let (old, new) = (Epoch(1), Epoch(2));
        let now = Position { epoch: new, top: 5, oldest: 1 };
        let ended = Some((old, 7));
        assert_eq!(decide(old, 7, now, ended, 1000), Resume::Recovered { from: 1, to: 5 });
        // Anything less of the old stream is not whole.
        assert_eq!(decide(old, 6, now, ended, 1000), Resume::Refused("epoch_changed"));
        // The new stream must be whole from its start.
        let later = Position { epoch: new, top: 500, oldest: 400 };
        assert_eq!(decide(old, 7, later, ended, 1000), Resume::Refused("position_expired"));
    }
}
