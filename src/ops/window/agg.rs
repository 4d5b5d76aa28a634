//! Window aggregates: the built-in ones ([`Aggregates`]: `count`, `sum`, `min`, `max`, `avg`,
//! `first`, `last` of jq expressions) and the Rust API for custom ones ([`Aggregate`], Flink's
//! `AggregateFunction`, and [`reduce`](crate::Pipeline::reduce), Flink's `ReduceFunction`).
//!
//! Every aggregate is incremental: a window keeps one accumulator per key, updated as events
//! arrive, never the events themselves. Session windows merge accumulators
//! ([`Aggregate::merge`]) when their windows merge.
//!
//! Built-in semantics, for an expression `e` evaluated on each event (its first output; no
//! output counts as `null`):
//!
//! | aggregate | result |
//! |---|---|
//! | `count` | the number of events in the window |
//! | `count(e)` | the number of events where `e` is not `null` |
//! | `sum(e)`, `avg(e)` | sum and mean of the numbers; `null`s are skipped; `null` if there are none. Integers are summed exactly (as 64-bit integers, falling back to floating point on overflow); any non-integer makes the sum a float |
//! | `min(e)`, `max(e)` | the smallest and largest number; `null`s are skipped; `null` if there are none |
//! | `first(e)`, `last(e)` | `e` of the event with the earliest (latest) event time, the earlier (later) arrival among equal times; any JSON value, `null` included. With processing time and count windows: arrival order |
//!
//! A value that `sum`, `avg`, `min` or `max` cannot use (a string, an object, …), or an
//! expression that fails, drops the whole event from the window (counted in `expr_errors`,
//! described on the error topic), so all the aggregates of a window always cover the same
//! events.

use std::fmt;
use std::sync::Arc;

use super::builtin::Compiled;
use super::custom::CustomFactory;
use crate::ops::expr::Expr;
use crate::ops::Record;

/// A custom window aggregate, incremental like Flink's `AggregateFunction`: one accumulator
/// per window and key, `add`ed to for each event, `merge`d when session windows merge, and
/// turned into the result's fields when the window fires.
///
/// One instance runs on each worker (cloned), so `&mut self` needs no lock.
///
/// ```
/// use sluice::ops::window::{Aggregate, Fields};
/// use sluice::Record;
///
/// /// The distinct symbols seen in each window.
/// #[derive(Clone)]
/// struct Distinct;
///
/// impl Aggregate for Distinct {
///     type Acc = std::collections::BTreeSet<String>;
///     fn create(&mut self) -> Self::Acc {
///         Default::default()
///     }
///     fn add(&mut self, acc: &mut Self::Acc, record: &Record) -> Result<(), String> {
///         let text = record.as_str().ok_or("not text")?;
///         let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
///         acc.insert(v["symbol"].as_str().unwrap_or("?").to_string());
///         Ok(())
///     }
///     fn merge(&mut self, acc: &mut Self::Acc, other: Self::Acc) {
///         acc.extend(other);
///     }
///     fn result(&mut self, acc: &Self::Acc, out: &mut Fields<'_>) {
///         out.value("symbols", acc);
///         out.int("distinct", acc.len() as i64);
///     }
/// }
/// ```
pub trait Aggregate: Clone + Send + Sync + 'static {
    /// The per-window, per-key state.
    type Acc;

    /// A new, empty accumulator (a window's first event is then `add`ed to it).
    fn create(&mut self) -> Self::Acc;

    /// Add one event. An `Err` reports the event as failed (counted, described on the error
    /// topic); it is added to no window. Called once per window the event belongs to (several
    /// for sliding windows), so it must not fail for one window and succeed for another.
    fn add(&mut self, acc: &mut Self::Acc, record: &Record) -> Result<(), String>;

    /// Fold `other` into `acc` (session windows that merge).
    fn merge(&mut self, acc: &mut Self::Acc, other: Self::Acc);

    /// Write the result's fields (after `key`, `window_start` and `window_end`).
    fn result(&mut self, acc: &Self::Acc, out: &mut Fields<'_>);
}

