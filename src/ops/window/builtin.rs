//! The built-in aggregates, compiled for one worker: how a value is read from an event, the
//! accumulators, and how results are written. Semantics are in [`super::agg`].
//!
//! **Fast path.** An expression that is a plain path (`.qty`, `.order.price`, `.[0]`) is read
//! with the allocation-free scanner the reactor uses for keys ([`KeyPath`]), and a number is
//! parsed straight from its text, instead of parsing the whole message into a jq value and
//! running jq. The message is still checked to be valid JSON ([`is_json`]), so both paths
//! accept and refuse the same messages. A record that an earlier jq step already parsed is
//! evaluated with jq on that value. Other expressions always run through jq.

use jaq_json::Val;

use super::agg::{write_f64, AggKind, Aggregates, Fields};
use crate::ops::expr::{self, Compiled as Jq};
use crate::ops::key::{is_json, KeyPath};
use crate::ops::Record;

/// A number as the aggregates keep it: integers stay exact while they fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    fn add(self, other: Num) -> Num {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => {
                a.checked_add(b).map_or(Num::Float(a as f64 + b as f64), Num::Int)
            }
            (a, b) => Num::Float(a.f64() + b.f64()),
        }
    }

    fn less(self, other: Num) -> bool {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a < b,
            (a, b) => a.f64() < b.f64(),
        }
    }

    fn write(self, out: &mut Fields<'_>, name: &str) {
        match self {
            Num::Int(i) => out.int(name, i),
            Num::Float(f) => out.float(name, f),
        }
    }

    /// A JSON number's text (already known to be a number).
    fn parse(text: &[u8]) -> Option<Num> {
        let s = std::str::from_utf8(text).ok()?;
        if !s.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            if let Ok(i) = s.parse::<i64>() {
                return Some(Num::Int(i));
            }
        }
        s.parse::<f64>().ok().map(Num::Float)
    }
}

/// One event's value for one aggregate.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Null,
    Num(Num),
    /// Any other JSON value: its text is `text[start..end]` of the scratch buffer.
    Other(usize, usize),
}

enum Eval {
    /// Plain `count`.
    Nothing,
    /// A plain path: scanner on the payload, or jq on an already parsed value.
    Path(KeyPath, Jq),
    Jq(Jq),
}

struct Item {
    kind: AggKind,
    name: String,
    eval: Eval,
}

/// The per-worker instance of an [`Aggregates`] list.
pub(crate) struct Compiled {
    items: Vec<Item>,
    /// The current event's value per item.
    values: Vec<Value>,
    /// JSON text of `Other` values of the current event.
    text: Vec<u8>,
}

/// One aggregate's state in one window.
#[derive(Debug, Clone)]
pub(crate) enum Cell {
    Count(u64),
    Sum(Option<Num>),
    Min(Option<Num>),
    Max(Option<Num>),
    Avg(Option<Num>, u64),
    /// (event time, arrival) of the event the text came from; the text of its value.
    First((i64, u64), Vec<u8>),
    Last((i64, u64), Vec<u8>),
}

impl Compiled {
    pub(crate) fn new(spec: &Aggregates) -> Compiled {
        let items = spec
            .list
            .iter()
            .map(|(name, kind, expr)| {
                let eval = match expr {
                    None => Eval::Nothing,
                    Some(e) => match KeyPath::parse(e.source()) {
                        Ok(path) => Eval::Path(path, e.compile()),
                        Err(_) => Eval::Jq(e.compile()),
                    },
                };
                Item { kind: *kind, name: name.clone(), eval }
            })
            .collect::<Vec<_>>();
        Compiled { values: vec![Value::Null; items.len()], items, text: Vec::new() }
    }

