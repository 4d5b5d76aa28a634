//! Which instance of a pipeline handles a message, and with which event-time stamp: the one
//! routing function that the live relay (`worker/dispatch.rs`) and `sluice replay` both call, so
//! the two cannot disagree about where a message goes or how a failure is counted.
//!
//! | partition | instance |
//! |---|---|
//! | key (`key_by`) | `shard(key_hash(key), N)`: one instance per key, per-key order |
//! | publisher (default) | `shard(mix64(publisher), N)`: per-publisher order |
//! | round-robin | the next instance, message by message: no order |
//! | single | instance 0 |
//!
//! With event time, the message's timestamp is read (the same allocation-free scanner as the
//! key), the message is stamped with it and with the watermark *before* it, and the watermark
//! advances. A message whose key or timestamp cannot be read is counted (`invalid_json`,
//! `key_errors`, `time_errors`) and not routed; the caller gets the reason for the error topic.

use super::groups::KeyGroups;
use super::key::KeyError;
use super::shard::{key_hash, mix64, shard};
use super::time::Watermarks;
use super::{Partition, Pipeline, PipelineCounters};

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Routed<'a> {
    /// The instance (worker) that handles it.
    pub(crate) instance: usize,
    /// Its key, as published (keyed pipelines).
    pub(crate) key: Option<&'a [u8]>,
    /// `(timestamp, watermark before it)` of event-time pipelines.
    pub(crate) stamp: Option<(i64, i64)>,
    /// In a cluster: another node owns its key group (it still moved the watermark).
    pub(crate) elsewhere: bool,
}

/// The routing state of one pipeline: its round-robin position, its watermark, and in a
/// cluster the key groups this node owns.
#[derive(Debug)]
pub(crate) struct Routing {
    rr: usize,
    watermarks: Option<Watermarks>,
    groups: Option<KeyGroups>,
    /// Where a single-instance pipeline runs in a cluster: the hash of its name.
    name_hash: u64,
}

impl Routing {
    pub(crate) fn new(p: &Pipeline) -> Routing {
        Routing {
            rr: 0,
            watermarks: p.event_time_spec().map(Watermarks::new),
            groups: None,
            name_hash: key_hash(p.get_name().as_bytes()),
        }
    }

    /// Route only what this node owns (a cluster): other messages still move the watermark,
    /// so every node's windows fire as one node's would.
    pub(crate) fn set_groups(&mut self, groups: KeyGroups) {
        self.groups = Some(groups);
    }

    /// Route one message of `publisher` over `instances` instances. `now_ms` is read only when
    /// the watermark needs the clock (per-publisher idleness). A failure is counted in `counts`
    /// and returned as the reason an error record gives.
    pub(crate) fn route<'a>(
        &mut self,
        p: &Pipeline,
        publisher: u64,
        payload: &'a [u8],
        instances: usize,
        now_ms: impl FnOnce() -> u64,
        counts: &mut PipelineCounters,
    ) -> Result<Routed<'a>, String> {
        let n = instances.max(1);
        // The hash that places the message on a node of a cluster.
        let mut placed = mix64(publisher);
        let (instance, key) = match &p.partition {
            Partition::Publisher => (shard(placed, n), None),
            Partition::Single => {
                placed = self.name_hash;
                (0, None)
            }
            Partition::RoundRobin => {
                self.rr = self.rr.wrapping_add(1);
                (self.rr % n, None)
            }
            Partition::Key(path) => match path.extract(payload) {
                Ok(k) => {
                    placed = key_hash(k);
                    (shard(placed, n), Some(k))
                }
                Err(e @ KeyError::InvalidJson) => {
                    counts.invalid_json += 1;
                    return Err(format!("invalid JSON: {e}"));
                }
                Err(e @ KeyError::NotIndexable) => {
                    counts.key_errors += 1;
                    return Err(format!("key {}: {e}", path.source()));
                }
            },
        };
        let stamp = match (&mut self.watermarks, p.event_time_spec()) {
            (Some(w), Some(t)) => match t.extract(payload) {
                Ok(ts) => {
                    let before = w.current();
                    let now = if w.needs_clock() { now_ms() } else { 0 };
                    w.on_event(publisher, ts, now);
                    Some((ts, before))
                }
                Err(e) => {
                    counts.time_errors += 1;
                    return Err(format!("event time {}: {e}", t.field()));
                }
            },
            _ => None,
        };
        let elsewhere = self.groups.as_ref().is_some_and(|g| !g.owns(placed));
        Ok(Routed { instance, key, stamp, elsewhere })
    }

    /// The pipeline's watermark (`i64::MIN` before any event, or without event time).
    pub(crate) fn watermark(&self) -> i64 {
        self.watermarks.as_ref().map_or(i64::MIN, Watermarks::current)
    }

    /// The watermark generator of an event-time pipeline.
    pub(crate) fn watermarks(&mut self) -> Option<&mut Watermarks> {
        self.watermarks.as_mut()
    }

    /// The watermark generator, read-only.
    pub(crate) fn watermarks_ref(&self) -> Option<&Watermarks> {
        self.watermarks.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_failures_are_routed_and_counted_one_way() {
        let p = Pipeline::from_topic("in").key_by(".k").to_topic("out");
        let mut r = Routing::new(&p);
        let mut c = PipelineCounters::default();
        let a = r.route(&p, 1, br#"{"k":"a"}"#, 4, || 0, &mut c).unwrap();
        let a2 = r.route(&p, 2, br#"{"k":"a","x":1}"#, 4, || 0, &mut c).unwrap();
        assert_eq!((a.instance, a.key), (a2.instance, Some(&b"\"a\""[..])));
        assert!(r.route(&p, 1, b"not json", 4, || 0, &mut c).is_err());
        assert!(r.route(&p, 1, br#"{"k":{"x":1}}"#, 4, || 0, &mut c).is_ok());
        assert!(r.route(&p, 1, b"5", 4, || 0, &mut c).unwrap_err().starts_with("key .k"));
        assert_eq!((c.invalid_json, c.key_errors), (1, 1));
    }

    #[test]
    fn event_time_stamps_with_the_watermark_before_the_event() {
        let p = Pipeline::from_topic("in")
            .event_time(crate::EventTime::new(".ts").unwrap())
            .to_topic("out");
        let mut r = Routing::new(&p);
        let mut c = PipelineCounters::default();
        let first = r.route(&p, 1, br#"{"ts":1000}"#, 1, || 0, &mut c).unwrap();
        assert_eq!(first.stamp, Some((1000, i64::MIN)));
        let second = r.route(&p, 1, br#"{"ts":2000}"#, 1, || 0, &mut c).unwrap();
        assert_eq!(second.stamp, Some((2000, 999)));
        assert_eq!(r.watermark(), 1999);
        assert!(r.route(&p, 1, br#"{"x":1}"#, 1, || 0, &mut c).is_err());
        assert_eq!(c.time_errors, 1);
    }
}
