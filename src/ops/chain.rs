//! A pipeline's steps instantiated on one worker, and the loop that runs them.
//!
//! Records move stage by stage: the whole input batch goes through step 1 into a second buffer,
//! then through step 2 back into the first, and so on (the two buffers are reused, so a steady
//! stream does not allocate them). Built-in steps are enum variants dispatched with a `match`;
//! a user operator costs one virtual call per batch. Time (`on_time`) and end of input
//! (`on_end`) enter at the operator that handles them and continue through the steps after it.

use std::sync::Arc;

use jaq_json::Val;

use super::expr::{self, Compiled, EvalError};
use super::record::{Pool, Record};
use super::window::{Budget, Cx, DynWindow};
use super::{DynOperator, Emitter, Pipeline, PipelineCounters, StepSpec, TextOp};

enum Stage {
    Jq(Jq, Compiled),
    Text(TextOp),
    Custom(Box<dyn DynOperator>),
    Window(Box<dyn DynWindow>),
}

/// The three steps that run a jq expression.
#[derive(Clone, Copy)]
enum Jq {
    /// Keep the record if the expression's first output is truthy.
    Filter,
    /// Replace the record by the expression's first output (none: dropped).
    Map,
    /// One record per output of the expression.
    FlatMap,
}

/// The running instance of one pipeline on one worker.
pub(crate) struct Chain {
    name: Arc<str>,
    stages: Vec<Stage>,
    input: Vec<Record>,
    spare: Vec<Record>,
    pub(crate) pool: Pool,
    counts: PipelineCounters,
    /// Error records wanted (the pipeline has an error topic).
    keep_errors: bool,
    /// (step number, what went wrong, the payload) of failures since the last drain.
    failures: Vec<(usize, String, Vec<u8>)>,
    op_failures: Vec<(String, Vec<u8>)>,
    /// Late events wanted (the pipeline has a late topic), and those not yet handed over.
    keep_late: bool,
    late: Vec<Record>,
}

impl Chain {
    /// Instantiate every step (compile jq, clone operators). Call on the worker's own thread.
    /// `budget` bounds the pipeline's open windows across all its chains.
    pub(crate) fn new(p: &Pipeline, budget: &Arc<Budget>) -> Chain {
        let stages = p
            .steps
            .iter()
            .map(|s| match s {
                StepSpec::Filter(e) => Stage::Jq(Jq::Filter, e.compile()),
                StepSpec::Map(e) => Stage::Jq(Jq::Map, e.compile()),
                StepSpec::FlatMap(e) => Stage::Jq(Jq::FlatMap, e.compile()),
                StepSpec::Text(op) => Stage::Text(*op),
                StepSpec::Custom(f) => Stage::Custom(f.make()),
                StepSpec::Window(w) => Stage::Window(p.make_window(w, budget.clone())),
            })
            .collect();
        Chain {
            name: p.get_name().into(),
            stages,
            input: Vec::new(),
            spare: Vec::new(),
            pool: Pool::default(),
            counts: PipelineCounters::default(),
            keep_errors: p.errors.is_some(),
            failures: Vec::new(),
            op_failures: Vec::new(),
            keep_late: p.late.is_some(),
            late: Vec::new(),
        }
    }

    /// Queue one input message (copied into a pooled buffer).
    pub(crate) fn push(&mut self, text: bool, payload: &[u8], key: Option<&[u8]>) {
        let r = self.pool.record(text, payload, key);
        self.input.push(r);
    }

    /// Queue one input message with its event time (or arrival time) and the watermark it was
    /// read under (`i64::MIN`: none).
    pub(crate) fn push_timed(
        &mut self,
        text: bool,
        payload: &[u8],
        key: Option<&[u8]>,
        ts: i64,
        wm: i64,
    ) {
        let mut r = self.pool.record(text, payload, key);
        r.ts = ts;
        r.wm = wm;
        self.input.push(r);
    }

    /// Run every queued input through all steps; each result goes to `out` (payload up to
    /// date), then back to the pool.
    pub(crate) fn run(&mut self, out: &mut impl FnMut(&Record)) {
        self.counts.records_in += self.input.len() as u64;
        let batch = std::mem::take(&mut self.input);
        self.run_from(0, batch, out);
    }

    /// Tell time-driven operators the time, and run what they emit through the rest.
    pub(crate) fn on_time(&mut self, now_ms: u64, out: &mut impl FnMut(&Record)) {
        self.signal(Signal::Time(now_ms), out);
    }

    /// A new watermark: due windows fire, operators see it, results run through the rest.
    pub(crate) fn on_watermark(&mut self, wm: i64, out: &mut impl FnMut(&Record)) {
        self.signal(Signal::Watermark(wm), out);
    }

