//! The measurement payload: who sent a message, its sequence number, and when it was meant to
//! go and did go out, written in ASCII digits so it survives a server that transforms text.
//!
//! Layout of the 46-digit stamp (fixed width, zero padded):
//!
//! ```text
//! PPPP SSSSSSSSSSSS IIIIIIIIIIIIIII AAAAAAAAAAAAAAA
//! |    |            |               └ actual send time, ns on CLOCK_MONOTONIC (15 digits)
//! |    |            └ intended send time, ns on CLOCK_MONOTONIC (15 digits, ~11 days)
//! |    └ sequence number of this sender (12 digits)
//! └ sender id (4 digits)
//! ```
//!
//! Three formats carry it: [`Format::Json`] (`{"sb":"<stamp>xxx…"}`, valid JSON for a server
//! whose pipeline parses messages), [`Format::Raw`] (`<stamp>xxx…`), both padded with `x` up to
//! the requested size, and [`Format::Dashboard`] (`{"sb":"<stamp>","rows":[{"sym":"S000",
//! "bid":12345.67,"qty":123},…]}`: rows of varied numbers up to the requested size, JSON that
//! compresses like a dashboard's rather than like a run of `x`). The decoder looks for the first run of at least 46 digits anywhere in the
//! payload, so upper-casing, re-wrapping in another JSON object, or added fields do not lose
//! the stamp.

/// Digits in a stamp.
pub const STAMP_LEN: usize = 46;
const JSON_HEAD: &[u8] = b"{\"sb\":\"";
const JSON_TAIL: &[u8] = b"\"}";
/// Largest sender id.
pub const MAX_SENDER: u32 = 9_999;
const SEQ_LIMIT: u64 = 1_000_000_000_000;
const TIME_LIMIT: u64 = 1_000_000_000_000_000;

/// How the stamp is wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{"sb":"<stamp><padding>"}`: at least 55 bytes.
    Json,
    /// `<stamp><padding>`: at least 46 bytes.
    Raw,
    /// `{"sb":"<stamp>","rows":[<rows>{"end":true}]}`: at least 77 bytes.
    Dashboard,
}

const ROWS_HEAD: &[u8] = b"\",\"rows\":[";
const ROWS_TAIL: &[u8] = b"{\"end\":true}]}";

impl Format {
    /// Smallest payload this format can carry.
    pub fn min_size(self) -> usize {
        match self {
            Format::Json => JSON_HEAD.len() + STAMP_LEN + JSON_TAIL.len(),
            Format::Raw => STAMP_LEN,
            Format::Dashboard => JSON_HEAD.len() + STAMP_LEN + ROWS_HEAD.len() + ROWS_TAIL.len(),
        }
    }

    /// Parse `json`, `raw` or `dashboard`.
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "json" => Ok(Format::Json),
            "raw" => Ok(Format::Raw),
            "dashboard" => Ok(Format::Dashboard),
            _ => Err(format!("unknown payload format `{s}` (use json, raw or dashboard)")),
        }
    }
}

/// What a payload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Sender (publisher or echo connection) index.
    pub sender: u32,
    /// Sequence number of this sender, from 0.
    pub seq: u64,
    /// Intended send time (the open-loop schedule), ns.
    pub intended: u64,
    /// Actual send time, ns.
    pub sent: u64,
}

/// Write `value` as exactly `width` zero-padded digits (the low digits if it is too large).
#[inline]
fn put_digits(out: &mut [u8], mut value: u64) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[inline]
fn get_digits(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'))
}

