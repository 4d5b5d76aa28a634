//! [`Record`]: one message inside a pipeline.
//!
//! A record is a payload (text or binary), the partition key it was routed by (the key's JSON
//! text, if the pipeline is keyed), and, privately, the parsed JSON value of the payload, so a
//! chain of jq steps parses once and serializes once. Invariant: a record handed to user code
//! (a custom [`crate::ops::Operator`] or closure) always has its payload bytes up to date.
//!
//! Buffers come from a per-worker [`Pool`] and go back to it once the result is written, so a
//! steady stream allocates no payload buffers.

use std::fmt;

use jaq_json::Val;

use super::expr;

/// One message flowing through a pipeline.
pub struct Record {
    pub(crate) text: bool,
    pub(crate) payload: Vec<u8>,
    pub(crate) key: Option<Vec<u8>>,
    /// Parsed payload, when a jq step has looked at it.
    pub(crate) json: Option<Val>,
    /// `payload` is out of date: `json` is the truth (after a jq `map`).
    pub(crate) stale: bool,
    /// Event time in milliseconds (`i64::MIN`: none, as in Flink).
    pub(crate) ts: i64,
    /// The watermark in force when the reactor read the message (`i64::MIN`: none); for a
    /// window result, the watermark at which the window fired.
    pub(crate) wm: i64,
    /// A window result (or a record made from one): whether no later firing can update it.
    pub(crate) window_final: Option<bool>,
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Record");
        d.field("text", &self.text);
        if self.stale {
            d.field("json", &self.json.as_ref().map(|v| v.to_string()));
        } else {
            d.field("payload", &String::from_utf8_lossy(&self.payload));
        }
        d.field("key", &self.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()));
        d.finish()
    }
}

impl Record {
    /// A text record.
    pub fn text(s: impl Into<String>) -> Record {
        Record::from_parts(true, s.into().into_bytes())
    }

    /// A binary record.
    pub fn binary(b: impl Into<Vec<u8>>) -> Record {
        Record::from_parts(false, b.into())
    }

    pub(crate) fn from_parts(text: bool, payload: Vec<u8>) -> Record {
        Record {
            text,
            payload,
            key: None,
            json: None,
            stale: false,
            ts: i64::MIN,
            wm: i64::MIN,
            window_final: None,
        }
    }

    /// True for a text message, false for binary.
    pub fn is_text(&self) -> bool {
        self.text
    }

    /// The payload as it will be sent.
    pub fn payload(&self) -> &[u8] {
        debug_assert!(!self.stale, "payload read before materialize()");
        &self.payload
    }

    /// The payload as text, if it is a text message.
    pub fn as_str(&self) -> Option<&str> {
        if self.text {
            std::str::from_utf8(self.payload()).ok()
        } else {
            None
        }
    }

    /// The JSON text of the partition key this record was routed by (`None` if unkeyed).
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The record's event time in milliseconds since the epoch: read from the message with
    /// event time, the worker's clock at arrival with processing time, the window's last
    /// timestamp (`end - 1`) on a window result; `None` without time.
    pub fn timestamp(&self) -> Option<i64> {
        (self.ts != i64::MIN).then_some(self.ts)
    }

    /// Set the event time (milliseconds), for operators that make records.
    pub fn set_timestamp(&mut self, ts: i64) {
        self.ts = ts;
    }

    /// Replace the payload with text.
    pub fn set_text(&mut self, s: &str) {
        self.payload.clear();
        self.payload.extend_from_slice(s.as_bytes());
        self.text = true;
        self.json = None;
        self.stale = false;
    }

    /// Replace the payload with bytes, sent as a binary message.
    pub fn set_binary(&mut self, b: &[u8]) {
        self.payload.clear();
        self.payload.extend_from_slice(b);
        self.text = false;
        self.json = None;
        self.stale = false;
    }

    /// A new record that inherits this record's key and time (for operators that emit several
    /// records per input).
    pub fn child_text(&self, s: &str) -> Record {
        let mut r = Record::text(s);
        r.key = self.key.clone();
        r.ts = self.ts;
        r.wm = self.wm;
        r.window_final = self.window_final;
        r
    }