    /// End of input: every operator flushes, in order, each into the steps after it.
    pub(crate) fn on_end(&mut self, out: &mut impl FnMut(&Record)) {
        self.signal(Signal::End, out);
    }

    fn signal(&mut self, sig: Signal, out: &mut impl FnMut(&Record)) {
        for i in 0..self.stages.len() {
            let mut emitted = Vec::new();
            let mut failed = 0;
            let errors = self.keep_errors.then_some(&mut self.op_failures);
            match &mut self.stages[i] {
                Stage::Custom(op) => {
                    let mut em = Emitter::new(&mut emitted, &mut failed, errors);
                    match sig {
                        Signal::Time(now) => op.on_time(now, &mut em),
                        Signal::Watermark(wm) => op.on_watermark(wm, &mut em),
                        Signal::End => op.on_end(&mut em),
                    }
                }
                Stage::Window(w) => {
                    let mut cx = Cx {
                        out: &mut emitted,
                        late: &mut self.late,
                        keep_late: self.keep_late,
                        pool: &mut self.pool,
                        counts: &mut self.counts,
                        failures: errors,
                    };
                    match sig {
                        Signal::Time(now) => {
                            w.on_time(i64::try_from(now).unwrap_or(i64::MAX), &mut cx)
                        }
                        Signal::Watermark(wm) => w.on_watermark(wm, &mut cx),
                        Signal::End => w.end(&mut cx),
                    }
                }
                _ => continue,
            }
            self.counts.operator_errors += failed;
            self.note_op_failures(i);
            if !emitted.is_empty() {
                self.run_from(i + 1, emitted, out);
            }
        }
    }

    /// Hand every late event since the last call to `f` (text, payload).
    pub(crate) fn drain_late(&mut self, mut f: impl FnMut(bool, &[u8])) {
        for mut r in std::mem::take(&mut self.late) {
            r.materialize();
            f(r.text, r.payload());
            self.pool.recycle(r);
        }
    }

    /// Counters since the last call.
    pub(crate) fn take_counts(&mut self) -> PipelineCounters {
        std::mem::take(&mut self.counts)
    }

    /// Hand every failure since the last call to `f` as a JSON error record.
    pub(crate) fn drain_failures(&mut self, mut f: impl FnMut(&[u8])) {
        let mut buf = Vec::new();
        for (step, why, payload) in self.failures.drain(..) {
            buf.clear();
            error_record(&mut buf, &self.name, step, &why, &payload);
            f(&buf);
        }
    }

    fn note_op_failures(&mut self, stage: usize) {
        for (why, payload) in self.op_failures.drain(..) {
            self.failures.push((stage + 1, why, payload));
        }
    }

    fn run_from(&mut self, start: usize, mut cur: Vec<Record>, out: &mut impl FnMut(&Record)) {
        let mut next = std::mem::take(&mut self.spare);
        for i in start..self.stages.len() {
            next.clear();
            self.apply(i, &mut cur, &mut next);
            std::mem::swap(&mut cur, &mut next);
            if cur.is_empty() {
                break;
            }
        }
        self.counts.records_out += cur.len() as u64;
        for mut r in cur.drain(..) {
            r.materialize();
            out(&r);
            self.pool.recycle(r);
        }
        // Keep both buffers' capacity for the next batch.
        if self.input.is_empty() && self.input.capacity() < cur.capacity() {
            self.input = cur;
        }
        self.spare = next;
    }

    fn apply(&mut self, i: usize, input: &mut Vec<Record>, next: &mut Vec<Record>) {
        let step = i + 1;
        let Chain {
            stages, pool, counts, failures, keep_errors, op_failures, late, keep_late, ..
        } = self;
        let mut fail = |r: Record, why: String, pool: &mut Pool| {
            if *keep_errors {
                let mut r = r;
                r.materialize();
                failures.push((step, why, r.payload().to_vec()));
                pool.recycle(r);
            } else {
                pool.recycle(r);
            }
        };
        match &mut stages[i] {
            Stage::Jq(kind, c) => {
                for mut r in input.drain(..) {
                    let v = match r.json() {
                        Ok(v) => v,
                        Err(e) => {
                            counts.invalid_json += 1;
                            fail(r, format!("invalid JSON: {e}"), pool);
                            continue;
                        }
                    };
                    match jq_step(*kind, c, r, v, next, pool) {
                        Ok(None) => {}
                        Ok(Some(r)) => {
                            counts.filtered += 1;
                            pool.recycle(r);
                        }
                        Err((r, e)) => {
                            counts.expr_errors += 1;
                            fail(r, e.0, pool);
                        }
                    }
                }
            }
            Stage::Text(op) => {
                for mut r in input.drain(..) {
                    r.materialize();
                    op.apply(&mut r);
                    next.push(r);
                }
            }
            Stage::Custom(op) => {
                for r in input.iter_mut() {
                    r.materialize();
                }
                let mut failed = 0;
                let errors = keep_errors.then_some(&mut *op_failures);
                op.batch(input, &mut Emitter::new(next, &mut failed, errors));
                counts.operator_errors += failed;
                for (why, payload) in op_failures.drain(..) {
                    failures.push((step, why, payload));
                }
            }
            Stage::Window(w) => {
                let mut cx = Cx {
                    out: next,
                    late,
                    keep_late: *keep_late,
                    pool,
                    counts,
                    failures: keep_errors.then_some(&mut *op_failures),
                };
                w.batch(input, &mut cx);
                for (why, payload) in op_failures.drain(..) {
                    failures.push((step, why, payload));
                }
            }
        }
    }
}

