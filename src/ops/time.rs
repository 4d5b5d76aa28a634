//! Time for pipelines: event time read from each message, and the watermark.
//!
//! **Event time** is read by the reactor from each message as published, with the same
//! allocation-free scanner as the partition key ([`KeyPath`]). The value is epoch milliseconds:
//! a JSON integer (`1700000000123`, negative values allowed), an integral number in another
//! notation (`1.7e12`), a string holding an integer (`"1700000000123"`), or an RFC 3339 string
//! (`"2023-11-14T22:13:20.123Z"`, `"…+02:00"`; fractions of a millisecond are truncated).
//! Anything else (`null`, a missing field, `true`, `"yesterday"`, a fraction of a millisecond
//! as a number) makes the message a time error: it is dropped and counted.
//!
//! **The watermark** is Flink's bounded-out-of-orderness watermark, computed after every event
//! (Flink's `BoundedOutOfOrdernessWatermarks` emits only every 200 ms of wall-clock time, which
//! makes lateness depend on machine speed; Sluice does what that generator does with a
//! per-event emit):
//!
//! ```text
//! max_ts    starts at i64::MIN + out_of_orderness + 1, then max(max_ts, ts) per event
//! watermark = max_ts - out_of_orderness - 1          (starts at i64::MIN; never decreases)
//! ```
//!
//! An event is judged against the watermark left by the events *before* it (Flink's
//! `TimestampsAndWatermarksOperator.processElement` forwards the element, then calls
//! `onEvent`), so an event never makes itself late.
//!
//! **Several publishers** ([`Sources`]): by default every message of the pipeline's input,
//! whoever published it, feeds one generator, in the order the reactor reads them — Flink with a
//! source of parallelism 1. With [`Sources::PerPublisher`] each publisher connection has its own
//! generator and the pipeline's watermark is the minimum over the active ones — Flink's
//! combination of parallel source splits (`StatusWatermarkValve`): a publisher silent for
//! `idle` stops holding the watermark back until it sends again, a publisher that disconnects
//! is forgotten, and the combined watermark never decreases.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use super::key::{KeyError, KeyPath};

/// How a pipeline tells time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeMode {
    /// Event time read from each message, with a watermark.
    Event(EventTime),
    /// The worker's clock when it handles a message (Flink's processing time).
    Processing,
}

/// How the watermarks of several publishers combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sources {
    /// Every publisher feeds one watermark generator, in arrival order (the default; Flink with
    /// a source of parallelism 1).
    #[default]
    One,
    /// One generator per publisher connection; the watermark is the minimum over the publishers
    /// that are not idle (Flink's parallel source splits with `withIdleness`).
    PerPublisher,
}

/// Event-time settings: where the timestamp is, and how the watermark follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTime {
    pub(crate) field: KeyPath,
    /// Milliseconds.
    pub(crate) out_of_orderness: i64,
    /// Milliseconds.
    pub(crate) allowed_lateness: i64,
    /// Milliseconds; `None`: a silent publisher holds the watermark back indefinitely.
    pub(crate) idle: Option<i64>,
    pub(crate) sources: Sources,
}

impl EventTime {
    /// Event time read from `field` (a jq path such as `.ts`), with no out-of-orderness and no
    /// allowed lateness.
    pub fn new(field: &str) -> Result<EventTime, String> {
        Ok(EventTime {
            field: KeyPath::parse(field).map_err(|e| e.replace("key `", "event time field `"))?,
            out_of_orderness: 0,
            allowed_lateness: 0,
            idle: None,
            sources: Sources::One,
        })
    }

    /// The field's path as written.
    pub fn field(&self) -> &str {
        self.field.source()
    }

    /// How far behind the newest timestamp an event may be without being late.
    pub fn out_of_orderness(mut self, d: Duration) -> EventTime {
        self.out_of_orderness = millis(d);
        self
    }

    /// How long after a window fired late events still update it (default 0).
    pub fn allowed_lateness(mut self, d: Duration) -> EventTime {
        self.allowed_lateness = millis(d);
        self
    }