/// A payload template of `size` bytes in `format`; [`write_stamp`] fills in the stamp.
pub fn template(format: Format, size: usize) -> Vec<u8> {
    let size = size.max(format.min_size());
    let mut p = vec![b'x'; size];
    match format {
        Format::Json => {
            p[..JSON_HEAD.len()].copy_from_slice(JSON_HEAD);
            p[size - JSON_TAIL.len()..].copy_from_slice(JSON_TAIL);
        }
        Format::Raw => {}
        Format::Dashboard => {
            p.truncate(JSON_HEAD.len() + STAMP_LEN);
            p[..JSON_HEAD.len()].copy_from_slice(JSON_HEAD);
            p.extend_from_slice(ROWS_HEAD);
            // Rows of varied prices and quantities (a fixed pseudo-random sequence), then
            // spaces (valid JSON whitespace) up to the exact size.
            let mut x: u64 = 0x2545_f491_4f6c_dd1d;
            for i in 0.. {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let row = format!(
                    "{{\"sym\":\"S{:03}\",\"bid\":{}.{:02},\"qty\":{}}},",
                    i % 50,
                    x % 100_000,
                    (x >> 20) % 100,
                    (x >> 32) % 997
                );
                if p.len() + row.len() + ROWS_TAIL.len() > size {
                    break;
                }
                p.extend_from_slice(row.as_bytes());
            }
            p.resize(size - ROWS_TAIL.len(), b' ');
            p.extend_from_slice(ROWS_TAIL);
        }
    }
    p
}

/// Offset of the stamp inside a payload of `format`.
pub fn stamp_offset(format: Format) -> usize {
    match format {
        Format::Json | Format::Dashboard => JSON_HEAD.len(),
        Format::Raw => 0,
    }
}

/// Write `stamp` into `payload` at `offset` (46 bytes).
#[inline]
pub fn write_stamp(payload: &mut [u8], offset: usize, stamp: &Stamp) {
    let s = &mut payload[offset..offset + STAMP_LEN];
    put_digits(&mut s[0..4], u64::from(stamp.sender));
    put_digits(&mut s[4..16], stamp.seq % SEQ_LIMIT);
    put_digits(&mut s[16..31], stamp.intended % TIME_LIMIT);
    put_digits(&mut s[31..46], stamp.sent % TIME_LIMIT);
}

fn decode_at(d: &[u8]) -> Stamp {
    Stamp {
        sender: get_digits(&d[0..4]) as u32,
        seq: get_digits(&d[4..16]),
        intended: get_digits(&d[16..31]),
        sent: get_digits(&d[31..46]),
    }
}

fn all_digits(d: &[u8]) -> bool {
    d.iter().all(u8::is_ascii_digit)
}

/// Find and decode the stamp: the first 46 digits of the first run of at least 46 ASCII digits.
/// The fast path checks the two places the formats put it; anything else is scanned.
#[inline]
pub fn read_stamp(payload: &[u8]) -> Option<Stamp> {
    for off in [JSON_HEAD.len(), 0] {
        if let Some(d) = payload.get(off..off + STAMP_LEN) {
            let before_ok = off == 0 || !payload[off - 1].is_ascii_digit();
            if before_ok && all_digits(d) {
                return Some(decode_at(d));
            }
        }
    }
    let mut run = 0;
    for (i, b) in payload.iter().enumerate() {
        if b.is_ascii_digit() {
            run += 1;
            if run == STAMP_LEN {
                return Some(decode_at(&payload[i + 1 - STAMP_LEN..=i]));
            }
        } else {
            run = 0;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = Stamp { sender: 12, seq: 345, intended: 6_789_000_111, sent: 6_789_000_222 };
        for f in [Format::Json, Format::Raw] {
            let mut p = template(f, 64);
            assert_eq!(p.len(), 64);
            write_stamp(&mut p, stamp_offset(f), &s);
            assert_eq!(read_stamp(&p), Some(s));
        }
    }

    #[test]
    fn dashboard_payloads_are_json_of_the_exact_size() {
        let s = Stamp { sender: 3, seq: 9, intended: 1_000, sent: 2_000 };
        for size in [Format::Dashboard.min_size(), 100, 1024, 4096] {
            let mut p = template(Format::Dashboard, size);
            assert_eq!(p.len(), size);
            write_stamp(&mut p, stamp_offset(Format::Dashboard), &s);
            assert_eq!(read_stamp(&p), Some(s));
            let v: serde_json::Value = serde_json::from_slice(&p).expect("valid JSON");
            let rows = v["rows"].as_array().unwrap();
            assert_eq!(rows.last().unwrap()["end"], true);
            if size >= 1024 {
                assert!(rows.len() > 20, "{size}: {} rows", rows.len());
            }
        }
    }
}