/// Run one jq stage (`filter`, `map` or `flat_map`) on a record whose JSON is `v`. Results go
/// to `next`; a record that produced nothing comes back as `Ok(Some(r))` (filtered out), a record
/// whose expression failed as `Err`.
fn jq_step(
    kind: Jq,
    c: &Compiled,
    mut r: Record,
    v: Val,
    next: &mut Vec<Record>,
    pool: &mut Pool,
) -> Result<Option<Record>, (Record, EvalError)> {
    let produced = match kind {
        Jq::Filter => match c.first(v) {
            Ok(Some(v)) if expr::truthy(&v) => {
                next.push(r);
                return Ok(None);
            }
            Ok(_) => false,
            Err(e) => return Err((r, e)),
        },
        Jq::Map => match c.first(v) {
            Ok(Some(v)) => {
                r.set_json(v);
                next.push(r);
                return Ok(None);
            }
            Ok(None) => false,
            Err(e) => return Err((r, e)),
        },
        Jq::FlatMap => {
            let before = next.len();
            let parent = &r;
            if let Err(e) = c.run(v, |v: Val| next.push(pool.json_record(v, parent))) {
                return Err((r, e));
            }
            next.len() > before
        }
    };
    if produced {
        pool.recycle(r);
        Ok(None)
    } else {
        Ok(Some(r))
    }
}

/// A non-record input that flows through the stages.
#[derive(Clone, Copy)]
enum Signal {
    Time(u64),
    Watermark(i64),
    End,
}