    /// With [`Sources::PerPublisher`]: a publisher silent this long stops holding the
    /// watermark back (Flink's `withIdleness`).
    pub fn idle(mut self, d: Duration) -> EventTime {
        self.idle = Some(millis(d).max(1));
        self
    }

    /// How several publishers combine (default [`Sources::One`]).
    pub fn sources(mut self, s: Sources) -> EventTime {
        self.sources = s;
        self
    }

    /// The allowed lateness in milliseconds.
    pub fn lateness_ms(&self) -> i64 {
        self.allowed_lateness
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Why a message's event time could not be read. The message is dropped and counted
/// (`time_errors`); fix the producer or the `event` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeError {
    /// The message is not valid JSON up to the field.
    InvalidJson,
    /// The path goes through a value that cannot be indexed that way.
    NotIndexable,
    /// The field is missing or `null`.
    Missing,
    /// The field is not a timestamp (the text says what was found).
    NotATime(String),
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeError::InvalidJson => f.write_str("the message is not valid JSON"),
            TimeError::NotIndexable => f.write_str("the path indexes a non-container value"),
            TimeError::Missing => f.write_str("missing or null"),
            TimeError::NotATime(what) => write!(
                f,
                "`{what}` is not epoch milliseconds (an integer) or an RFC 3339 date-time"
            ),
        }
    }
}

impl EventTime {
    /// Read the event time of a message as published.
    pub fn extract(&self, json: &[u8]) -> Result<i64, TimeError> {
        let raw = self.field.extract(json).map_err(|e| match e {
            KeyError::InvalidJson => TimeError::InvalidJson,
            KeyError::NotIndexable => TimeError::NotIndexable,
        })?;
        parse_timestamp(raw)
    }
}

/// Parse the JSON text of a timestamp value (see the module docs for what is accepted).
pub fn parse_timestamp(raw: &[u8]) -> Result<i64, TimeError> {
    let bad = || TimeError::NotATime(String::from_utf8_lossy(&raw[..raw.len().min(40)]).into());
    let ts = match raw.first() {
        None | Some(b'n') => return Err(TimeError::Missing),
        Some(b'"') => {
            let s = std::str::from_utf8(&raw[1..raw.len() - 1]).map_err(|_| bad())?;
            match s.parse::<i64>() {
                Ok(ms) => ms,
                Err(_) => rfc3339(s).ok_or_else(bad)?,
            }
        }
        Some(b'-' | b'0'..=b'9') => {
            let s = std::str::from_utf8(raw).map_err(|_| bad())?;
            match s.parse::<i64>() {
                Ok(ms) => ms,
                Err(_) => {
                    let f: f64 = s.parse().map_err(|_| bad())?;
                    // 2^63 is exactly representable; anything at or beyond it does not fit.
                    if f.fract() != 0.0
                        || !(-9.223_372_036_854_775e18..9.223_372_036_854_775e18).contains(&f)
                    {
                        return Err(bad());
                    }
                    f as i64
                }
            }
        }
        _ => return Err(bad()),
    };
    // Flink reserves Long.MIN_VALUE for "no timestamp" and refuses it.
    if ts == i64::MIN {
        return Err(bad());
    }
    Ok(ts)
}