    /// Evaluate every expression on `r`, once per event.
    pub(crate) fn prepare(&mut self, r: &mut Record) -> Result<(), String> {
        self.text.clear();
        let fast = r.json.is_none();
        if fast
            && self.items.iter().any(|i| matches!(i.eval, Eval::Path(..)))
            && !is_json(r.payload())
        {
            return Err("invalid JSON: the message is not one JSON value".into());
        }
        for i in 0..self.items.len() {
            let v = match &self.items[i].eval {
                Eval::Nothing => Value::Null,
                Eval::Path(path, _) if fast => {
                    let raw = path
                        .extract(r.payload())
                        .map_err(|e| format!("{}: {}", self.describe(i), e))?;
                    self.classify_raw(raw)
                }
                Eval::Path(_, jq) | Eval::Jq(jq) => {
                    let input = r.json().map_err(|e| format!("invalid JSON: {e}"))?;
                    let out =
                        jq.first(input).map_err(|e| format!("{}: {}", self.describe(i), e.0))?;
                    self.classify_val(out)
                }
            };
            if matches!(v, Value::Other(..))
                && matches!(
                    self.items[i].kind,
                    AggKind::Sum | AggKind::Min | AggKind::Max | AggKind::Avg
                )
            {
                let (a, b) = match v {
                    Value::Other(a, b) => (a, b),
                    _ => (0, 0),
                };
                let shown = String::from_utf8_lossy(&self.text[a..b.min(a + 40)]).into_owned();
                return Err(format!("{}: expected a number, found `{shown}`", self.describe(i)));
            }
            self.values[i] = v;
        }
        Ok(())
    }

    fn describe(&self, i: usize) -> String {
        let it = &self.items[i];
        let src = match &it.eval {
            Eval::Nothing => "",
            Eval::Path(p, _) => p.source(),
            Eval::Jq(_) => "…",
        };
        format!("aggregate `{}` ({}({src}))", it.name, it.kind)
    }

    fn classify_raw(&mut self, raw: &[u8]) -> Value {
        match raw.first() {
            Some(b'n') | None => Value::Null,
            Some(b'-' | b'0'..=b'9') => match Num::parse(raw) {
                Some(n) => Value::Num(n),
                None => self.other(raw),
            },
            _ => self.other(raw),
        }
    }

    fn classify_val(&mut self, v: Option<Val>) -> Value {
        match v {
            None | Some(Val::Null) => Value::Null,
            Some(Val::Num(n)) => match n {
                jaq_json::Num::Int(i) => Value::Num(Num::Int(i as i64)),
                jaq_json::Num::Float(f) => Value::Num(Num::Float(f)),
                other => {
                    let text = other.to_string();
                    match text.parse::<f64>() {
                        Ok(f) => Value::Num(Num::Float(f)),
                        Err(_) => self.other(text.as_bytes()),
                    }
                }
            },
            Some(v) => {
                let start = self.text.len();
                expr::write_json(&mut self.text, &v);
                Value::Other(start, self.text.len())
            }
        }
    }

    fn other(&mut self, raw: &[u8]) -> Value {
        let start = self.text.len();
        self.text.extend_from_slice(raw);
        Value::Other(start, self.text.len())
    }

    pub(crate) fn create(&self) -> Vec<Cell> {
        self.items
            .iter()
            .map(|i| match i.kind {
                AggKind::Count => Cell::Count(0),
                AggKind::Sum => Cell::Sum(None),
                AggKind::Min => Cell::Min(None),
                AggKind::Max => Cell::Max(None),
                AggKind::Avg => Cell::Avg(None, 0),
                AggKind::First => Cell::First((i64::MAX, u64::MAX), Vec::new()),
                AggKind::Last => Cell::Last((i64::MIN, 0), Vec::new()),
            })
            .collect()
    }

