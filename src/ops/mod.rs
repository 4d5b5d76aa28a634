//! Pipelines and their operators, in the spirit of Flink's DataStream API.
//!
//! A [`Pipeline`] reads one or more topics, runs a chain of steps on every message and publishes
//! what comes out to another topic:
//!
//! ```
//! use sluice::{Pipeline, Record, TextOp};
//!
//! let p = Pipeline::from_topic("trades")
//!     .key_by(".symbol")                      // route by key: per-key order, keyed state
//!     .filter_jq(".qty > 0")                  // jq expressions, compiled once per worker
//!     .map_jq("{sym: .symbol, px: .price}")
//!     .map(|mut r: Record| {                  // plain Rust closures, no per-message boxing
//!         let upper = r.as_str().unwrap_or("").to_uppercase();
//!         r.set_text(&upper);
//!         r
//!     })
//!     .text(TextOp::Trim)
//!     .to_topic("trades.clean");
//! assert!(p.validate().is_ok());
//! ```
//!
//! Contract:
//!
//! - The builder never fails in the middle of a chain: the first mistake (a jq expression that
//!   does not compile, a bad topic, `key_by` after a step) is kept and reported by
//!   [`Pipeline::validate`] and [`crate::Reactor::add_pipeline`].
//! - Each worker thread builds its own instance of every step (jq compiled, operators cloned)
//!   when it starts; state inside an operator is per worker and, with `key_by`, per key range.
//! - A message that is not JSON where a jq step needs JSON, or on which an expression fails, is
//!   counted and dropped (or sent to the error topic); the pipeline and the relay go on.
//! - Steps run batch by batch: a batch of records passes through step 1, then step 2, …; order
//!   within a batch is kept, so per-publisher and per-key order hold end to end.

mod chain;
mod counters;
pub mod expr;
mod groups;
pub mod key;
mod record;
pub mod replay;
mod route;
pub mod shard;
pub mod time;
pub mod window;

use std::fmt;
use std::sync::Arc;

pub use expr::{Expr, ExprError};
pub use groups::KeyGroups;
pub use key::KeyPath;
pub use record::Record;
pub use time::{EventTime, Sources, TimeMode};
pub use window::{Aggregate, Aggregates, Fields, Window};

pub use counters::{CounterInfo, PipelineCounters, PIPELINE_COUNTERS};

pub(crate) use chain::{error_record, Chain};
pub(crate) use counters::SharedCounters;
pub(crate) use route::Routing;

use crate::topic::validate_topic;
use window::{WindowSpec, DEFAULT_MAX_WINDOWS};

