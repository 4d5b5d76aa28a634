//! Sluice's envelope mode (`--envelope`): a subscriber that offers the `sluice.v1`
//! subprotocol receives each publication as
//! `{"topic":…,"offset":…,"epoch":…,"data":<payload>}` — the payload itself when it is a JSON
//! text, a JSON string when it is other text — or with `"data_b64":"<base64>"` for a binary
//! payload, and control messages (`{"type":…}`) besides. This module finds the payload inside
//! an envelope, so the stamp is read from the payload as in raw mode.
//!
//! No JSON parser and no allocation: the fields before `data` are written by the relay and
//! cannot hold `,"data` (topic names have no quote or comma), so the payload starts right after
//! the first `,"data`. A text payload is returned from there (the stamp reader finds the stamp
//! at its usual place, or scans for it); a base64 payload is decoded into a scratch buffer.

/// The subprotocol a subscriber offers for envelope mode.
pub const PROTOCOL: &str = "sluice.v1";

/// What an envelope-mode message holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Content<'a> {
    /// A publication: its payload (or, for text, the payload followed by the envelope's end).
    Payload(&'a [u8]),
    /// A control message (`subscribed`, `recovery`, `gap`, `error`): no payload.
    Control,
    /// Neither: not an envelope.
    Invalid,
}

const DATA: &[u8] = b",\"data";

/// The payload of `envelope`; a binary payload is decoded into `scratch`.
#[inline]
pub fn open<'a>(envelope: &'a [u8], scratch: &'a mut Vec<u8>) -> Content<'a> {
    if envelope.starts_with(b"{\"type\":") {
        return Content::Control;
    }
    let Some(at) = envelope.windows(DATA.len()).position(|w| w == DATA) else {
        return Content::Invalid;
    };
    let rest = &envelope[at + DATA.len()..];
    if let Some(text) = rest.strip_prefix(b"\":") {
        // A JSON string: its characters (a stamp's digits need no escaping).
        return Content::Payload(text.strip_prefix(b"\"").unwrap_or(text));
    }
    let Some(b64) = rest.strip_prefix(b"_b64\":\"") else { return Content::Invalid };
    let Some(end) = b64.iter().position(|&b| b == b'"') else { return Content::Invalid };
    let b64 = &b64[..end];
    let Ok(len) = data_encoding::BASE64.decode_len(b64.len()) else { return Content::Invalid };
    scratch.resize(len, 0);
    match data_encoding::BASE64.decode_mut(b64, scratch) {
        Ok(n) => Content::Payload(&scratch[..n]),
        Err(_) => Content::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{read_stamp, stamp_offset, template, write_stamp, Format, Stamp};

    fn stamped(format: Format) -> (Vec<u8>, Stamp) {
        let s = Stamp { sender: 3, seq: 77, intended: 1_000_000_123, sent: 1_000_000_456 };
        let mut p = template(format, 64);
        write_stamp(&mut p, stamp_offset(format), &s);
        (p, s)
    }

    fn envelope(field: &str) -> Vec<u8> {
        format!(r#"{{"topic":"data","offset":42,"epoch":"7f3a9c1e00000001",{field}}}"#).into_bytes()
    }

    #[test]
    fn json_text_and_binary_payloads_come_out_with_their_stamp() {
        let mut scratch = Vec::new();
        let (json, s) = stamped(Format::Json);
        let env = envelope(&format!("\"data\":{}", String::from_utf8(json).unwrap()));
        let Content::Payload(p) = open(&env, &mut scratch) else { panic!("a payload") };
        assert_eq!(read_stamp(p), Some(s));

        let (raw, s) = stamped(Format::Raw);
        let env = envelope(&format!("\"data\":\"{}\"", String::from_utf8(raw).unwrap()));
        let Content::Payload(p) = open(&env, &mut scratch) else { panic!("a payload") };
        assert_eq!(read_stamp(p), Some(s));

        let (bin, s) = stamped(Format::Raw);
        let env = envelope(&format!("\"data_b64\":\"{}\"", data_encoding::BASE64.encode(&bin)));
        assert_eq!(open(&env, &mut scratch), Content::Payload(&bin[..]));
        assert_eq!(read_stamp(&scratch), Some(s));
    }

    #[test]
    fn control_messages_and_other_text_are_told_apart() {
        let mut scratch = Vec::new();
        let sub = br#"{"type":"subscribed","topic":"t","epoch":"7f3a9c1e00000001","offset":0}"#;
        assert_eq!(open(sub, &mut scratch), Content::Control);
        assert_eq!(open(b"hello", &mut scratch), Content::Invalid);
        assert_eq!(open(&envelope("\"data_b64\":\"!!\""), &mut scratch), Content::Invalid);
    }
}