    /// Add the prepared event (arrival `order` = (event time, sequence)).
    pub(crate) fn add(&self, acc: &mut [Cell], order: (i64, u64)) {
        for ((cell, v), item) in acc.iter_mut().zip(&self.values).zip(&self.items) {
            let num = match v {
                Value::Num(n) => Some(*n),
                _ => None,
            };
            match cell {
                Cell::Count(n) => {
                    if matches!(item.eval, Eval::Nothing) || *v != Value::Null {
                        *n += 1;
                    }
                }
                Cell::Sum(s) => {
                    if let Some(x) = num {
                        *s = Some(s.map_or(x, |s| s.add(x)));
                    }
                }
                Cell::Min(m) => {
                    if let Some(x) = num {
                        if m.is_none_or(|m| x.less(m)) {
                            *m = Some(x);
                        }
                    }
                }
                Cell::Max(m) => {
                    if let Some(x) = num {
                        if m.is_none_or(|m| m.less(x)) {
                            *m = Some(x);
                        }
                    }
                }
                Cell::Avg(s, n) => {
                    if let Some(x) = num {
                        *s = Some(s.map_or(x, |s| s.add(x)));
                        *n += 1;
                    }
                }
                Cell::First(at, text) => {
                    if order < *at {
                        *at = order;
                        self.set_text(text, v);
                    }
                }
                Cell::Last(at, text) => {
                    if order >= *at {
                        *at = order;
                        self.set_text(text, v);
                    }
                }
            }
        }
    }

    fn set_text(&self, text: &mut Vec<u8>, v: &Value) {
        text.clear();
        match *v {
            Value::Null => text.extend_from_slice(b"null"),
            Value::Num(Num::Int(i)) => text.extend_from_slice(i.to_string().as_bytes()),
            Value::Num(Num::Float(f)) => write_f64(text, f),
            Value::Other(a, b) => text.extend_from_slice(&self.text[a..b]),
        }
    }

    pub(crate) fn merge(acc: &mut [Cell], other: Vec<Cell>) {
        for (a, b) in acc.iter_mut().zip(other) {
            match (a, b) {
                (Cell::Count(x), Cell::Count(y)) => *x += y,
                (Cell::Sum(x), Cell::Sum(y)) => *x = sum_opt(*x, y),
                (Cell::Min(x), Cell::Min(Some(y))) if x.is_none_or(|x| y.less(x)) => *x = Some(y),
                (Cell::Max(x), Cell::Max(Some(y))) if x.is_none_or(|x| x.less(y)) => *x = Some(y),
                (Cell::Avg(x, n), Cell::Avg(y, m)) => {
                    *x = sum_opt(*x, y);
                    *n += m;
                }
                (Cell::First(at, text), Cell::First(bt, btext)) if bt < *at => {
                    *at = bt;
                    *text = btext;
                }
                (Cell::Last(at, text), Cell::Last(bt, btext)) if bt > *at => {
                    *at = bt;
                    *text = btext;
                }
                _ => {}
            }
        }
    }

    pub(crate) fn write(&self, acc: &[Cell], out: &mut Fields<'_>) {
        for (cell, item) in acc.iter().zip(&self.items) {
            let name = item.name.as_str();
            match cell {
                Cell::Count(n) => out.int(name, *n as i64),
                Cell::Sum(s) | Cell::Min(s) | Cell::Max(s) => match s {
                    Some(x) => x.write(out, name),
                    None => out.null(name),
                },
                Cell::Avg(s, n) => match s {
                    Some(x) if *n > 0 => out.float(name, x.f64() / *n as f64),
                    _ => out.null(name),
                },
                Cell::First(_, text) | Cell::Last(_, text) => out.raw(name, text),
            }
        }
    }
}

