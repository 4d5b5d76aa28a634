//! Fan-out: a batch goes to every subscriber of its topic as one shared allocation, and into
//! the buffer of every connector that sends the topic upstream.
//!
//! Counters are updated once per batch, not per message or per subscriber. A subscriber whose
//! queue cannot take the batch (its bound, see `conn/out.rs`) is not sent it: its messages are
//! counted as `slow_consumer` drops and it is handed back in `Outlets::slow` for the reactor's
//! slow-consumer policy.

use super::{Batch, Outlets, Router};
use crate::conn::out::Stamp;
use crate::connector::ConnectorState;
use crate::topic::TopicId;

impl Router {
    /// Send the batch to every subscriber and sink of `topic`; empties `batch`.
    pub(super) fn fan_out(&mut self, topic: TopicId, batch: &mut Batch, out: &mut Outlets<'_>) {
        let (msgs, payload) = (batch.messages(), batch.payload_bytes());
        self.counters.messages_in += msgs;
        self.counters.bytes_in += payload;
        let t = self.topics.get(topic);
        if !t.sinks.is_empty() {
            feed_sinks(&t.sinks, batch, out);
        }
        let series = &mut self.series.counters[t.series];
        series.messages_in += msgs;
        series.bytes_in += payload;
        if t.subscribers.is_empty() {
            if t.pipes.is_empty() && t.sinks.is_empty() {
                // Read by no one (a pipeline's input is read by the pipeline).
                self.counters.messages_unrouted += msgs;
                series.drops.no_subscriber += msgs;
            }
            batch.clear();
            return;
        }
        let frame = batch.share();
        batch.clear();
        let stamp = match out.stamp_ns {
            Some(at_ns) => Stamp { at_ns, messages: msgs.clamp(1, u32::MAX.into()) as u32 },
            None => Stamp::NONE,
        };
        let mut delivered = 0u64;
        let mut slow = 0u64;
        for (_, sub) in t.subscribers.iter() {
            match out.conns.queue(sub.conn, frame.clone(), stamp) {
                Ok(()) => delivered += 1,
                Err(_) => {
                    slow += 1;
                    out.slow.push(sub.conn);
                }
            }
        }
        let (out_msgs, out_bytes) = (msgs * delivered, frame.len() as u64 * delivered);
        self.counters.messages_out += out_msgs;
        self.counters.bytes_out += out_bytes;
        series.messages_out += out_msgs;
        series.bytes_out += out_bytes;
        series.drops.slow_consumer += msgs * slow;
    }
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