/// An RFC 3339 date-time (`2023-11-14T22:13:20.123Z`, `…+02:00`; `t`, `z` and a space as the
/// separator are accepted) as epoch milliseconds; fractions beyond milliseconds are truncated.
pub fn rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |at: usize, len: usize| -> Option<i64> {
        let d = b.get(at..at + len)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0i64, |n, &c| n * 10 + i64::from(c - b'0')))
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'+' {
                h * 60 + m
            } else {
                -(h * 60 + m)
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Some(secs * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One bounded-out-of-orderness generator (Flink's formula, emitted per event).
#[derive(Debug, Clone, Copy)]
struct Generator {
    max_ts: i64,
    out_of_orderness: i64,
}

impl Generator {
    fn new(out_of_orderness: i64) -> Generator {
        Generator { max_ts: i64::MIN + out_of_orderness + 1, out_of_orderness }
    }
    fn on_event(&mut self, ts: i64) -> i64 {
        self.max_ts = self.max_ts.max(ts);
        self.max_ts - self.out_of_orderness - 1
    }
}

#[derive(Debug, Clone, Copy)]
struct Publisher {
    gen: Generator,
    watermark: i64,
    last_event_ms: u64,
    idle: bool,
}

/// The watermark of one pipeline, fed with every event of its input in arrival order.
#[derive(Debug)]
pub(crate) struct Watermarks {
    sources: Sources,
    out_of_orderness: i64,
    idle_ms: Option<i64>,
    one: Generator,
    publishers: HashMap<u64, Publisher>,
    current: i64,
}

impl Watermarks {
    pub(crate) fn new(t: &EventTime) -> Watermarks {
        Watermarks {
            sources: t.sources,
            out_of_orderness: t.out_of_orderness,
            idle_ms: t.idle,
            one: Generator::new(t.out_of_orderness),
            publishers: HashMap::new(),
            current: i64::MIN,
        }
    }

    /// The watermark now: every event read so far has been judged against an earlier one.
    pub(crate) fn current(&self) -> i64 {
        self.current
    }

    /// Account for one event of `publisher` with timestamp `ts`, read at `now_ms`.
    pub(crate) fn on_event(&mut self, publisher: u64, ts: i64, now_ms: u64) {
        match self.sources {
            Sources::One => self.current = self.current.max(self.one.on_event(ts)),
            Sources::PerPublisher => {
                let ooo = self.out_of_orderness;
                let p = self.publishers.entry(publisher).or_insert(Publisher {
                    gen: Generator::new(ooo),
                    watermark: i64::MIN,
                    last_event_ms: now_ms,
                    idle: false,
                });
                p.watermark = p.watermark.max(p.gen.on_event(ts));
                p.last_event_ms = now_ms;
                p.idle = false;
                self.combine();
            }
        }
    }

    /// Mark publishers silent for `idle` as idle. True if the watermark moved.
    pub(crate) fn tick(&mut self, now_ms: u64) -> bool {
        let Some(idle) = self.idle_ms else { return false };
        let mut changed = false;
        for p in self.publishers.values_mut() {
            if !p.idle && now_ms.saturating_sub(p.last_event_ms) >= idle as u64 {
                p.idle = true;
                changed = true;
            }
        }
        changed && self.combine()
    }

    /// Whether [`Watermarks::on_event`] needs the clock (per-publisher idleness).
    pub(crate) fn needs_clock(&self) -> bool {
        self.sources == Sources::PerPublisher && self.idle_ms.is_some()
    }

    /// When the next publisher would become idle (for the reactor's poll timeout).
    pub(crate) fn next_idle_ms(&self) -> Option<u64> {
        let idle = self.idle_ms? as u64;
        self.publishers.values().filter(|p| !p.idle).map(|p| p.last_event_ms + idle).min()
    }

    /// A publisher disconnected: it no longer holds the watermark back. True if it moved.
    pub(crate) fn remove_publisher(&mut self, publisher: u64) -> bool {
        self.publishers.remove(&publisher).is_some() && self.combine()
    }

    /// Minimum over active publishers; never decreases; no change when all are idle.
    fn combine(&mut self) -> bool {
        let min = self.publishers.values().filter(|p| !p.idle).map(|p| p.watermark).min();
        match min {
            Some(m) if m > self.current => {
                self.current = m;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Result<i64, TimeError> {
        parse_timestamp(s.as_bytes())
    }

    #[test]
    fn numbers_and_strings() {
        assert_eq!(ts("1700000000123"), Ok(1_700_000_000_123));
        assert_eq!(ts("-5"), Ok(-5));
        assert_eq!(ts("1.7e12"), Ok(1_700_000_000_000));
        assert_eq!(ts("\"42\""), Ok(42));
        assert_eq!(ts("null"), Err(TimeError::Missing));
        assert!(matches!(ts("1.5"), Err(TimeError::NotATime(_))));
        assert!(matches!(ts("true"), Err(TimeError::NotATime(_))));
        assert!(matches!(ts("\"soon\""), Err(TimeError::NotATime(_))));
        assert!(matches!(ts("1e30"), Err(TimeError::NotATime(_))));
        assert!(matches!(ts("-9223372036854775808"), Err(TimeError::NotATime(_))));
        assert_eq!(ts("9223372036854775807"), Ok(i64::MAX));
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339("2023-11-14T22:13:20.123Z"), Some(1_700_000_000_123));
        assert_eq!(rfc3339("2023-11-14T22:13:20.1239999Z"), Some(1_700_000_000_123));
        assert_eq!(rfc3339("2023-11-14T22:13:20.1Z"), Some(1_700_000_000_100));
        assert_eq!(rfc3339("2023-11-15T00:13:20+02:00"), Some(1_700_000_000_000));
        assert_eq!(rfc3339("2023-11-14 21:13:20-01:00"), Some(1_700_000_000_000));
        assert_eq!(rfc3339("1969-12-31T23:59:59.999z"), Some(-1));
        assert_eq!(rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(rfc3339("1900-02-29T00:00:00Z"), None);
        assert_eq!(rfc3339("2023-13-01T00:00:00Z"), None);
        assert_eq!(rfc3339("2023-11-14T22:13:20"), None);
        assert_eq!(rfc3339("2023-11-14T22:13:20.Z"), None);
        assert_eq!(rfc3339("2023-11-14T22:13:20+0200"), None);
        assert_eq!(ts("\"2023-11-14T22:13:20.123Z\""), Ok(1_700_000_000_123));
    }

    #[test]
    fn extract_reads_the_field() {
        let t = EventTime::new(".t.ms").unwrap();
        assert_eq!(t.extract(br#"{"t":{"ms":7}}"#), Ok(7));
        assert_eq!(t.extract(br#"{"x":1}"#), Err(TimeError::Missing));
        assert_eq!(t.extract(br#"{"t":3}"#), Err(TimeError::NotIndexable));
        assert_eq!(t.extract(b"nope"), Err(TimeError::InvalidJson));
        assert!(EventTime::new("ts").unwrap_err().contains("event time field"));
    }

    #[test]
    fn one_source_is_flinks_bounded_out_of_orderness() {
        let t = EventTime::new(".ts").unwrap().out_of_orderness(Duration::from_millis(200));
        let mut w = Watermarks::new(&t);
        assert_eq!(w.current(), i64::MIN);
        w.on_event(1, 1000, 0);
        assert_eq!(w.current(), 799);
        w.on_event(2, 500, 0);
        assert_eq!(w.current(), 799, "never decreases");
        w.on_event(1, i64::MIN + 1, 0);
        assert_eq!(w.current(), 799);
        let mut w = Watermarks::new(&EventTime::new(".ts").unwrap());
        w.on_event(1, -10, 0);
        assert_eq!(w.current(), -11);
    }

    #[test]
    fn per_publisher_takes_the_minimum_of_active_publishers() {
        let t = EventTime::new(".ts")
            .unwrap()
            .sources(Sources::PerPublisher)
            .idle(Duration::from_millis(100));
        let mut w = Watermarks::new(&t);
        w.on_event(1, 1000, 0);
        assert_eq!(w.current(), 999);
        w.on_event(2, 500, 10);
        assert_eq!(w.current(), 999, "a new, slower publisher cannot move it back");
        w.on_event(1, 2000, 50);
        assert_eq!(w.current(), 999, "publisher 2 holds it at 499 < 999");
        assert_eq!(w.next_idle_ms(), Some(110));
        assert!(!w.tick(109));
        assert!(w.tick(110), "publisher 2 is idle: only publisher 1 counts");
        assert_eq!(w.current(), 1999);
        w.on_event(2, 3000, 120);
        assert_eq!(w.current(), 1999, "publisher 2 is back: min(1999, 2999)");
        assert!(w.remove_publisher(1));
        assert_eq!(w.current(), 2999);
        assert!(!w.tick(10_000) || w.current() == 2999, "all idle: no change");
    }
}
