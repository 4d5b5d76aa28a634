//! Fan-out: a batch gets its offsets, goes into the topic's history, and goes to every
//! subscriber of its topic as one shared allocation per format (raw frames, and envelopes if
//! any subscriber is in envelope mode), and into the buffer of every connector that sends the
//! topic upstream.
//!
//! A subscriber that negotiated permessage-deflate gets the compressed variant of the same
//! delivery for its format and window (`compressed.rs`), made once for all such subscribers.
//! Values a behind subscriber is owed are compressed for it alone, with the same compressor.
//!
//! Counters are updated once per batch, not per message or per subscriber. A subscriber whose
//! queue cannot take the batch (its bound, see `conn/out.rs`) gets the topic's slow-consumer
//! policy (`subscriber.rs`): `close` hands it back in `Outlets::slow` for the reactor to close,
//! `skip` and `latest` keep what it is owed until its queue has room.

use std::sync::Arc;

use super::compressed::{self, Variants};
use super::envelope::{self, Publication, WindowMeta};
use super::stream::{Epoch, Kept};
use super::subscriber::{Behind, Conflated, Latest, Subscriber};
use super::{Batch, Outlets, Router};
use crate::config::SlowPolicy;
use crate::conn::out::Stamp;
use crate::connector::ConnectorState;
use crate::deflate::Deflater;
use crate::metrics::Counters;
use crate::topic::TopicId;

/// One batch on its way to the subscribers of a topic.
pub(super) struct Delivery<'a> {
    pub(super) topic: &'a str,
    pub(super) epoch: Epoch,
    pub(super) first: u64,
    /// Offsets it takes (a gap marker takes one and has no message).
    pub(super) count: u64,
    pub(super) batch: &'a Batch,
    /// The raw frames (`None`: nothing for raw subscribers, as for a gap marker).
    pub(super) raw: Option<Arc<[u8]>>,
    pub(super) envelopes: Option<Arc<[u8]>>,
    pub(super) stamp: Stamp,
}

impl Router {
    /// Give the batch its offsets, keep it, and send it to every subscriber and sink of
    /// `topic`; empties `batch`.
    pub(super) fn fan_out(&mut self, topic: TopicId, batch: &mut Batch, out: &mut Outlets<'_>) {
        let (msgs, payload) = (batch.messages(), batch.payload_bytes());
        self.counters.messages_in += msgs;
        self.counters.bytes_in += payload;
        let t = self.topics.get_mut(topic);
        let first = t.stream.assign(msgs);
        if !t.sinks.is_empty() {
            feed_sinks(&t.sinks, batch, out);
        }
        let series = &mut self.series.counters[t.series];
        series.messages_in += msgs;
        series.bytes_in += payload;
        let keeps = t.policy.history_size > 0;
        if t.subscribers.is_empty() {
            if t.pipes.is_empty() && t.sinks.is_empty() {
                // Read by no one now (a pipeline's input is read by the pipeline).
                self.counters.messages_unrouted += msgs;
                series.drops.no_subscriber += msgs;
            }
            if !keeps {
                batch.clear();
                return;
            }
        }
        let raw = batch.share();
        let windows: Option<Arc<[Option<WindowMeta>]>> = batch.windows().map(Arc::from);
        if keeps {
            self.keep(topic, first, msgs, Kept::Frames(raw.clone(), windows), out.now);
        }
        let t = self.topics.get(topic);
        if !t.subscribers.is_empty() {
            let envelopes = (t.envelopes > 0).then(|| {
                self.envelopes.clear();
                let epoch = t.stream.epoch;
                for (i, (text, payload)) in batch.iter().enumerate() {
                    let p = Publication {
                        topic: &t.name,
                        offset: first + i as u64,
                        epoch,
                        text,
                        payload,
                        window: batch.window(i),
                        conflated: 0,
                    };
                    envelope::encode_frame(&mut self.envelopes, &mut self.json, &p);
                }
                Arc::from(&self.envelopes[..])
            });
            let name = t.name.clone();
            let d = Delivery {
                topic: &name,
                epoch: t.stream.epoch,
                first,
                count: msgs,
                batch,
                raw: Some(raw),
                envelopes,
                stamp: stamp(out.stamp_ns, msgs),
            };
            self.deliver(topic, &d, out);
        }
        batch.clear();
    }