/// Writes the named fields of a window result (a JSON object under construction).
pub struct Fields<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> Fields<'a> {
        Fields { buf }
    }

    fn name(&mut self, name: &str) {
        self.buf.push(b',');
        write_json_string(self.buf, name);
        self.buf.push(b':');
    }

    /// A field whose value is already JSON text (written as is; it must be valid JSON).
    pub fn raw(&mut self, name: &str, json: &[u8]) {
        self.name(name);
        self.buf.extend_from_slice(json);
    }

    /// An integer field.
    pub fn int(&mut self, name: &str, v: i64) {
        self.name(name);
        self.buf.extend_from_slice(itoa(v).as_bytes());
    }

    /// A number field (`null` if it is not finite).
    pub fn float(&mut self, name: &str, v: f64) {
        self.name(name);
        write_f64(self.buf, v);
    }

    /// A string field.
    pub fn str(&mut self, name: &str, v: &str) {
        self.name(name);
        write_json_string(self.buf, v);
    }

    /// A `null` field.
    pub fn null(&mut self, name: &str) {
        self.raw(name, b"null");
    }

    /// Any value serde can serialize (a value that fails to serialize is written as `null`).
    pub fn value<T: serde::Serialize + ?Sized>(&mut self, name: &str, v: &T) {
        self.name(name);
        let start = self.buf.len();
        if serde_json::to_writer(&mut *self.buf, v).is_err() {
            self.buf.truncate(start);
            self.buf.extend_from_slice(b"null");
        }
    }
}

fn itoa(v: i64) -> String {
    v.to_string()
}

/// JSON text of a float: the shortest text that reads back to the same value; `null` if not
/// finite.
pub(crate) fn write_f64(buf: &mut Vec<u8>, v: f64) {
    use std::io::Write;
    if v.is_finite() {
        let _ = write!(buf, "{v}");
    } else {
        buf.extend_from_slice(b"null");
    }
}

/// A JSON string literal.
pub(crate) fn write_json_string(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    for c in s.chars() {
        match c {
            '"' => buf.extend_from_slice(b"\\\""),
            '\\' => buf.extend_from_slice(b"\\\\"),
            '\n' => buf.extend_from_slice(b"\\n"),
            '\r' => buf.extend_from_slice(b"\\r"),
            '\t' => buf.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                buf.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut tmp = [0u8; 4];
                buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
    buf.push(b'"');
}

/// Which built-in aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    /// Events in the window (`count`), or events where the expression is not `null`
    /// (`count(e)`).
    Count,
    /// Sum of the numbers.
    Sum,
    /// Smallest number.
    Min,
    /// Largest number.
    Max,
    /// Mean of the numbers.
    Avg,
    /// The value on the earliest event.
    First,
    /// The value on the latest event.
    Last,
}

impl AggKind {
    fn parse(s: &str) -> Option<AggKind> {
        Some(match s {
            "count" => AggKind::Count,
            "sum" => AggKind::Sum,
            "min" => AggKind::Min,
            "max" => AggKind::Max,
            "avg" => AggKind::Avg,
            "first" => AggKind::First,
            "last" => AggKind::Last,
            _ => return None,
        })
    }
}

impl fmt::Display for AggKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AggKind::Count => "count",
            AggKind::Sum => "sum",
            AggKind::Min => "min",
            AggKind::Max => "max",
            AggKind::Avg => "avg",
            AggKind::First => "first",
            AggKind::Last => "last",
        })
    }
}

/// Field names a result already has.
pub(crate) const RESERVED: [&str; 4] = ["key", "window_start", "window_end", "update"];

/// The built-in aggregates of a window, in output order: each a name, a kind and (except plain
/// `count`) a jq expression.
///
/// ```
/// use sluice::ops::window::Aggregates;
///
/// let a = Aggregates::new()
///     .count("trades")
///     .sum("volume", ".qty")
///     .max("high", ".price")
///     .parse("low", "min(.price)");
/// assert!(a.check().is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregates {
    pub(crate) list: Vec<(String, AggKind, Option<Expr>)>,
    error: Option<String>,
}

