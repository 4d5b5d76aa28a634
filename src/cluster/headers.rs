//! NATS message headers (`NATS/1.0[ <status>[ <description>]]\r\n<Key>: <Value>\r\n…\r\n`):
//! reading a header block from the server, and the block Sluice writes on every message it
//! publishes to the cluster.
//!
//! What Sluice puts in a message's headers (the payload is the published message, untouched):
//!
//! | header | value |
//! |---|---|
//! | `Nats-Msg-Id` | `<node>.<boot>.<n>`: JetStream drops a message sent again after a reconnect |
//! | `Sluice` | `t` (text), `b` (binary) or `g` (gap marker), then the publisher (16 hex digits) |
//! | `Sluice-Window` | window results: `<watermark ms> <1 if final else 0>` |
//!
//! A gap marker's payload is `<reason> <messages lost>`.

use std::io::Write;

/// What a message published by Sluice carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Binary,
    /// A gap marker: messages lost before they reached the cluster.
    Gap,
}

/// The Sluice headers of a message read back from the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) kind: Kind,
    pub(crate) publisher: u64,
    /// `(watermark, final)` of a window result.
    pub(crate) window: Option<(i64, bool)>,
}

/// A parsed header block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Headers<'a> {
    /// The status code (`100` idle heartbeat or flow control, `503` no responders, …).
    pub(crate) status: Option<u16>,
    fields: &'a [u8],
}

impl<'a> Headers<'a> {
    /// Parse a header block; `None` if it does not start with `NATS/1.0`.
    pub(crate) fn parse(block: &'a [u8]) -> Option<Headers<'a>> {
        let rest = block.strip_prefix(b"NATS/1.0")?;
        let end = rest.windows(2).position(|w| w == b"\r\n").unwrap_or(rest.len());
        let status_line = trim(&rest[..end]);
        let fields = rest.get(end + 2..).unwrap_or(&[]);
        // `<code>[ <description>]`: the description is for people.
        let code = status_line.split(|&b| b == b' ').next().unwrap_or_default();
        let status = std::str::from_utf8(code).ok().and_then(|c| c.parse().ok());
        Some(Headers { status, fields })
    }

    /// The first value of header `name` (names compared ignoring ASCII case).
    pub(crate) fn get(&self, name: &str) -> Option<&'a [u8]> {
        for line in self.fields.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
            if line[..colon].eq_ignore_ascii_case(name.as_bytes()) {
                return Some(trim(&line[colon + 1..]));
            }
        }
        None
    }

    /// A header's value as a decimal number.
    pub(crate) fn number(&self, name: &str) -> Option<u64> {
        std::str::from_utf8(self.get(name)?).ok()?.parse().ok()
    }

    /// The Sluice headers, if the message was published by Sluice.
    pub(crate) fn meta(&self) -> Option<Meta> {
        let v = self.get("Sluice")?;
        let (kind, publisher) = match v.split_first()? {
            (b't', rest) => (Kind::Text, rest),
            (b'b', rest) => (Kind::Binary, rest),
            (b'g', rest) => (Kind::Gap, rest),
            _ => return None,
        };
        let publisher = u64::from_str_radix(std::str::from_utf8(trim(publisher)).ok()?, 16).ok()?;
        let window = self.get("Sluice-Window").and_then(|w| {
            let w = std::str::from_utf8(w).ok()?;
            let (wm, last) = w.split_once(' ')?;
            Some((wm.parse().ok()?, last == "1"))
        });
        Some(Meta { kind, publisher, window })
    }
}

/// Append the header block of a message Sluice publishes.
pub(crate) fn encode(out: &mut Vec<u8>, msg_id: (&str, u64, u64), meta: &Meta) {
    let kind = match meta.kind {
        Kind::Text => 't',
        Kind::Binary => 'b',
        Kind::Gap => 'g',
    };
    let (node, boot, n) = msg_id;
    let _ = write!(
        out,
        "NATS/1.0\r\nNats-Msg-Id: {node}.{boot:x}.{n}\r\nSluice: {kind} {:016x}\r\n",
        meta.publisher
    );
    if let Some((wm, last)) = meta.window {
        let _ = write!(out, "Sluice-Window: {wm} {}\r\n", u8::from(last));
    }
    out.extend_from_slice(b"\r\n");
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_fields_parse() {
        let h = Headers::parse(
            b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 12\r\nNats-Last-Stream: 40\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.status, Some(100));
        assert_eq!(h.number("nats-last-consumer"), Some(12));
        assert_eq!(h.number("Nats-Last-Stream"), Some(40));
        assert_eq!(h.get("Missing"), None);
        let plain = Headers::parse(b"NATS/1.0\r\n\r\n").unwrap();
        assert_eq!(plain.status, None);
        assert!(Headers::parse(b"HTTP/1.1 200\r\n\r\n").is_none());
        assert_eq!(Headers::parse(b"NATS/1.0 503\r\n\r\n").unwrap().status, Some(503));
    }

    #[test]
    fn sluice_headers_round_trip() {
        for meta in [
            Meta { kind: Kind::Text, publisher: 7, window: None },
            Meta { kind: Kind::Binary, publisher: u64::MAX, window: Some((-5, true)) },
            Meta { kind: Kind::Gap, publisher: 0, window: Some((1_700_000_000_000, false)) },
        ] {
            let mut block = Vec::new();
            encode(&mut block, ("a", 0xbeef, 42), &meta);
            let h = Headers::parse(&block).unwrap();
            assert_eq!(h.meta(), Some(meta));
            assert_eq!(h.get("Nats-Msg-Id"), Some(&b"a.beef.42"[..]));
            assert!(block.ends_with(b"\r\n\r\n"));
        }
        let foreign = Headers::parse(b"NATS/1.0\r\nSluice: x 1\r\n\r\n").unwrap();
        assert_eq!(foreign.meta(), None);
    }
}
