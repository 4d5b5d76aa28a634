//! Window semantics, case by case, with the results Flink gives for the same input (worked out
//! from the rules in the module docs; `tests/flink_conformance.rs` checks them against Flink
//! itself on generated streams).

use std::time::Duration;

use super::{Aggregate, Aggregates, Budget, Fields, Window};
use crate::clock::Clock;
use crate::ops::replay::{replay_to, ReplayOutput};
use crate::ops::PipelineCounters;
use crate::ops::{Chain, EventTime, Pipeline, Record};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn pipeline(w: Window, ooo: u64, lateness: u64) -> Pipeline {
    Pipeline::from_topic("in")
        .key_by(".k")
        .event_time(
            EventTime::new(".ts").unwrap().out_of_orderness(ms(ooo)).allowed_lateness(ms(lateness)),
        )
        .window(w)
        .aggregate(Aggregates::new().count("n").sum("v", ".v"))
        .late_to("late")
        .to_topic("out")
}

/// (results, late events, summary) of a replay of `events` = (key, ts).
fn run(
    p: &Pipeline,
    workers: usize,
    events: &[(&str, i64)],
) -> (Vec<String>, Vec<String>, PipelineCounters) {
    let input: String =
        events.iter().map(|(k, ts)| format!("{{\"k\":\"{k}\",\"ts\":{ts},\"v\":1}}\n")).collect();
    let (mut out, mut err, mut late) = (Vec::new(), Vec::new(), Vec::new());
    let o = ReplayOutput { results: &mut out, errors: &mut err, late: &mut late };
    let s = replay_to(p, workers, input.as_bytes(), o).unwrap();
    let lines = |b: Vec<u8>| String::from_utf8(b).unwrap().lines().map(str::to_string).collect();
    (lines(out), lines(late), s)
}

fn res(k: &str, start: i64, end: i64, n: u64, update: bool) -> String {
    let u = if update { ",\"update\":true" } else { "" };
    format!(
        "{{\"key\":\"{k}\",\"window_start\":{start},\"window_end\":{end},\"n\":{n},\"v\":{n}{u}}}"
    )
}