impl Aggregates {
    /// No aggregates yet.
    pub fn new() -> Aggregates {
        Aggregates::default()
    }

    /// `name`: the number of events.
    pub fn count(self, name: &str) -> Aggregates {
        self.push(name, AggKind::Count, None)
    }

    /// `name`: the number of events where `expr` is not `null`.
    pub fn count_of(self, name: &str, expr: &str) -> Aggregates {
        self.with(name, AggKind::Count, expr)
    }

    /// `name`: the sum of `expr`.
    pub fn sum(self, name: &str, expr: &str) -> Aggregates {
        self.with(name, AggKind::Sum, expr)
    }

    /// `name`: the minimum of `expr`.
    pub fn min(self, name: &str, expr: &str) -> Aggregates {
        self.with(name, AggKind::Min, expr)
    }

    /// `name`: the maximum of `expr`.
    pub fn max(self, name: &str, expr: &str) -> Aggregates {
        self.with(name, AggKind::Max, expr)
    }

    /// `name`: the mean of `expr`.
    pub fn avg(self, name: &str, expr: &str) -> Aggregates {
        self.with(name, AggKind::Avg, expr)
    }

    /// `name`: `expr` on the earliest event.
    pub fn first(self, name: &str, expr: &str) -> Aggregates {
        self.with(name, AggKind::First, expr)
    }

    /// `name`: `expr` on the latest event.
    pub fn last(self, name: &str, expr: &str) -> Aggregates {
        self.with(name, AggKind::Last, expr)
    }

    /// `name`: an aggregate written as in the configuration file: `count`, `count(e)`,
    /// `sum(e)`, `min(e)`, `max(e)`, `avg(e)`, `first(e)`, `last(e)`.
    pub fn parse(self, name: &str, spec: &str) -> Aggregates {
        match parse_spec(spec) {
            Ok((kind, None)) => self.push(name, kind, None),
            Ok((kind, Some(e))) => self.with(name, kind, &e),
            Err(e) => self.fail(format!("aggregate `{name}`: {e}")),
        }
    }

    fn with(self, name: &str, kind: AggKind, expr: &str) -> Aggregates {
        match Expr::new(expr) {
            Ok(e) => self.push(name, kind, Some(e)),
            Err(e) => self.fail(format!("aggregate `{name}`: {e}")),
        }
    }

    fn push(mut self, name: &str, kind: AggKind, expr: Option<Expr>) -> Aggregates {
        if kind != AggKind::Count && expr.is_none() {
            return self.fail(format!("aggregate `{name}`: {kind} needs an expression"));
        }
        self.list.push((name.to_string(), kind, expr));
        self
    }

    fn fail(mut self, e: String) -> Aggregates {
        self.error.get_or_insert(e);
        self
    }

    /// The first mistake: a bad expression, a duplicate or reserved name, or no aggregate.
    pub fn check(&self) -> Result<(), String> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.list.is_empty() {
            return Err("a window needs at least one aggregate".into());
        }
        for (i, (name, _, _)) in self.list.iter().enumerate() {
            if name.is_empty() {
                return Err("an aggregate needs a name".into());
            }
            if RESERVED.contains(&name.as_str()) {
                return Err(format!(
                    "aggregate name `{name}` is taken by the result's own field \
                     (key, window_start, window_end, update)"
                ));
            }
            if self.list[..i].iter().any(|(n, _, _)| n == name) {
                return Err(format!("aggregate name `{name}` is used twice"));
            }
        }
        Ok(())
    }

    /// Compile for one worker.
    pub(crate) fn compile(&self) -> Compiled {
        Compiled::new(self)
    }
}