/// `{"pipeline":…,"step":…,"error":…,"payload":…}` (the payload as a string, lossy UTF-8).
pub(crate) fn error_record(
    out: &mut Vec<u8>,
    pipeline: &str,
    step: usize,
    why: &str,
    payload: &[u8],
) {
    out.extend_from_slice(b"{\"pipeline\":");
    expr::write_json(out, &Val::from(pipeline.to_string()));
    out.extend_from_slice(format!(",\"step\":{step},\"error\":").as_bytes());
    expr::write_json(out, &Val::from(why.to_string()));
    out.extend_from_slice(b",\"payload\":");
    expr::write_json(out, &Val::from(String::from_utf8_lossy(payload).into_owned()));
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Operator;

    fn run(p: Pipeline, inputs: &[&str]) -> (Vec<String>, PipelineCounters, Vec<String>) {
        p.validate().unwrap();
        let mut chain = Chain::new(&p, &Budget::new(usize::MAX));
        for i in inputs {
            chain.push(true, i.as_bytes(), None);
        }
        let mut out = Vec::new();
        chain.run(&mut |r: &Record| out.push(r.as_str().unwrap().to_string()));
        let mut errs = Vec::new();
        chain.drain_failures(|e| errs.push(String::from_utf8(e.to_vec()).unwrap()));
        (out, chain.take_counts(), errs)
    }

    #[test]
    fn filter_keeps_original_bytes_and_counts() {
        let p = Pipeline::from_topic("a").filter_jq(".qty > 0").to_topic("b");
        let (out, c, _) = run(p, &[r#"{"qty": 1,  "x":true}"#, r#"{"qty":0}"#, "nope"]);
        assert_eq!(out, [r#"{"qty": 1,  "x":true}"#]);
        assert_eq!((c.records_in, c.records_out, c.filtered, c.invalid_json), (3, 1, 1, 1));
    }

    #[test]
    fn map_and_flat_map_reshape_json() {
        let p = Pipeline::from_topic("a")
            .map_jq("{sym: .symbol, px: .price}")
            .flat_map_jq("[.sym, .px] | .[]")
            .to_topic("b");
        let (out, c, _) = run(p, &[r#"{"symbol":"BTC","price":2}"#, r#"{"symbol":"ETH"}"#]);
        assert_eq!(out, [r#""BTC""#, "2", r#""ETH""#, "null"]);
        assert_eq!(c.records_out, 4);
        let p = Pipeline::from_topic("a").map_jq("empty").to_topic("b");
        let (out, c, _) = run(p, &["1"]);
        assert!(out.is_empty());
        assert_eq!(c.filtered, 1);
    }

    #[test]
    fn expression_errors_are_counted_and_described() {
        let p = Pipeline::from_topic("a").map_jq(".a.b").errors_to("errs").name("p1").to_topic("b");
        let (out, c, errs) = run(p, &[r#"{"a":{"b":1}}"#, r#"{"a":5}"#, "{bad"]);
        assert_eq!(out, ["1"]);
        assert_eq!((c.expr_errors, c.invalid_json), (1, 1));
        assert_eq!(errs.len(), 2);
        assert!(errs[0].starts_with(r#"{"pipeline":"p1","step":1,"error":"#), "{}", errs[0]);
        assert!(errs[0].ends_with(r#","payload":"{\"a\":5}"}"#), "{}", errs[0]);
        assert!(errs[1].contains("invalid JSON"), "{}", errs[1]);
    }

    #[test]
    fn text_after_jq_sees_the_serialized_value() {
        let p = Pipeline::from_topic("a").map_jq(".s").text(TextOp::Upper).to_topic("b");
        let (out, _, _) = run(p, &[r#"{"s":"abc"}"#]);
        assert_eq!(out, [r#""ABC""#]);
    }

    #[test]
    fn closures_and_operators_run_in_order() {
        #[derive(Clone)]
        struct Count(u64);
        impl Operator for Count {
            fn process(&mut self, r: Record, out: &mut Emitter<'_>) {
                self.0 += 1;
                if r.as_str() == Some("bad") {
                    out.fail(&r, "no bad input");
                    return;
                }
                out.emit(r.child_text(&format!("{}:{}", self.0, r.as_str().unwrap())));
            }
            fn on_end(&mut self, out: &mut Emitter<'_>) {
                out.emit(Record::text(format!("total {}", self.0)));
            }
        }
        let p = Pipeline::from_topic("a")
            .filter(|r: &Record| r.payload() != b"skip")
            .operator(Count(0))
            .map(|mut r: Record| {
                let s = format!("<{}>", r.as_str().unwrap());
                r.set_text(&s);
                r
            })
            .flat_map(|r: Record, out: &mut Emitter<'_>| {
                out.emit(r.child_text("x"));
                out.emit(r);
            })
            .errors_to("e")
            .to_topic("b");
        p.validate().unwrap();
        let mut chain = Chain::new(&p, &Budget::new(usize::MAX));
        for s in ["a", "skip", "bad", "b"] {
            chain.push(true, s.as_bytes(), None);
        }
        let mut out = Vec::new();
        chain.run(&mut |r: &Record| out.push(r.as_str().unwrap().to_string()));
        chain.on_end(&mut |r: &Record| out.push(r.as_str().unwrap().to_string()));
        assert_eq!(out, ["x", "<1:a>", "x", "<3:b>", "x", "<total 3>"]);
        assert_eq!(chain.take_counts().operator_errors, 1);
        let mut errs = Vec::new();
        chain.drain_failures(|e| errs.push(String::from_utf8(e.to_vec()).unwrap()));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains(r#""step":2,"error":"no bad input","payload":"bad""#));
    }

    #[test]
    fn keys_follow_records_through_steps() {
        let p = Pipeline::from_topic("a").key_by(".k").flat_map_jq(".v[]").to_topic("b");
        let mut chain = Chain::new(&p, &Budget::new(usize::MAX));
        chain.push(true, br#"{"k":"A","v":[1,2]}"#, Some(br#""A""#));
        let mut keys = Vec::new();
        chain.run(&mut |r: &Record| keys.push(r.key().map(<[u8]>::to_vec)));
        assert_eq!(keys, [Some(b"\"A\"".to_vec()), Some(b"\"A\"".to_vec())]);
    }

    #[test]
    fn on_time_reaches_operators() {
        #[derive(Clone)]
        struct Ticker;
        impl Operator for Ticker {
            fn process(&mut self, r: Record, out: &mut Emitter<'_>) {
                out.emit(r);
            }
            fn on_time(&mut self, now_ms: u64, out: &mut Emitter<'_>) {
                out.emit(Record::text(format!("t{now_ms}")));
            }
        }
        let p = Pipeline::from_topic("a").operator(Ticker).text(TextOp::Upper).to_topic("b");
        let mut chain = Chain::new(&p, &Budget::new(usize::MAX));
        let mut out = Vec::new();
        chain.on_time(42, &mut |r: &Record| out.push(r.as_str().unwrap().to_string()));
        assert_eq!(out, ["T42"]);
    }
}