    /// Offer a delivery to every subscriber of `topic`.
    pub(super) fn deliver(&mut self, topic: TopicId, d: &Delivery<'_>, out: &mut Outlets<'_>) {
        let t = self.topics.get_mut(topic);
        let series = &mut self.series.counters[t.series];
        let before = (series.messages_out, series.bytes_out);
        let policy = &t.policy;
        let mut z = Compress { deflater: &mut self.deflate, variants: Variants::default() };
        for (_, sub) in t.subscribers.iter_mut() {
            offer(sub, policy, d, &mut z, out, series);
        }
        self.counters.messages_out += series.messages_out - before.0;
        self.counters.bytes_out += series.bytes_out - before.1;
    }
}

/// The stamp of a batch of `msgs` messages read in this loop iteration.
fn stamp(stamp_ns: Option<u64>, msgs: u64) -> Stamp {
    match stamp_ns {
        Some(at_ns) => Stamp { at_ns, messages: msgs.clamp(1, u32::MAX.into()) as u32 },
        None => Stamp::NONE,
    }
}

/// The compressor, and the compressed variants of the delivery being offered.
struct Compress<'a> {
    deflater: &'a mut Deflater,
    variants: Variants,
}

/// Offer one delivery to one subscriber, applying the slow-consumer policy.
fn offer(
    sub: &mut Subscriber,
    policy: &super::policy::TopicPolicy,
    d: &Delivery<'_>,
    z: &mut Compress<'_>,
    out: &mut Outlets<'_>,
    series: &mut Counters,
) {
    let msgs = d.count;
    let frame = if sub.envelope { d.envelopes.as_ref() } else { d.raw.as_ref() };
    let Some(frame) = frame else { return };
    let compressed;
    let frame = match sub.deflate {
        Some(bits) if policy.compression => {
            compressed = z.variants.get(z.deflater, sub.envelope, bits, frame);
            &compressed
        }
        _ => frame,
    };
    if sub.behind.is_none() {
        if out.conns.queue(sub.conn, frame.clone(), d.stamp).is_ok() {
            series.messages_out += msgs;
            series.bytes_out += frame.len() as u64;
            return;
        }
    } else if sub.is_waiting() {
        return;
    } else {
        let deflate = policy.compression.then_some(&mut *z.deflater);
        if catch_up(sub, d, Some(frame), deflate, out, series) {
            return;
        }
    }
    // Over its bound.
    let last = d.first + msgs - 1;
    match policy.slow {
        SlowPolicy::Close => {
            series.drops.slow_consumer += msgs;
            out.slow.push(sub.conn);
        }
        SlowPolicy::Skip => {
            series.drops.skipped += msgs;
            match sub.behind.as_deref_mut() {
                Some(Behind::Skipped { to, .. }) => *to = last,
                _ => sub.behind = Some(Box::new(Behind::Skipped { from: d.first, to: last })),
            }
            out.conns.owe(sub.conn);
        }
        SlowPolicy::Latest => {
            let held = match sub.behind.as_deref_mut() {
                Some(Behind::Latest(c)) => c,
                _ => {
                    sub.behind = Some(Box::new(Behind::Latest(Conflated::default())));
                    match sub.behind.as_deref_mut() {
                        Some(Behind::Latest(c)) => c,
                        _ => return,
                    }
                }
            };
            let max_bytes = out.conns.bound(sub.conn);
            for (i, (text, payload)) in d.batch.iter().enumerate() {
                let key = match &policy.key {
                    Some(k) => k.extract(payload).unwrap_or(b""),
                    None => b"",
                };
                let value = Latest {
                    offset: d.first + i as u64,
                    text,
                    payload: payload.to_vec(),
                    window: d.batch.window(i),
                    replaced: 0,
                };
                match held.hold(key, value, policy.max_keys, max_bytes) {
                    Ok(replaced) => series.drops.conflated += replaced,
                    Err(_) => {
                        series.drops.slow_consumer += 1;
                        out.slow.push(sub.conn);
                        return;
                    }
                }
            }
            out.conns.owe(sub.conn);
        }
    }
}