/// `sum(.qty)` → (Sum, Some(".qty")); `count` → (Count, None).
fn parse_spec(spec: &str) -> Result<(AggKind, Option<String>), String> {
    let s = spec.trim();
    let (func, inner) = match s.find('(') {
        None => (s, None),
        Some(open) => {
            let Some(inner) = s[open + 1..].strip_suffix(')') else {
                return Err(format!("`{s}`: expected `function(expression)`"));
            };
            (s[..open].trim(), Some(inner.trim().to_string()))
        }
    };
    let kind = AggKind::parse(func).ok_or_else(|| {
        format!("unknown aggregate `{func}` in `{s}`: expected count, sum, min, max, avg, first or last")
    })?;
    match (kind, inner) {
        (_, Some(e)) if e.is_empty() => Err(format!("`{s}`: the expression is empty")),
        (AggKind::Count, inner) => Ok((kind, inner)),
        (_, None) => Err(format!("`{s}`: {kind} needs an expression, like `{kind}(.price)`")),
        (_, Some(e)) => Ok((kind, Some(e))),
    }
}

/// How a window's results are computed, as declared (each worker makes its own instance).
#[derive(Clone)]
pub(crate) enum AggSpec {
    Builtin(Aggregates),
    Custom(Arc<dyn CustomFactory>),
}

impl fmt::Debug for AggSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AggSpec::Builtin(a) => f.debug_list().entries(a.list.iter().map(|x| &x.0)).finish(),
            AggSpec::Custom(_) => f.write_str("custom"),
        }
    }
}

/// What the window operator needs from an aggregate (built-in or custom).
pub(crate) trait Agg {
    type Acc;
    /// Look at an event once, before it is added to its windows. `Err`: the event is dropped.
    fn prepare(&mut self, r: &mut Record) -> Result<(), String>;
    fn create(&mut self) -> Self::Acc;
    /// Add the prepared event; `order` is (event time, arrival sequence).
    fn add(&mut self, acc: &mut Self::Acc, r: &Record, order: (i64, u64)) -> Result<(), String>;
    fn merge(&mut self, acc: &mut Self::Acc, other: Self::Acc);
    fn write(&mut self, acc: &Self::Acc, out: &mut Fields<'_>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(parse_spec("count"), Ok((AggKind::Count, None)));
        assert_eq!(parse_spec(" sum( .qty ) "), Ok((AggKind::Sum, Some(".qty".into()))));
        assert_eq!(parse_spec("count(.x)"), Ok((AggKind::Count, Some(".x".into()))));
        assert_eq!(
            parse_spec("max(.a * (.b + 1))"),
            Ok((AggKind::Max, Some(".a * (.b + 1)".into())))
        );
        assert!(parse_spec("median(.x)").unwrap_err().contains("unknown aggregate `median`"));
        assert!(parse_spec("sum").unwrap_err().contains("needs an expression"));
        assert!(parse_spec("sum(").unwrap_err().contains("expected"));
        assert!(parse_spec("sum()").unwrap_err().contains("empty"));
    }

    #[test]
    fn checks_names_and_expressions() {
        assert!(Aggregates::new().check().unwrap_err().contains("at least one"));
        let e = Aggregates::new().count("n").sum("n", ".x").check().unwrap_err();
        assert!(e.contains("used twice"), "{e}");
        let e = Aggregates::new().count("key").check().unwrap_err();
        assert!(e.contains("taken"), "{e}");
        let e = Aggregates::new().sum("v", ".x |").check().unwrap_err();
        assert!(e.contains("aggregate `v`: invalid jq expression"), "{e}");
        let e = Aggregates::new().parse("v", "mode(.x)").check().unwrap_err();
        assert!(e.contains("aggregate `v`: unknown aggregate"), "{e}");
    }

    #[test]
    fn fields_write_json() {
        let mut buf = b"{\"a\":1".to_vec();
        let mut f = Fields::new(&mut buf);
        f.int("i", -3);
        f.float("f", 0.1);
        f.float("nan", f64::NAN);
        f.str("s\"", "x\ny\u{1}");
        f.value("v", &vec![1, 2]);
        f.null("z");
        buf.push(b'}');
        let s = String::from_utf8(buf).unwrap();
        assert_eq!(s, r#"{"a":1,"i":-3,"f":0.1,"nan":null,"s\"":"x\ny\u0001","v":[1,2],"z":null}"#);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["s\""], "x\ny\u{1}");
    }
}
