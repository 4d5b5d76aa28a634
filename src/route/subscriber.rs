//! One subscription of a connection to a topic, and what the topic's slow-consumer policy keeps
//! for it while its queue is over the bound.
//!
//! - `close`: nothing; the reactor closes it (`1008`).
//! - `skip`: the first and last offsets it missed; when its queue has room again it gets a
//!   `gap` (envelope mode) before the next message, and continues.
//! - `latest`: the newest message per key (or of the topic, without a key), each with the count
//!   of messages it replaced; when its queue has room again it gets those values, in offset
//!   order, marked `"conflated":<n>` (envelope mode), then continues. Held keys are bounded by
//!   `max_keys` and held bytes by the queue's bound; past either, it is closed.

use std::collections::HashMap;

use super::envelope::WindowMeta;

/// One subscription.
#[derive(Debug)]
pub(crate) struct Subscriber {
    /// The subscribing connection's slab key.
    pub(crate) conn: usize,
    /// It receives `sluice.v1` envelopes (else raw payloads).
    pub(crate) envelope: bool,
    /// The window (bits) its connection agreed on for permessage-deflate, if it did: it gets
    /// the compressed variant of each delivery for that window.
    pub(crate) deflate: Option<u8>,
    /// What it missed while behind, if it is.
    pub(crate) behind: Option<Box<Behind>>,
}

impl Subscriber {
    pub(crate) fn new(conn: usize, envelope: bool) -> Subscriber {
        Subscriber { conn, envelope, deflate: None, behind: None }
    }

    /// Whether it waits for its topic to be ready (it gets nothing meanwhile).
    pub(crate) fn is_waiting(&self) -> bool {
        matches!(self.behind.as_deref(), Some(Behind::Waiting(_)))
    }
}

/// What a behind subscriber is owed.
#[derive(Debug)]
pub(crate) enum Behind {
    /// `skip`: offsets `from..=to` were not sent.
    Skipped { from: u64, to: u64 },
    /// `latest`: the newest value per key.
    Latest(Conflated),
    /// Not started yet: its topic's cluster consumer is catching up; it starts like this
    /// (`route/cluster.rs`) once the node holds the topic's history.
    Waiting(super::Start),
}

/// The newest message per key of a behind subscriber.
#[derive(Debug, Default)]
pub(crate) struct Conflated {
    by_key: HashMap<Box<[u8]>, usize>,
    values: Vec<Latest>,
    bytes: usize,
}

/// One held value.
#[derive(Debug)]
pub(crate) struct Latest {
    pub(crate) offset: u64,
    pub(crate) text: bool,
    pub(crate) payload: Vec<u8>,
    pub(crate) window: Option<WindowMeta>,
    /// Messages it replaced.
    pub(crate) replaced: u64,
}

/// Holding another value would pass a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooMany;

impl Conflated {
    /// Keep `value` as the newest of `key`. Returns how many held messages it replaced (0 or
    /// 1), or [`TooMany`] past `max_keys` keys or `max_bytes` held payload bytes.
    pub(crate) fn hold(
        &mut self,
        key: &[u8],
        value: Latest,
        max_keys: usize,
        max_bytes: usize,
    ) -> Result<u64, TooMany> {
        if let Some(&i) = self.by_key.get(key) {
            let old = &mut self.values[i];
            let bytes = self.bytes - old.payload.len() + value.payload.len();
            if bytes > max_bytes {
                return Err(TooMany);
            }
            self.bytes = bytes;
            let replaced = old.replaced + 1;
            *old = Latest { replaced, ..value };
            return Ok(1);
        }
        if self.values.len() >= max_keys || self.bytes + value.payload.len() > max_bytes {
            return Err(TooMany);
        }
        self.bytes += value.payload.len();
        self.by_key.insert(key.into(), self.values.len());
        self.values.push(value);
        Ok(0)
    }

    /// Every held value, in offset order.
    pub(crate) fn in_order(&self) -> Vec<&Latest> {
        let mut values: Vec<&Latest> = self.values.iter().collect();
        values.sort_unstable_by_key(|v| v.offset);
        values
    }

    /// Payload bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(offset: u64, payload: &str) -> Latest {
        Latest { offset, text: true, payload: payload.into(), window: None, replaced: 0 }
    }

    #[test]
    fn keeps_the_newest_per_key_and_counts_what_it_replaced() {
        let mut c = Conflated::default();
        assert_eq!(c.hold(b"a", value(1, "a1"), 10, 100), Ok(0));
        assert_eq!(c.hold(b"b", value(2, "b1"), 10, 100), Ok(0));
        assert_eq!(c.hold(b"a", value(3, "a2"), 10, 100), Ok(1));
        assert_eq!(c.hold(b"a", value(5, "a3"), 10, 100), Ok(1));
        let got: Vec<_> = c.in_order().into_iter().map(|v| (v.offset, v.replaced)).collect();
        assert_eq!(got, [(2, 0), (5, 2)]);
    }

    #[test]
    fn keys_and_bytes_are_bounded() {
        let mut c = Conflated::default();
        assert_eq!(c.hold(b"a", value(1, "x"), 2, 10), Ok(0));
        assert_eq!(c.hold(b"b", value(2, "x"), 2, 10), Ok(0));
        assert_eq!(c.hold(b"c", value(3, "x"), 2, 10), Err(TooMany));
        assert_eq!(c.hold(b"a", value(4, "0123456789"), 2, 10), Err(TooMany));
        assert_eq!(c.bytes(), 2);
    }
}