    /// Bring the payload bytes up to date with the parsed value.
    pub(crate) fn materialize(&mut self) {
        if self.stale {
            self.payload.clear();
            if let Some(v) = &self.json {
                expr::write_json(&mut self.payload, v);
            }
            self.text = true;
            self.stale = false;
        }
    }

    /// The parsed payload (parsed now if no step has done it yet).
    pub(crate) fn json(&mut self) -> Result<Val, String> {
        if let Some(v) = &self.json {
            return Ok(v.clone());
        }
        let v = expr::parse_json(&self.payload)?;
        self.json = Some(v.clone());
        Ok(v)
    }

    /// Replace the payload with a value produced by a jq step.
    pub(crate) fn set_json(&mut self, v: Val) {
        self.json = Some(v);
        self.stale = true;
    }
}

/// Recycled payload buffers of one worker.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    free: Vec<Vec<u8>>,
}

/// Buffers kept for reuse; a burst beyond this goes back to the allocator.
const POOL_MAX: usize = 4096;
/// Buffers that grew beyond this are not kept (one huge message must not pin memory).
const POOL_BUF_MAX: usize = 64 * 1024;

impl Pool {
    /// A record holding a copy of `payload` in a recycled buffer.
    pub(crate) fn record(&mut self, text: bool, payload: &[u8], key: Option<&[u8]>) -> Record {
        let mut buf = self.free.pop().unwrap_or_default();
        buf.extend_from_slice(payload);
        let mut r = Record::from_parts(text, buf);
        r.key = key.map(|k| {
            let mut kb = self.free.pop().unwrap_or_default();
            kb.extend_from_slice(k);
            kb
        });
        r
    }

    /// A record for a value produced by a jq step, inheriting the key and time of `parent`.
    pub(crate) fn json_record(&mut self, v: Val, parent: &Record) -> Record {
        let mut r = self.record(true, b"", parent.key.as_deref());
        r.ts = parent.ts;
        r.wm = parent.wm;
        r.window_final = parent.window_final;
        r.set_json(v);
        r
    }

    /// An empty buffer, recycled if one is free.
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_default()
    }

    /// Give a finished record's buffers back.
    pub(crate) fn recycle(&mut self, r: Record) {
        self.give(r.payload);
        if let Some(k) = r.key {
            self.give(k);
        }
    }

    fn give(&mut self, mut buf: Vec<u8>) {
        if self.free.len() < POOL_MAX && buf.capacity() <= POOL_BUF_MAX && buf.capacity() > 0 {
            buf.clear();
            self.free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_parsed_once_and_serialized_on_demand() {
        let mut r = Record::text(r#"{"a": 1}"#);
        let v = r.json().unwrap();
        assert!(r.json.is_some());
        r.set_json(v);
        assert!(r.stale);
        r.materialize();
        assert_eq!(r.as_str(), Some(r#"{"a":1}"#));
        assert!(Record::text("nope").json().is_err());
    }

    #[test]
    fn pool_reuses_buffers_and_keeps_keys() {
        let mut pool = Pool::default();
        let r = pool.record(true, b"hello", Some(b"\"k\""));
        assert_eq!(r.payload(), b"hello");
        assert_eq!(r.key(), Some(&b"\"k\""[..]));
        let ptr = r.payload.as_ptr();
        pool.recycle(r);
        let r2 = pool.record(false, b"x", None);
        assert!(!r2.is_text());
        assert_eq!(r2.as_str(), None);
        assert!(r2.payload.as_ptr() == ptr || pool.free.len() == 1);
    }

    #[test]
    fn setters_drop_the_parsed_value() {
        let mut r = Record::text("1");
        r.json().unwrap();
        r.set_binary(b"\x00");
        assert!(r.json.is_none() && !r.is_text());
        r.set_text("é");
        assert_eq!(r.as_str(), Some("é"));
        assert_eq!(r.child_text("c").key(), None);
    }
}
