//! [`Batch`]: the unit of hand-off between the reactor and the workers, in both directions.
//!
//! A batch is the messages of one read (or one duty cycle) for one route, packed into one byte
//! buffer with an index, so a hand-off is one channel message however many messages it carries,
//! and a batch's buffers are reused: the reactor fills a batch, a worker empties it and fills
//! it with results, the reactor empties it and fills it again.

/// Bytes after which a batch is handed over without waiting for the end of the read.
pub(crate) const BATCH_BYTES: usize = 64 * 1024;
/// A batch whose buffers grew beyond this is not reused (one huge message must not pin memory).
const KEEP_MAX: usize = 4 * BATCH_BYTES;

#[derive(Debug, Clone, Copy)]
enum KeyRef {
    None,
    /// The key is `null` (missing from the message).
    Null,
    /// The key's bytes, as offsets into the message's payload.
    At(u32, u32),
}

#[derive(Debug, Clone, Copy)]
struct Msg {
    end: u32,
    text: bool,
    key: KeyRef,
}

/// Messages for one route: a pipeline (to a worker) or an output topic (to the reactor).
///
/// An event-time pipeline's batch also carries, per message, its event time and the watermark
/// in force when the reactor read it (`stamps`), and the watermark after the last message
/// (`watermark`; a batch with no message and a watermark is how the watermark reaches a worker
/// that got no event).
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) route: u32,
    data: Vec<u8>,
    msgs: Vec<Msg>,
    /// (event time, watermark before it) per message, for event-time routes; in a result
    /// batch, (watermark at firing, 1 if final) per message when some are window results
    /// (`(i64::MIN, 0)` for the others).
    stamps: Vec<(i64, i64)>,
    /// The watermark after this batch (`i64::MIN`: none).
    pub(crate) watermark: i64,
    /// A result batch: results of its route were lost before these (an operator failed).
    pub(crate) lost: bool,
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new(0)
    }
}

impl Batch {
    pub(crate) fn new(route: u32) -> Batch {
        Batch {
            route,
            data: Vec::new(),
            msgs: Vec::new(),
            stamps: Vec::new(),
            watermark: i64::MIN,
            lost: false,
        }
    }

    /// Append a message with its event time and the watermark it was read under.
    pub(crate) fn push_timed(
        &mut self,
        text: bool,
        payload: &[u8],
        key: Option<&[u8]>,
        ts: i64,
        wm: i64,
    ) {
        self.push(text, payload, key);
        self.stamps.push((ts, wm));
    }

    /// (event time, watermark before it) per message; empty if the batch has no times.
    /// Give every message without a stamp this one (a batch's stamps are all or none).
    pub(crate) fn pad_stamps(&mut self, ts: i64, wm: i64) {
        self.stamps.resize(self.msgs.len(), (ts, wm));
    }

    pub(crate) fn stamps(&self) -> &[(i64, i64)] {
        &self.stamps
    }

    /// Append a message; `key`, if any, is a slice of `payload` or the literal `null`.
    pub(crate) fn push(&mut self, text: bool, payload: &[u8], key: Option<&[u8]>) {
        let key = match key {
            None => KeyRef::None,
            Some(k) => {
                let off = (k.as_ptr() as usize).wrapping_sub(payload.as_ptr() as usize);
                if off <= payload.len() && off + k.len() <= payload.len() {
                    KeyRef::At(off as u32, (off + k.len()) as u32)
                } else {
                    KeyRef::Null
                }
            }
        };
        self.data.extend_from_slice(payload);
        self.msgs.push(Msg { end: self.data.len() as u32, text, key });
    }

    pub(crate) fn len(&self) -> usize {
        self.msgs.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Every message: (text, payload, key).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (bool, &[u8], Option<&[u8]>)> {
        let mut start = 0usize;
        self.msgs.iter().map(move |m| {
            let payload = &self.data[start..m.end as usize];
            start = m.end as usize;
            let key = match m.key {
                KeyRef::None => None,
                KeyRef::Null => Some(&b"null"[..]),
                KeyRef::At(a, b) => Some(&payload[a as usize..b as usize]),
            };
            (m.text, payload, key)
        })
    }

    /// Empty the batch for reuse; false if it is too big to be worth keeping.
    pub(crate) fn reset(&mut self, route: u32) -> bool {
        self.data.clear();
        self.msgs.clear();
        self.stamps.clear();
        self.watermark = i64::MIN;
        self.lost = false;
        self.route = route;
        self.data.capacity() <= KEEP_MAX
    }
}

/// A bounded free list of batches.
#[derive(Debug, Default)]
pub(crate) struct Spares {
    free: Vec<Batch>,
}

/// Batches kept per free list.
const SPARES_MAX: usize = 256;

impl Spares {
    pub(crate) fn take(&mut self, route: u32) -> Batch {
        match self.free.pop() {
            Some(mut b) => {
                b.route = route;
                b
            }
            None => Batch::new(route),
        }
    }

    pub(crate) fn give(&mut self, mut b: Batch) {
        if b.reset(0) && self.free.len() < SPARES_MAX {
            self.free.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_keys_round_trip() {
        let mut b = Batch::new(3);
        let m1 = br#"{"k":"a"}"#;
        b.push(true, m1, Some(&m1[5..8]));
        b.push(false, b"\x00\x01", None);
        b.push(true, b"{}", Some(b"null"));
        b.push(true, b"", None);
        let got: Vec<_> =
            b.iter().map(|(t, p, k)| (t, p.to_vec(), k.map(<[u8]>::to_vec))).collect();
        assert_eq!(got[0], (true, m1.to_vec(), Some(b"\"a\"".to_vec())));
        assert_eq!(got[1], (false, vec![0, 1], None));
        assert_eq!(got[2], (true, b"{}".to_vec(), Some(b"null".to_vec())));
        assert_eq!(got[3], (true, vec![], None));
        assert_eq!((b.len(), b.bytes(), b.route), (4, 13, 3));
        assert!(b.stamps().is_empty());
        let mut spares = Spares::default();
        spares.give(b);
        let mut b = spares.take(7);
        assert_eq!((b.len(), b.route), (0, 7));
        b.push_timed(true, b"{}", None, 5, -1);
        b.watermark = 4;
        assert_eq!(b.stamps(), [(5, -1)]);
        spares.give(b);
        let b = spares.take(1);
        assert!(b.stamps().is_empty() && b.watermark == i64::MIN);
    }
}