/// A user operator: the Rust counterpart of Flink's `ProcessFunction`.
///
/// One instance runs on each worker (cloned from the one given to [`Pipeline::operator`]), so
/// `&mut self` state needs no lock. With [`Pipeline::key_by`] every key is always seen by the
/// same instance.
pub trait Operator: 'static {
    /// Handle one record; emit zero or more records through `out`.
    fn process(&mut self, record: Record, out: &mut Emitter<'_>);

    /// Called by the worker's duty cycle with the current time (milliseconds of the pipeline's
    /// clock) at least every few milliseconds, for operators that act on time (timeouts,
    /// processing-time windows). The default does nothing.
    fn on_time(&mut self, _now_ms: u64, _out: &mut Emitter<'_>) {}

    /// Called once when the input ends (`sluice replay`), to flush what is held. The default
    /// does nothing.
    fn on_end(&mut self, _out: &mut Emitter<'_>) {}

    /// Called with each new watermark of an event-time pipeline ([`Pipeline::event_time`]):
    /// no event with a timestamp at or below it is expected any more (Flink's
    /// `processWatermark`). Records also carry their time ([`Record::timestamp`]). The default
    /// does nothing.
    fn on_watermark(&mut self, _watermark: i64, _out: &mut Emitter<'_>) {}
}

/// Where an operator puts its results.
pub struct Emitter<'a> {
    out: &'a mut Vec<Record>,
    failed: &'a mut u64,
    errors: Option<&'a mut Vec<(String, Vec<u8>)>>,
}

impl<'a> Emitter<'a> {
    pub(crate) fn new(
        out: &'a mut Vec<Record>,
        failed: &'a mut u64,
        errors: Option<&'a mut Vec<(String, Vec<u8>)>>,
    ) -> Self {
        Emitter { out, failed, errors }
    }

    /// Pass a record to the next step.
    pub fn emit(&mut self, record: Record) {
        self.out.push(record);
    }

    /// Report that `input` could not be processed (counted as an operator error and, if the
    /// pipeline has an error topic, described there). The record is dropped.
    pub fn fail(&mut self, input: &Record, why: &str) {
        *self.failed += 1;
        if let Some(errors) = self.errors.as_deref_mut() {
            errors.push((why.to_string(), input.payload().to_vec()));
        }
    }
}

/// Built-in text operations on the payload (Unicode-aware on text messages, ASCII on binary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    /// Upper-case.
    Upper,
    /// Lower-case.
    Lower,
    /// Remove leading and trailing whitespace.
    Trim,
}

impl TextOp {
    /// Parse `upper`, `lower` or `trim`.
    pub fn parse(s: &str) -> Result<TextOp, String> {
        match s {
            "upper" => Ok(TextOp::Upper),
            "lower" => Ok(TextOp::Lower),
            "trim" => Ok(TextOp::Trim),
            other => {
                Err(format!("unknown text operation `{other}`: expected upper, lower or trim"))
            }
        }
    }

    /// Apply to a record's payload in place (no allocation for ASCII).
    pub(crate) fn apply(self, r: &mut Record) {
        let p = &mut r.payload;
        let ascii = !r.text || p.is_ascii();
        match self {
            TextOp::Upper if ascii => p.make_ascii_uppercase(),
            TextOp::Lower if ascii => p.make_ascii_lowercase(),
            TextOp::Upper | TextOp::Lower => {
                let s = String::from_utf8_lossy(p);
                let mapped =
                    if self == TextOp::Upper { s.to_uppercase() } else { s.to_lowercase() };
                p.clear();
                p.extend_from_slice(mapped.as_bytes());
            }
            TextOp::Trim => {
                let (start, end) = if r.text {
                    match std::str::from_utf8(p) {
                        Ok(s) => {
                            let t = s.trim();
                            let start = t.as_ptr() as usize - s.as_ptr() as usize;
                            (start, start + t.len())
                        }
                        Err(_) => (0, p.len()),
                    }
                } else {
                    let start = p.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(p.len());
                    let end =
                        p.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
                    (start, end)
                };
                p.truncate(end);
                p.drain(..start);
            }
        }
        r.json = None;
    }
}

/// How messages are spread over the workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Partition {
    /// All messages of one publisher connection go to one worker (per-publisher order). The
    /// default for unkeyed pipelines.
    Publisher,
    /// Messages are spread over all workers; no order is kept. For stateless pipelines whose
    /// consumers do not need order.
    RoundRobin,
    /// All messages with the same key go to one worker, in order (Flink's `keyBy`).
    Key(KeyPath),
    /// All messages go to one worker: a window without a key (Flink's `windowAll`).
    Single,
}

/// A step as declared, before each worker instantiates it.
#[derive(Clone)]
pub(crate) enum StepSpec {
    Filter(Expr),
    Map(Expr),
    FlatMap(Expr),
    Text(TextOp),
    Custom(Arc<dyn Factory>),
    Window(WindowSpec),
}

impl fmt::Debug for StepSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepSpec::Filter(e) => write!(f, "filter {}", e.source()),
            StepSpec::Map(e) => write!(f, "map {}", e.source()),
            StepSpec::FlatMap(e) => write!(f, "flat_map {}", e.source()),
            StepSpec::Text(op) => write!(f, "text {op:?}"),
            StepSpec::Custom(_) => f.write_str("custom"),
            StepSpec::Window(w) => write!(f, "window {} {:?}", w.window, w.agg),
        }
    }
}

/// Makes one operator instance per worker.
pub(crate) trait Factory: Send + Sync {
    fn make(&self) -> Box<dyn DynOperator>;
}