#[test]
fn tumbling_fires_at_end_minus_one_and_sends_late_events_aside() {
    let p = pipeline(Window::tumbling(ms(1000)), 0, 0);
    let events = [("a", 100), ("a", 900), ("b", 500), ("a", 1000), ("b", 999)];
    let (out, late, s) = run(&p, 1, &events);
    assert_eq!(
        out,
        [res("a", 0, 1000, 2, false), res("b", 0, 1000, 1, false), res("a", 1000, 2000, 1, false)]
    );
    assert_eq!(late, [r#"{"k":"b","ts":999,"v":1}"#]);
    assert_eq!((s.windows_fired, s.updates, s.late_out, s.late_dropped), (3, 0, 1, 0));
}

#[test]
fn a_window_fires_only_when_the_watermark_reaches_its_last_millisecond() {
    // ts 998 leaves the watermark at 997: [0,1000) stays open until an event moves it to 999.
    let p = pipeline(Window::tumbling(ms(1000)), 0, 0);
    let budget = Budget::new(100);
    let mut chain = Chain::new(&p, &budget);
    let out = std::cell::RefCell::new(Vec::new());
    let mut collect = |r: &Record| out.borrow_mut().push(r.as_str().unwrap().to_string());
    chain.push_timed(true, br#"{"k":"a","ts":5,"v":1}"#, Some(b"\"a\""), 5, i64::MIN);
    chain.run(&mut collect);
    chain.on_watermark(998, &mut collect);
    assert!(out.borrow().is_empty());
    chain.on_watermark(999, &mut collect);
    assert_eq!(*out.borrow(), [res("a", 0, 1000, 1, false)]);
    chain.on_watermark(5000, &mut collect);
    assert_eq!(out.borrow().len(), 1, "fires once");
}

#[test]
fn allowed_lateness_refires_with_the_update_then_cleans_up() {
    let p = pipeline(Window::tumbling(ms(1000)), 0, 500);
    let events = [("a", 100), ("a", 1000), ("a", 200), ("a", 1600), ("a", 300)];
    let (out, late, s) = run(&p, 1, &events);
    assert_eq!(
        out,
        [res("a", 0, 1000, 1, false), res("a", 0, 1000, 2, true), res("a", 1000, 2000, 2, false)]
    );
    assert_eq!(late, [r#"{"k":"a","ts":300,"v":1}"#]);
    assert_eq!((s.updates, s.late_out), (1, 1));
}

#[test]
fn late_events_without_a_late_topic_are_counted_and_dropped() {
    let mut p = pipeline(Window::tumbling(ms(1000)), 0, 0);
    p.late = None;
    let (out, late, s) = run(&p, 1, &[("a", 1000), ("a", 5)]);
    assert_eq!(out, [res("a", 1000, 2000, 1, false)]);
    assert!(late.is_empty());
    assert_eq!((s.late_out, s.late_dropped), (0, 1));
}

#[test]
fn sliding_windows_fire_in_time_order_and_update_newest_first() {
    let p = pipeline(Window::sliding(ms(3000), ms(1000)), 0, 10_000);
    let (out, _, _) = run(&p, 1, &[("a", 2500), ("a", 5000), ("a", 2600)]);
    assert_eq!(
        out,
        [
            res("a", 0, 3000, 1, false),
            res("a", 1000, 4000, 1, false),
            res("a", 2000, 5000, 1, false),
            res("a", 2000, 5000, 2, true),
            res("a", 1000, 4000, 2, true),
            res("a", 0, 3000, 2, true),
            res("a", 3000, 6000, 1, false),
            res("a", 4000, 7000, 1, false),
            res("a", 5000, 8000, 1, false),
        ]
    );
}

#[test]
fn sessions_merge_when_windows_touch_and_a_late_merge_fires_at_once() {
    let p = pipeline(Window::session(ms(100)), 0, 1000);
    // 150 moves the watermark to 149: [0,100) fires. 100 then bridges [0,100) and [150,250)
    // (touching counts) into [0,250), which fires at 249; 240 extends it to [0,340) after the
    // watermark passed 339, so the merged window fires at once, as an update.
    let (out, late, _) = run(&p, 1, &[("a", 0), ("a", 150), ("a", 100), ("a", 400), ("a", 240)]);
    assert_eq!(
        out,
        [
            res("a", 0, 100, 1, false),
            res("a", 0, 250, 3, false),
            res("a", 0, 340, 4, true),
            res("a", 400, 500, 1, false)
        ]
    );
    assert!(late.is_empty());
    // An event inside a session does not extend it.
    let (out, _, _) = run(&p, 1, &[("a", 0), ("a", 50), ("a", 20)]);
    assert_eq!(out, [res("a", 0, 150, 3, false)]);
}

#[test]
fn a_late_session_that_merges_with_nothing_is_late() {
    let p = pipeline(Window::session(ms(100)), 0, 0);
    let (out, late, _) = run(&p, 1, &[("a", 1000), ("a", 1200), ("a", 1050), ("a", 10)]);
    // 1200 moves the watermark to 1199: [1000,1100) fires and is freed, so 1050's own session
    // [1050,1150) merges with nothing and is already late; so is 10's.
    assert_eq!(out, [res("a", 1000, 1100, 1, false), res("a", 1200, 1300, 1, false)]);
    assert_eq!(late.len(), 2);
}

#[test]
fn count_windows_fire_every_n_and_drop_the_rest_at_the_end() {
    let p = Pipeline::from_topic("in")
        .key_by(".k")
        .window(Window::count(2))
        .aggregate(Aggregates::new().count("n"))
        .to_topic("out");
    let (out, _, _) = run(&p, 1, &[("a", 0), ("a", 0), ("a", 0), ("b", 0)]);
    assert_eq!(out, [r#"{"key":"a","window_start":null,"window_end":null,"n":2}"#]);
}

#[test]
fn negative_timestamps_and_offsets_follow_flinks_window_start() {
    let p = pipeline(Window::tumbling(ms(1000)).offset_ms(-250), 0, 0);
    let (out, _, _) = run(&p, 1, &[("a", -1251), ("a", -300), ("a", -250)]);
    assert_eq!(
        out,
        [
            res("a", -2250, -1250, 1, false),
            res("a", -1250, -250, 1, false),
            res("a", -250, 750, 1, false)
        ]
    );
}

#[test]
fn out_of_orderness_holds_the_watermark_back() {
    let p = pipeline(Window::tumbling(ms(1000)), 200, 0);
    // ts 1100 leaves the watermark at 899: 950 still counts; 1200 moves it to 999.
    let (out, late, _) =
        run(&p, 1, &[("a", 900), ("a", 1100), ("a", 950), ("a", 1200), ("a", 990)]);
    assert_eq!(out, [res("a", 0, 1000, 2, false), res("a", 1000, 2000, 2, false)]);
    assert_eq!(late, [r#"{"k":"a","ts":990,"v":1}"#]);
}

#[test]
fn results_per_key_do_not_depend_on_the_worker_count() {
    let p = pipeline(Window::session(ms(30)), 10, 40);
    let mut events = Vec::new();
    let mut x = 7u64;
    for i in 0..400 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let key = ["a", "b", "c", "d", "e"][(x >> 60) as usize % 5];
        events.push((key, i * 7 - ((x >> 33) % 80) as i64));
    }
    let per_key = |out: Vec<String>| {
        let mut m = std::collections::BTreeMap::<String, Vec<String>>::new();
        for line in out {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            m.entry(v["key"].to_string()).or_default().push(line);
        }
        m
    };
    let (one, late1, _) = run(&p, 1, &events);
    for workers in [2, 3, 7] {
        let (many, late, _) = run(&p, workers, &events);
        assert_eq!(per_key(one.clone()), per_key(many), "{workers} workers");
        let (mut a, mut b) = (late1.clone(), late);
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }
}

#[test]
fn the_window_bound_drops_and_counts_events_that_would_open_more() {
    let p = pipeline(Window::tumbling(ms(1000)), 0, 0).max_windows(2);
    let (out, _, s) =
        run(&p, 1, &[("a", 1), ("b", 2), ("c", 3), ("a", 4), ("c", 1000), ("c", 1001)]);
    assert_eq!(s.windows_full, 2, "c's first event, and c at 1000 (a and b still open)");
    assert_eq!(out[..2], [res("a", 0, 1000, 2, false), res("b", 0, 1000, 1, false)]);
    assert_eq!(out[2], res("c", 1000, 2000, 1, false), "slots free once windows are cleaned up");
}

#[test]
fn processing_time_windows_follow_the_clock() {
    let p = Pipeline::from_topic("in")
        .key_by(".k")
        .processing_time()
        .window(Window::tumbling(ms(100)))
        .aggregate(Aggregates::new().count("n"))
        .to_topic("out");
    let clock = Clock::manual(1_000);
    let mut chain = Chain::new(&p, &Budget::new(10));
    let out = std::cell::RefCell::new(Vec::new());
    let mut collect = |r: &Record| out.borrow_mut().push(r.as_str().unwrap().to_string());
    for t in [1_000, 1_050, 1_099] {
        clock.set(t);
        chain.push_timed(true, br#"{"k":1}"#, Some(b"1"), t as i64, i64::MIN);
        chain.run(&mut collect);
        chain.on_time(clock.now_ms(), &mut collect);
    }
    assert!(out.borrow().is_empty(), "[1000,1100) fires when the clock passes 1099");
    chain.on_time(1_100, &mut collect);
    assert_eq!(*out.borrow(), [r#"{"key":1,"window_start":1000,"window_end":1100,"n":3}"#]);
}

#[derive(Clone)]
struct Spread;

impl Aggregate for Spread {
    type Acc = (f64, f64);
    fn create(&mut self) -> (f64, f64) {
        (f64::MAX, f64::MIN)
    }
    fn add(&mut self, acc: &mut (f64, f64), r: &Record) -> Result<(), String> {
        let v: serde_json::Value =
            serde_json::from_slice(r.payload()).map_err(|e| e.to_string())?;
        let x = v["v"].as_f64().ok_or("no v")?;
        *acc = (acc.0.min(x), acc.1.max(x));
        Ok(())
    }
    fn merge(&mut self, acc: &mut (f64, f64), o: (f64, f64)) {
        *acc = (acc.0.min(o.0), acc.1.max(o.1));
    }
    fn result(&mut self, acc: &(f64, f64), out: &mut Fields<'_>) {
        out.float("spread", acc.1 - acc.0);
    }
}

#[test]
fn custom_aggregates_and_reduce_run_in_the_window() {
    let base = || {
        Pipeline::from_topic("in")
            .key_by(".k")
            .event_time(EventTime::new(".ts").unwrap().out_of_orderness(ms(100)))
            .window(Window::session(ms(10)))
    };
    let events = "{\"k\":1,\"ts\":0,\"v\":2}\n{\"k\":1,\"ts\":15,\"v\":7}\n{\"k\":1,\"ts\":8,\"v\":3}\n{\"k\":1,\"ts\":9,\"v\":\"x\"}\n";
    let replay = |p: Pipeline| {
        let (mut out, mut err, mut late) = (Vec::new(), Vec::new(), Vec::new());
        let o = ReplayOutput { results: &mut out, errors: &mut err, late: &mut late };
        let s = replay_to(&p.errors_to("e").to_topic("out"), 1, events.as_bytes(), o).unwrap();
        (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap(), s)
    };
    let (out, err, s) = replay(base().aggregate_with(Spread));
    assert_eq!(out, "{\"key\":1,\"window_start\":0,\"window_end\":25,\"spread\":5}\n");
    assert_eq!(s.operator_errors, 1);
    assert!(err.contains("no v"), "{err}");
    let sum = base().reduce(
        "total",
        |r: &Record| {
            let v: serde_json::Value =
                serde_json::from_slice(r.payload()).map_err(|e| e.to_string())?;
            v["v"].as_i64().ok_or_else(|| "no v".to_string())
        },
        |a: i64, b: i64| a + b,
    );
    let (out, _, _) = replay(sum);
    assert_eq!(out, "{\"key\":1,\"window_start\":0,\"window_end\":25,\"total\":12}\n");
}

#[test]
fn builder_mistakes_are_reported() {
    let e = Pipeline::from_topic("a").window(Window::tumbling(ms(5))).to_topic("b").validate();
    assert!(e.unwrap_err().message.contains("needs an aggregate"));
    let e = Pipeline::from_topic("a").aggregate(Aggregates::new().count("n")).to_topic("b");
    assert!(e.validate().unwrap_err().message.contains("must follow window"));
    let e = Pipeline::from_topic("a")
        .window(Window::tumbling(ms(5)))
        .aggregate(Aggregates::new().count("n"))
        .to_topic("b")
        .validate();
    assert!(e.unwrap_err().message.contains("needs event time"));
    let e = Pipeline::from_topic("a")
        .processing_time()
        .window(Window::count(3))
        .aggregate(Aggregates::new().count("n"))
        .late_to("l")
        .to_topic("b")
        .validate();
    assert!(e.unwrap_err().message.contains("only event-time windows"));
    let ok = Pipeline::from_topic("a")
        .window(Window::count(3))
        .aggregate(Aggregates::new().count("n"))
        .to_topic("b");
    assert_eq!(ok.validate(), Ok(()));
    assert_eq!(ok.partition, crate::ops::Partition::Single, "no key: one worker");
}

#[test]
fn steps_after_a_window_run_on_its_results_and_operators_see_watermarks() {
    use crate::ops::{Emitter, Operator};
    #[derive(Clone)]
    struct Marks;
    impl Operator for Marks {
        fn process(&mut self, r: Record, out: &mut Emitter<'_>) {
            out.emit(r);
        }
        fn on_watermark(&mut self, wm: i64, out: &mut Emitter<'_>) {
            if wm == 999 {
                out.emit(Record::text(format!("{{\"wm\":{wm}}}")));
            }
        }
    }
    let p = Pipeline::from_topic("in")
        .key_by(".k")
        .event_time(EventTime::new(".ts").unwrap())
        .window(Window::tumbling(ms(1000)))
        .aggregate(Aggregates::new().count("n"))
        .map(|mut r: Record| {
            let text = format!("{}@{}", r.as_str().unwrap(), r.timestamp().unwrap());
            r.set_text(&text);
            r
        })
        .operator(Marks)
        .to_topic("out");
    let (out, _, _) = run(&p, 1, &[("a", 10), ("a", 1000)]);
    assert_eq!(
        out,
        [
            r#"{"key":"a","window_start":0,"window_end":1000,"n":1}@999"#,
            r#"{"wm":999}"#,
            r#"{"key":"a","window_start":1000,"window_end":2000,"n":1}@1999"#,
        ]
    );
}