/// A behind subscriber: queue what it is owed (a `gap`, or the held latest values, compressed
/// with `deflate` if it negotiated permessage-deflate), then `next` if given, if its queue can
/// take all of it. True if it caught up.
pub(super) fn catch_up(
    sub: &mut Subscriber,
    d: &Delivery<'_>,
    next: Option<&Arc<[u8]>>,
    deflate: Option<&mut Deflater>,
    out: &mut Outlets<'_>,
    series: &mut Counters,
) -> bool {
    let Some(behind) = sub.behind.as_deref() else { return true };
    if sub.is_waiting() {
        return true;
    }
    let mut owed = Vec::new();
    let mut count = 0u64;
    match behind {
        Behind::Skipped { from, to } => {
            if sub.envelope {
                let gap = envelope::gap(d.topic, *from, *to, "slow_consumer");
                owed = envelope::control_frame(&gap);
            }
        }
        Behind::Waiting(_) => {}
        Behind::Latest(held) => {
            let mut json = String::new();
            for v in held.in_order() {
                count += 1;
                if sub.envelope {
                    let p = Publication {
                        topic: d.topic,
                        offset: v.offset,
                        epoch: d.epoch,
                        text: v.text,
                        payload: &v.payload,
                        window: v.window,
                        conflated: v.replaced,
                    };
                    envelope::encode_frame(&mut owed, &mut json, &p);
                } else {
                    let op = crate::conn::frames::data_opcode(v.text);
                    crate::conn::frames::encode_frame(&mut owed, op, &v.payload, None);
                }
            }
        }
    }
    let room = out.conns.room(sub.conn);
    let next_len = next.map_or(0, |f| f.len());
    if let (Some(deflater), Some(bits)) = (deflate, sub.deflate) {
        // Compressed only once they can go: they fit as they are, or the queue is empty (the
        // values are not compressed again at every delivery while the subscriber is behind).
        if owed.len() + next_len <= room || room == out.conns.bound(sub.conn) {
            compressed::recode_in_place(deflater, &mut owed, bits);
        }
    }
    if owed.len() + next_len > room {
        return false;
    }
    let owed_bytes = owed.len() as u64;
    if !owed.is_empty() && out.conns.queue(sub.conn, Arc::from(owed), Stamp::NONE).is_err() {
        return false;
    }
    if count > 0 {
        // Held values are messages like any other (a `gap` is a control message).
        series.messages_out += count;
        series.bytes_out += owed_bytes;
    }
    sub.behind = None;
    if let Some(f) = next {
        if out.conns.queue(sub.conn, f.clone(), d.stamp).is_ok() {
            series.messages_out += d.count;
            series.bytes_out += f.len() as u64;
        }
    }
    true
}

/// Copy the batch's messages into the buffer of every connector that sends this topic upstream
/// (one masked frame each), and mark an open connector's connection for flushing.
fn feed_sinks(sinks: &[usize], batch: &Batch, out: &mut Outlets<'_>) {
    for &idx in sinks {
        let Some(live) = out.connectors.live.get_mut(idx) else { continue };
        let Some(ring) = &mut live.ring else { continue };
        for (text, payload) in batch.iter() {
            ring.push(text, payload, rand::random());
        }
        if live.state != ConnectorState::Open {
            continue;
        }
        if let Some((key, id)) = live.conn {
            if out.conns.get_id(key, id).is_some() {
                out.conns.mark_dirty(key);
            }
        }
    }
}