/// An operator behind one virtual call per batch (not per record).
pub(crate) trait DynOperator {
    fn batch(&mut self, input: &mut Vec<Record>, out: &mut Emitter<'_>);
    fn on_time(&mut self, now_ms: u64, out: &mut Emitter<'_>);
    fn on_end(&mut self, out: &mut Emitter<'_>);
    fn on_watermark(&mut self, wm: i64, out: &mut Emitter<'_>);
}

struct Proto<O>(O);

impl<O: Operator + Clone + Send + Sync> Factory for Proto<O> {
    fn make(&self) -> Box<dyn DynOperator> {
        Box::new(Instance(self.0.clone()))
    }
}

struct Instance<O>(O);

impl<O: Operator> DynOperator for Instance<O> {
    fn batch(&mut self, input: &mut Vec<Record>, out: &mut Emitter<'_>) {
        for r in input.drain(..) {
            self.0.process(r, out);
        }
    }
    fn on_time(&mut self, now_ms: u64, out: &mut Emitter<'_>) {
        self.0.on_time(now_ms, out);
    }
    fn on_end(&mut self, out: &mut Emitter<'_>) {
        self.0.on_end(out);
    }
    fn on_watermark(&mut self, wm: i64, out: &mut Emitter<'_>) {
        self.0.on_watermark(wm, out);
    }
}

#[derive(Clone)]
struct MapFn<F>(F);
impl<F: FnMut(Record) -> Record + 'static> Operator for MapFn<F> {
    fn process(&mut self, record: Record, out: &mut Emitter<'_>) {
        out.emit((self.0)(record));
    }
}

#[derive(Clone)]
struct FilterFn<F>(F);
impl<F: FnMut(&Record) -> bool + 'static> Operator for FilterFn<F> {
    fn process(&mut self, record: Record, out: &mut Emitter<'_>) {
        if (self.0)(&record) {
            out.emit(record);
        }
    }
}

#[derive(Clone)]
struct FlatMapFn<F>(F);
impl<F: FnMut(Record, &mut Emitter<'_>) + 'static> Operator for FlatMapFn<F> {
    fn process(&mut self, record: Record, out: &mut Emitter<'_>) {
        (self.0)(record, out);
    }
}

/// Why a pipeline definition is unusable. Fix the named pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineError {
    /// The pipeline's name (or its input topic if it has no name yet).
    pub pipeline: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pipeline `{}`: {}", self.pipeline, self.message)
    }
}

impl std::error::Error for PipelineError {}

/// A transform pipeline: input topics → steps → output topic. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub(crate) name: Option<String>,
    pub(crate) from: Vec<String>,
    pub(crate) to: Option<String>,
    pub(crate) partition: Partition,
    pub(crate) errors: Option<String>,
    pub(crate) steps: Vec<StepSpec>,
    pub(crate) time: Option<TimeMode>,
    pub(crate) late: Option<String>,
    pub(crate) max_windows: usize,
    /// A `window(…)` waiting for its aggregate.
    pub(crate) pending_window: Option<Window>,
    first_error: Option<String>,
}

impl Pipeline {
    /// A pipeline reading `topic`.
    pub fn from_topic(topic: &str) -> Pipeline {
        Pipeline::from_topics(&[topic])
    }

    /// A pipeline reading several topics (merged, per-publisher order kept).
    pub fn from_topics(topics: &[&str]) -> Pipeline {
        Pipeline {
            name: None,
            from: topics.iter().map(|t| t.to_string()).collect(),
            to: None,
            partition: Partition::Publisher,
            errors: None,
            steps: Vec::new(),
            time: None,
            late: None,
            max_windows: DEFAULT_MAX_WINDOWS,
            pending_window: None,
            first_error: None,
        }
    }

    /// Name the pipeline (used in statistics, logs, error records and `sluice replay`).
    /// Default: `<from>-><to>`.
    pub fn name(mut self, name: &str) -> Pipeline {
        self.name = Some(name.to_string());
        self
    }

