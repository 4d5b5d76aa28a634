//! The `sluice.v1` envelope: one JSON text message per publication, and the control messages
//! (`recovery`, `gap`, `subscribed`, `error`) envelope subscribers receive.
//!
//! ```text
//! {"topic":"prices","offset":42,"epoch":"7f3a9c1e5d2b4a60","data":{…}}
//! ```
//!
//! `data` is the payload itself when the payload is a JSON text, a JSON string when it is other
//! text, and `data_b64` (standard base64) replaces it for a binary payload. Window results add
//! `"watermark":<ms>` and `"final":true|false`; a value delivered by the `latest` policy adds
//! `"conflated":<messages it replaced>`. Envelopes of a batch are encoded once and shared by every
//! envelope subscriber of the topic.

use std::fmt::Write as _;

use super::stream::Epoch;
use crate::conn::frames;
use crate::logging::json_escape_into;

/// What a window result adds to its envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowMeta {
    /// The watermark at which the window fired (milliseconds).
    pub(crate) watermark: i64,
    /// No later firing can update this result.
    pub(crate) last: bool,
}

/// One publication, as an envelope subscriber sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Publication<'a> {
    pub(crate) topic: &'a str,
    pub(crate) offset: u64,
    pub(crate) epoch: Epoch,
    pub(crate) text: bool,
    pub(crate) payload: &'a [u8],
    pub(crate) window: Option<WindowMeta>,
    /// Messages this one replaced (the `latest` policy); 0: none.
    pub(crate) conflated: u64,
}

/// Append the envelope of `p` as one text frame to `out`; `json` is a scratch buffer.
pub(crate) fn encode_frame(out: &mut Vec<u8>, json: &mut String, p: &Publication<'_>) {
    json.clear();
    // Written by hand, not with `write!`: this runs once per message for all its envelope
    // subscribers, and formatting machinery costs several hundred instructions here.
    json.push_str("{\"topic\":\"");
    json.push_str(p.topic);
    json.push_str("\",\"offset\":");
    push_decimal(json, p.offset);
    json.push_str(",\"epoch\":\"");
    push_epoch(json, p.epoch);
    json.push('"');
    match (p.text, std::str::from_utf8(p.payload)) {
        (true, Ok(text)) if is_json(p.payload) => {
            json.push_str(",\"data\":");
            json.push_str(text.trim());
        }
        (true, Ok(text)) => {
            json.push_str(",\"data\":\"");
            json_escape_into(json, text);
            json.push('"');
        }
        _ => {
            json.push_str(",\"data_b64\":\"");
            data_encoding::BASE64.encode_append(p.payload, json);
            json.push('"');
        }
    }
    if let Some(w) = p.window {
        let _ = write!(json, ",\"watermark\":{},\"final\":{}", w.watermark, w.last);
    }
    if p.conflated > 0 {
        let _ = write!(json, ",\"conflated\":{}", p.conflated);
    }
    json.push('}');
    frames::encode_frame(out, frames::data_opcode(true), json.as_bytes(), None);
}

/// Append `n` in decimal.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits[at..].iter().for_each(|&d| out.push(char::from(d)));
}

/// Append an epoch as its 16 lower-case hex digits (as `Epoch`'s `Display` writes it).
fn push_epoch(out: &mut String, epoch: Epoch) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(char::from(HEX[((epoch.0 >> (shift * 4)) & 0xf) as usize]));
    }
}

/// A control message as one text frame.
pub(crate) fn control_frame(json: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 4);
    frames::encode_frame(&mut out, frames::data_opcode(true), json.as_bytes(), None);
    out
}

/// `{"type":"recovery","recovered":true,…}`: offsets `from..=to` follow, then live messages.
pub(crate) fn recovered(topic: &str, epoch: Epoch, from: u64, to: u64) -> String {
    format!(
        "{{\"type\":\"recovery\",\"topic\":\"{topic}\",\"recovered\":true,\"epoch\":\"{epoch}\",\
         \"from\":{from},\"to\":{to}}}"
    )
}

/// `{"type":"recovery","recovered":false,…}`: live messages only follow.
pub(crate) fn not_recovered(
    topic: &str,
    reason: &str,
    epoch: Epoch,
    top: u64,
    oldest: u64,
) -> String {
    format!(
        "{{\"type\":\"recovery\",\"topic\":\"{topic}\",\"recovered\":false,\"reason\":\"{reason}\",\
         \"epoch\":\"{epoch}\",\"offset\":{top},\"oldest\":{oldest}}}"
    )
}