fn sum_opt(a: Option<Num>, b: Option<Num>) -> Option<Num> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.add(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(aggs: Aggregates, events: &[&str]) -> String {
        let mut c = aggs.compile();
        let mut acc = c.create();
        for (i, e) in events.iter().enumerate() {
            let mut r = Record::text(*e);
            c.prepare(&mut r).unwrap();
            c.add(&mut acc, (0, i as u64));
        }
        let mut buf = b"{".to_vec();
        c.write(&acc, &mut Fields::new(&mut buf));
        buf.push(b'}');
        String::from_utf8(buf).unwrap().replacen("{,", "{", 1)
    }

    #[test]
    fn builtins_compute_flinkish_results() {
        let a = Aggregates::new()
            .count("n")
            .count_of("with_q", ".q")
            .sum("vol", ".q")
            .min("lo", ".p")
            .max("hi", ".p")
            .avg("mean", ".p")
            .first("open", ".p")
            .last("close", ".p")
            .sum("notional", ".p * (.q // 0)");
        let out = run(a, &[r#"{"p":1.5,"q":2}"#, r#"{"p":3,"q":null}"#, r#"{"p":0.5,"q":4}"#]);
        assert_eq!(
            out,
            r#"{"n":3,"with_q":2,"vol":6,"lo":0.5,"hi":3,"mean":1.6666666666666667,"open":1.5,"close":0.5,"notional":5}"#
        );
    }

    #[test]
    fn nothing_to_sum_is_null_and_overflow_goes_float() {
        let out = run(Aggregates::new().sum("s", ".x").avg("a", ".x").min("m", ".x"), &["{}"]);
        assert_eq!(out, r#"{"s":null,"a":null,"m":null}"#);
        let big = format!(r#"{{"x":{}}}"#, i64::MAX);
        let out = run(Aggregates::new().sum("s", ".x"), &[&big, &big]);
        assert_eq!(out, r#"{"s":18446744073709552000}"#);
    }

    #[test]
    fn first_and_last_follow_event_time_then_arrival() {
        let mut c = Aggregates::new().first("f", ".v").last("l", ".v").compile();
        let mut acc = c.create();
        for (ts, seq, v) in [(5, 0, "\"b\""), (3, 1, "{\"x\": 1}"), (5, 2, "[2]"), (3, 3, "4")] {
            let mut r = Record::text(format!("{{\"v\":{v}}}"));
            c.prepare(&mut r).unwrap();
            c.add(&mut acc, (ts, seq));
        }
        let mut other = c.create();
        let mut r = Record::text(r#"{"v":null}"#);
        c.prepare(&mut r).unwrap();
        c.add(&mut other, (9, 9));
        Compiled::merge(&mut acc, other);
        let mut buf = Vec::new();
        c.write(&acc, &mut Fields::new(&mut buf));
        assert_eq!(String::from_utf8(buf).unwrap(), r#","f":{"x": 1},"l":null"#);
    }

    #[test]
    fn bad_values_fail_the_event() {
        let mut c = Aggregates::new().sum("s", ".x").first("f", ".y").compile();
        let e = c.prepare(&mut Record::text(r#"{"x":"7"}"#)).unwrap_err();
        assert!(e.contains("expected a number, found `\"7\"`"), "{e}");
        let e = c.prepare(&mut Record::text(r#"{"x":1,"y":[}"#)).unwrap_err();
        assert!(e.contains("invalid JSON"), "{e}");
        let e = c.prepare(&mut Record::text(r#"{"x":{"a":1}}"#)).unwrap_err();
        assert!(e.contains("aggregate `s`"), "{e}");
        let e = c.prepare(&mut Record::text(r#"5"#)).unwrap_err();
        assert!(e.contains("non-container"), "{e}");
        let mut j = Aggregates::new().sum("s", ".x + 1").compile();
        assert!(j.prepare(&mut Record::text(r#"{"x":"a"}"#)).is_err());
        assert!(j.prepare(&mut Record::text("nope")).unwrap_err().contains("invalid JSON"));
    }

    #[test]
    fn fast_and_jq_paths_agree() {
        for doc in [r#"{"x":2.50,"y":-3}"#, r#"{"x":1e2,"y":7}"#, r#"{"y":12345678901234567890}"#] {
            let aggs = Aggregates::new().sum("s", ".x").max("m", ".y").avg("a", ".y");
            let fast = run(aggs.clone(), &[doc, doc]);
            let mut c = aggs.compile();
            let mut acc = c.create();
            for i in 0..2 {
                let mut r = Record::text(doc);
                r.json().unwrap();
                c.prepare(&mut r).unwrap();
                c.add(&mut acc, (0, i));
            }
            let mut buf = b"{".to_vec();
            c.write(&acc, &mut Fields::new(&mut buf));
            buf.push(b'}');
            let slow = String::from_utf8(buf).unwrap().replacen("{,", "{", 1);
            let (f, s): (serde_json::Value, serde_json::Value) =
                (serde_json::from_str(&fast).unwrap(), serde_json::from_str(&slow).unwrap());
            assert_eq!(f, s, "{doc}");
        }
    }
}