    /// The pipeline's name.
    pub fn get_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => format!("{}->{}", self.from.join(","), self.to.as_deref().unwrap_or("?")),
        }
    }

    /// Publish results to `topic`.
    pub fn to_topic(mut self, topic: &str) -> Pipeline {
        self.to = Some(topic.to_string());
        self
    }

    /// Publish a JSON description of every message that fails (invalid JSON, expression
    /// error, operator failure) to `topic`, besides counting it.
    pub fn errors_to(mut self, topic: &str) -> Pipeline {
        self.errors = Some(topic.to_string());
        self
    }

    /// Partition by a key read from each message as published: a jq path such as `.symbol`.
    /// Every message with the same key is handled by the same worker, in order. Must come
    /// before the first step (the reactor routes on the message it received).
    pub fn key_by(mut self, path: &str) -> Pipeline {
        if !self.steps.is_empty() {
            self.fail(format!(
                "key_by(\"{path}\") must come before the first step: the key is read from the \
                 message as published"
            ));
        }
        match KeyPath::parse(path) {
            Ok(p) => self.partition = Partition::Key(p),
            Err(e) => self.fail(e),
        }
        self
    }

    /// Spread messages over all workers without keeping any order (stateless pipelines only).
    pub fn round_robin(mut self) -> Pipeline {
        self.partition = Partition::RoundRobin;
        self
    }

    /// Keep messages for which the jq expression's first output is truthy.
    pub fn filter_jq(self, expr: &str) -> Pipeline {
        self.jq(expr, StepSpec::Filter)
    }

    /// Replace each message by the first output of the jq expression (none: dropped).
    pub fn map_jq(self, expr: &str) -> Pipeline {
        self.jq(expr, StepSpec::Map)
    }

    /// Replace each message by every output of the jq expression (e.g. `.items[]`).
    pub fn flat_map_jq(self, expr: &str) -> Pipeline {
        self.jq(expr, StepSpec::FlatMap)
    }

    /// A built-in text operation.
    pub fn text(mut self, op: TextOp) -> Pipeline {
        self.steps.push(StepSpec::Text(op));
        self
    }

    /// Transform each record with a Rust closure.
    pub fn map<F>(self, f: F) -> Pipeline
    where
        F: FnMut(Record) -> Record + Clone + Send + Sync + 'static,
    {
        self.operator(MapFn(f))
    }

    /// Keep the records for which a Rust closure returns true.
    pub fn filter<F>(self, f: F) -> Pipeline
    where
        F: FnMut(&Record) -> bool + Clone + Send + Sync + 'static,
    {
        self.operator(FilterFn(f))
    }

    /// Emit zero or more records per record from a Rust closure.
    pub fn flat_map<F>(self, f: F) -> Pipeline
    where
        F: FnMut(Record, &mut Emitter<'_>) + Clone + Send + Sync + 'static,
    {
        self.operator(FlatMapFn(f))
    }

    /// Add a user [`Operator`]; each worker gets its own clone.
    pub fn operator<O: Operator + Clone + Send + Sync>(mut self, op: O) -> Pipeline {
        self.steps.push(StepSpec::Custom(Arc::new(Proto(op))));
        self
    }

    fn jq(mut self, expr: &str, make: fn(Expr) -> StepSpec) -> Pipeline {
        match Expr::new(expr) {
            Ok(e) => self.steps.push(make(e)),
            Err(e) => self.fail(format!("step {}: {e}", self.steps.len() + 1)),
        }
        self
    }

    pub(crate) fn fail(&mut self, message: String) {
        self.first_error.get_or_insert(message);
    }

    /// Check the definition: the first builder mistake, topics, and that the output is not an
    /// input.
    pub fn validate(&self) -> Result<(), PipelineError> {
        let err = |message: String| PipelineError { pipeline: self.get_name(), message };
        if let Some(e) = &self.first_error {
            return Err(err(e.clone()));
        }
        if let Some(name) = &self.name {
            validate_topic(name)
                .map_err(|e| err(format!("name `{name}`: {e} (names follow topic rules)")))?;
        }
        if self.from.is_empty() {
            return Err(err("reads no topic".into()));
        }
        for t in &self.from {
            validate_topic(t).map_err(|e| err(format!("input topic `{t}`: {e}")))?;
        }
        let Some(to) = &self.to else {
            return Err(err("has no output topic (to_topic)".into()));
        };
        validate_topic(to).map_err(|e| err(format!("output topic `{to}`: {e}")))?;
        if self.from.contains(to) {
            return Err(err(format!("output topic `{to}` is also an input: it would loop")));
        }
        if let Some(e) = &self.errors {
            validate_topic(e).map_err(|x| err(format!("error topic `{e}`: {x}")))?;
            if self.from.contains(e) {
                return Err(err(format!("error topic `{e}` is also an input: it would loop")));
            }
        }
        self.validate_time().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(op: TextOp, text: bool, s: &str) -> String {
        let mut r = if text { Record::text(s) } else { Record::binary(s.as_bytes().to_vec()) };
        op.apply(&mut r);
        String::from_utf8(r.payload().to_vec()).unwrap()
    }

    #[test]
    fn text_ops() {
        assert_eq!(apply(TextOp::Upper, true, "hello, World"), "HELLO, WORLD");
        assert_eq!(apply(TextOp::Upper, true, "straße é"), "STRASSE É");
        assert_eq!(apply(TextOp::Lower, true, "ÀB c"), "àb c");
        assert_eq!(apply(TextOp::Trim, true, " \u{3000}x y\t\n"), "x y");
        assert_eq!(apply(TextOp::Trim, true, "   "), "");
        assert_eq!(apply(TextOp::Upper, false, "abc"), "ABC");
        assert_eq!(apply(TextOp::Trim, false, "  ab "), "ab");
        assert_eq!(apply(TextOp::Trim, false, "   "), "");
        assert!(TextOp::parse("shout").unwrap_err().contains("upper, lower or trim"));
        assert_eq!(TextOp::parse("trim"), Ok(TextOp::Trim));
    }

    #[test]
    fn builder_errors_are_deferred_and_named() {
        let p = Pipeline::from_topic("a").map_jq(".x |").to_topic("b");
        let e = p.validate().unwrap_err();
        assert!(e.to_string().contains("step 1: invalid jq expression"), "{e}");
        let e = Pipeline::from_topic("a").map_jq(".").key_by(".k").to_topic("b").validate();
        assert!(e.unwrap_err().message.contains("before the first step"));
        let e = Pipeline::from_topic("a").to_topic("a").validate().unwrap_err();
        assert!(e.message.contains("loop"), "{e}");
        assert!(Pipeline::from_topic("a").validate().is_err());
        assert!(Pipeline::from_topic("a b").to_topic("c").validate().is_err());
        assert!(Pipeline::from_topic("a").key_by("symbol").to_topic("c").validate().is_err());
        let ok = Pipeline::from_topic("a").key_by(".k").filter_jq(".x").to_topic("b");
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.get_name(), "a->b");
    }
}