/// `{"type":"gap",…}`: offsets `from..=to` of `topic` will not be delivered.
pub(crate) fn gap(topic: &str, from: u64, to: u64, reason: &str) -> String {
    format!(
        "{{\"type\":\"gap\",\"topic\":\"{topic}\",\"from\":{from},\"to\":{to},\"reason\":\"{reason}\"}}"
    )
}

/// `{"type":"subscribed",…}`: live messages of `topic` follow, after offset `top`.
pub(crate) fn subscribed(topic: &str, epoch: Epoch, top: u64) -> String {
    format!(
        "{{\"type\":\"subscribed\",\"topic\":\"{topic}\",\"epoch\":\"{epoch}\",\"offset\":{top}}}"
    )
}

/// `{"type":"unsubscribed",…}`.
pub(crate) fn unsubscribed(topic: &str) -> String {
    format!("{{\"type\":\"unsubscribed\",\"topic\":\"{topic}\"}}")
}

/// `{"type":"error",…}`, about `topic` if given.
pub(crate) fn error(topic: Option<&str>, reason: &str) -> String {
    let mut s = String::from("{\"type\":\"error\"");
    if let Some(t) = topic {
        let _ = write!(s, ",\"topic\":\"{}\"", escape(t));
    }
    s.push_str(",\"reason\":\"");
    json_escape_into(&mut s, reason);
    s.push_str("\"}");
    s
}

/// `s` as the inside of a JSON string.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    json_escape_into(&mut out, s);
    out
}

/// Whether a text payload is one valid JSON value (strictly: it goes into the envelope as is).
fn is_json(payload: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn numbers_are_written_as_display_writes_them() {
        for n in [0, 7, 10, 42, 1_000_000, u64::MAX] {
            let mut s = String::new();
            push_decimal(&mut s, n);
            assert_eq!(s, n.to_string());
        }
        for e in [0, 1, 0x7f3a_9c1e_0000_0001, u64::MAX] {
            let mut s = String::new();
            push_epoch(&mut s, Epoch(e));
            assert_eq!(s, Epoch(e).to_string());
        }
    }

    fn envelope(text: bool, payload: &[u8], window: Option<WindowMeta>, conflated: u64) -> Value {
        let (mut out, mut scratch) = (Vec::new(), String::new());
        let p = Publication {
            topic: "prices",
            offset: 42,
            epoch: Epoch(0x7f3a_9c1e_0000_0001),
            text,
            payload,
            window,
            conflated,
        };
        encode_frame(&mut out, &mut scratch, &p);
        assert_eq!(out[0], 0x81, "one text frame");
        serde_json::from_str(&scratch).expect("valid JSON")
    }

    #[test]
    fn json_text_other_text_and_binary() {
        let v = envelope(true, br#" {"px": 1.5, "sym": "EUR"} "#, None, 0);
        assert_eq!(
            v,
            json!({"topic":"prices","offset":42,"epoch":"7f3a9c1e00000001","data":{"px":1.5,"sym":"EUR"}})
        );
        assert_eq!(envelope(true, b"hello \"world\"\n", None, 0)["data"], "hello \"world\"\n");
        // Not JSON, though it looks close: kept as a string.
        assert_eq!(envelope(true, br#"{"a": "\q"}"#, None, 0)["data"], r#"{"a": "\q"}"#);
        let v = envelope(false, &[0, 159, 146, 150], None, 0);
        assert_eq!(v["data_b64"], "AJ+Slg==");
        assert!(v.get("data").is_none());
    }

    #[test]
    fn window_results_and_conflated_values_say_so() {
        let w = WindowMeta { watermark: 59_999, last: false };
        let v = envelope(true, b"{}", Some(w), 0);
        assert_eq!((&v["watermark"], &v["final"]), (&json!(59_999), &json!(false)));
        assert_eq!(envelope(true, b"1", None, 7)["conflated"], 7);
    }

    #[test]
    fn control_messages_are_json() {
        let e = Epoch(1);
        for s in [
            recovered("a", e, 43, 97),
            not_recovered("a", "epoch_changed", e, 97, 1),
            gap("a", 3, 9, "skipped"),
            subscribed("a", e, 0),
            unsubscribed("a"),
            error(Some("a\"b"), "no \"right\""),
        ] {
            let v: Value = serde_json::from_str(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert!(v["type"].is_string(), "{s}");
        }
    }
}
