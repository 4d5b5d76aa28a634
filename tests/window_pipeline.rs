//! Windowed pipelines over real sockets: the watermark reaching workers that get no events,
//! late re-firings and the late topic across several workers, processing time on a manual
//! clock, per-publisher watermarks with idleness, and the `sluice` binary's `replay --late` and
//! configuration errors. No test sleeps to wait for a window: time moves by data or by hand.

mod util;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use sluice::ops::shard::{key_hash, shard};
use sluice::ops::window::{Aggregates, Window};
use sluice::{Clock, Config, EventTime, Pipeline, Reactor, Sources, WorkerConfig};
use tungstenite::Message;
use util::{connect, next_data, watchdog, Relay, Ws};

fn config(workers: usize) -> Config {
    Config {
        workers: WorkerConfig { count: workers, pin: false, ..Default::default() },
        ..util::test_config()
    }
}

fn windowed(t: EventTime, w: Window) -> Pipeline {
    Pipeline::from_topic("in")
        .key_by(".k")
        .event_time(t)
        .window(w)
        .aggregate(Aggregates::new().count("n").sum("v", ".v"))
        .late_to("late")
        .to_topic("out")
}

fn event(k: &str, ts: i64) -> Message {
    Message::text(format!("{{\"k\":\"{k}\",\"ts\":{ts},\"v\":1}}"))
}

fn text(ws: &mut Ws) -> String {
    match next_data(ws) {
        Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn res(k: &str, start: i64, end: i64, n: u64, update: bool) -> String {
    let u = if update { ",\"update\":true" } else { "" };
    format!(
        "{{\"key\":\"{k}\",\"window_start\":{start},\"window_end\":{end},\"n\":{n},\"v\":{n}{u}}}"
    )
}

/// Two keys that live on different workers out of `n`.
fn keys_on_two_workers(n: usize) -> (String, String) {
    let worker = |k: &str| shard(key_hash(format!("\"{k}\"").as_bytes()), n);
    let a = "a".to_string();
    let b = (0..).map(|i| format!("b{i}")).find(|b| worker(b) != worker(&a)).unwrap();
    (a, b)
}

#[test]
fn the_watermark_reaches_a_worker_that_gets_no_more_events() {
    watchdog(120, || {
        let mut reactor = Reactor::bind(config(4)).unwrap();
        let p = windowed(EventTime::new(".ts").unwrap(), Window::tumbling(Duration::from_secs(1)));
        reactor.add_pipeline(p).unwrap();
        let relay = Relay::run(reactor);
        let mut out = connect(&relay.url("/sub/out"));
        let mut publisher = connect(&relay.url("/pub/in"));
        let (a, b) = keys_on_two_workers(4);
        // `a`'s worker gets one event; only `b`'s events move the watermark past 999 after it.
        for (k, ts) in [(&a, 100), (&b, 500), (&b, 1500)] {
            publisher.send(event(k, ts)).unwrap();
        }
        let mut got = vec![text(&mut out), text(&mut out)];
        got.sort();
        let mut want = vec![res(&a, 0, 1000, 1, false), res(&b, 0, 1000, 1, false)];
        want.sort();
        assert_eq!(got, want);
        let s = relay.wait_stats("window counters", |s| s.pipelines[0].windows_fired == 2);
        assert_eq!(s.pipelines[0].records_in, 3);
    });
}

#[test]
fn late_updates_and_late_events_across_three_workers() {
    watchdog(120, || {
        let mut reactor = Reactor::bind(config(3)).unwrap();
        let t = EventTime::new(".ts").unwrap().allowed_lateness(Duration::from_millis(500));
        reactor.add_pipeline(windowed(t, Window::tumbling(Duration::from_secs(1)))).unwrap();
        let relay = Relay::run(reactor);
        let mut out = connect(&relay.url("/sub/out"));
        let mut late = connect(&relay.url("/sub/late"));
        let mut publisher = connect(&relay.url("/pub/in"));
        let keys = ["x", "y", "z", "w"];
        // The watermark is the pipeline's, not the key's: every key moves through the same steps.
        for ts in [100, 1000, 200, 1600, 300] {
            for k in keys {
                publisher.send(event(k, ts)).unwrap();
            }
        }
        // Per key (the sequence of allowed_lateness unit test): a result, an update, and the
        // event at 300 is past the lateness; the last window stays open (no end of input).
        let mut per_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for _ in 0..keys.len() * 2 {
            let line = text(&mut out);
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            per_key.entry(v["key"].as_str().unwrap().to_string()).or_default().push(line);
        }
        for k in keys {
            assert_eq!(per_key[k], [res(k, 0, 1000, 1, false), res(k, 0, 1000, 2, true)], "{k}");
        }
        let mut late_events: Vec<String> = (0..keys.len()).map(|_| text(&mut late)).collect();
        late_events.sort();
        let mut want: Vec<String> =
            keys.iter().map(|k| format!("{{\"k\":\"{k}\",\"ts\":300,\"v\":1}}")).collect();
        want.sort();
        assert_eq!(late_events, want);
        let s = relay.wait_stats("late counters", |s| s.pipelines[0].late_out == 4);
        let p = &s.pipelines[0];
        assert_eq!((p.windows_fired, p.updates, p.late_dropped), (8, 4, 0));
        // The same counters on /metrics.
        let mut raw = util::Raw::connect(relay.addr);
        raw.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let text = String::from_utf8_lossy(&raw.read_to_end()).into_owned();
        let name = p.name.as_str();
        for line in [
            format!("sluice_pipeline_window_results_total{{pipeline=\"{name}\"}} 8"),
            format!("sluice_pipeline_window_updates_total{{pipeline=\"{name}\"}} 4"),
            format!(
                "sluice_pipeline_late_events_total{{pipeline=\"{name}\",action=\"published\"}} 4"
            ),
            format!("sluice_pipeline_errors_total{{pipeline=\"{name}\",kind=\"time\"}} 0"),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
    });
}

#[test]
fn processing_time_windows_fire_when_the_manual_clock_passes_their_end() {
    watchdog(120, || {
        let clock = Clock::manual(10_000);
        let mut reactor = Reactor::bind(config(2)).unwrap();
        reactor.set_clock(clock.clone());
        reactor
            .add_pipeline(
                Pipeline::from_topic("in")
                    .key_by(".k")
                    .processing_time()
                    .window(Window::tumbling(Duration::from_millis(100)))
                    .aggregate(Aggregates::new().count("n"))
                    .to_topic("out"),
            )
            .unwrap();
        let relay = Relay::run(reactor);
        let mut out = connect(&relay.url("/sub/out"));
        let mut publisher = connect(&relay.url("/pub/in"));
        for _ in 0..3 {
            publisher.send(Message::text(r#"{"k":"p"}"#)).unwrap();
        }
        // Every event is in [10000,10100) once the workers have taken it.
        relay.wait_stats("events on a worker", |s| s.pipelines[0].records_in == 3);
        clock.set(10_099);
        clock.set(10_100);
        assert_eq!(text(&mut out), r#"{"key":"p","window_start":10000,"window_end":10100,"n":3}"#);
    });
}

#[test]
fn per_publisher_watermarks_wait_for_the_slowest_until_it_is_idle() {
    watchdog(120, || {
        let clock = Clock::manual(0);
        let mut reactor = Reactor::bind(config(2)).unwrap();
        reactor.set_clock(clock.clone());
        let t = EventTime::new(".ts")
            .unwrap()
            .sources(Sources::PerPublisher)
            .idle(Duration::from_secs(5));
        reactor.add_pipeline(windowed(t, Window::tumbling(Duration::from_secs(1)))).unwrap();
        let relay = Relay::run(reactor);
        let mut out = connect(&relay.url("/sub/out"));
        let mut fast = connect(&relay.url("/pub/in"));
        let mut slow = connect(&relay.url("/pub/in"));
        slow.send(event("s", 100)).unwrap();
        relay.wait_stats("the slow publisher's event", |s| s.pipelines[0].records_in == 1);
        for ts in [200, 1500, 2500] {
            fast.send(event("f", ts)).unwrap();
        }
        relay.wait_stats("the fast publisher's events", |s| s.pipelines[0].records_in == 4);
        // The slow publisher holds the watermark at 99: nothing fires.
        assert_eq!(relay.stats().pipelines[0].windows_fired, 0);
        // 5 s later by the pipeline clock, only the fast one has sent again: the slow one is
        // idle and no longer counts, and the watermark is the fast one's, 2599.
        clock.set(5_000);
        fast.send(event("f", 2600)).unwrap();
        let mut got = vec![text(&mut out), text(&mut out), text(&mut out)];
        got.sort();
        let mut want = vec![
            res("s", 0, 1000, 1, false),
            res("f", 0, 1000, 1, false),
            res("f", 1000, 2000, 1, false),
        ];
        want.sort();
        assert_eq!(got, want);
        // A new publisher holds the watermark back until it disconnects.
        let mut other = connect(&relay.url("/pub/in"));
        other.send(event("s", 2700)).unwrap();
        relay.wait_stats("the new publisher's event", |s| s.pipelines[0].records_in == 6);
        fast.send(event("f", 3600)).unwrap();
        relay.wait_stats("the fast publisher's event", |s| s.pipelines[0].records_in == 7);
        assert_eq!(relay.stats().pipelines[0].windows_fired, 3, "held at 2699");
        other.close(None).unwrap();
        let mut got = vec![text(&mut out), text(&mut out)];
        got.sort();
        let mut want = vec![res("f", 2000, 3000, 2, false), res("s", 2000, 3000, 1, false)];
        want.sort();
        assert_eq!(got, want);
    });
}

fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-window-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

const CONFIG: &str = r#"
[[pipeline]]
name = "ohlc"
from = "trades"
to = "trades.1s"
key = ".symbol"
time = { event = ".ts", out_of_orderness = "0s", allowed_lateness = "500ms" }
window = { tumbling = "1s" }
aggregate = { trades = "count", volume = "sum(.qty)", open = "first(.price)", high = "max(.price)", low = "min(.price)", close = "last(.price)" }
late = "trades.late"
"#;

#[test]
fn replay_writes_results_and_late_events_and_bad_configs_are_named() {
    watchdog(120, || {
        let config = temp_file("ohlc.toml", CONFIG);
        let input = temp_file(
            "trades.jsonl",
            "{\"symbol\":\"BTC\",\"ts\":100,\"qty\":2,\"price\":10.5}\n\
             {\"symbol\":\"BTC\",\"ts\":50,\"qty\":1,\"price\":11}\n\
             {\"symbol\":\"BTC\",\"ts\":1000,\"qty\":1,\"price\":12}\n\
             {\"symbol\":\"BTC\",\"ts\":900,\"qty\":3,\"price\":9}\n\
             {\"symbol\":\"BTC\",\"ts\":\"2023-11-14T22:13:20Z\",\"qty\":1,\"price\":1}\n\
             {\"symbol\":\"BTC\",\"ts\":10,\"qty\":5,\"price\":99}\n",
        );
        let (out, late) = (input.with_extension("out"), input.with_extension("late"));
        let run = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["replay", "--pipeline", "ohlc", "--workers", "2"])
            .arg("--config")
            .arg(&config)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(&out)
            .arg("--late")
            .arg(&late)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{stderr}");
        assert!(stderr.contains("1 late updates"), "{stderr}");
        let out = std::fs::read_to_string(out).unwrap();
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            [
                r#"{"key":"BTC","window_start":0,"window_end":1000,"trades":2,"volume":3,"open":11,"high":11,"low":10.5,"close":10.5}"#,
                r#"{"key":"BTC","window_start":0,"window_end":1000,"trades":3,"volume":6,"open":11,"high":11,"low":9,"close":9,"update":true}"#,
                r#"{"key":"BTC","window_start":1000,"window_end":2000,"trades":1,"volume":1,"open":12,"high":12,"low":12,"close":12}"#,
                r#"{"key":"BTC","window_start":1700000000000,"window_end":1700000001000,"trades":1,"volume":1,"open":1,"high":1,"low":1,"close":1}"#,
            ]
        );
        assert_eq!(
            std::fs::read_to_string(late).unwrap(),
            "{\"symbol\":\"BTC\",\"ts\":10,\"qty\":5,\"price\":99}\n"
        );

        let bad = temp_file(
            "bad.toml",
            &CONFIG.replace("{ tumbling = \"1s\" }", "{ tumbling = \"1s\", slide = \"1s\" }"),
        );
        let check = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--check-config")
            .arg(&bad)
            .output()
            .unwrap();
        assert!(!check.status.success());
        let e = String::from_utf8_lossy(&check.stderr);
        assert!(e.contains("bad.toml:8: key `pipeline[0].window`"), "{e}");
        assert!(e.contains("`slide` goes with `sliding`"), "{e}");
    });
}

#[test]
fn the_shipped_windows_example_gives_the_readme_candle() {
    watchdog(120, || {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/windows.toml");
        let input = temp_file(
            "readme-trades.jsonl",
            "{\"symbol\":\"BTC\",\"ts\":1700000000120,\"price\":37020.5,\"qty\":0.25}\n\
             {\"symbol\":\"BTC\",\"ts\":1700000000480,\"price\":37024,\"qty\":1}\n\
             {\"symbol\":\"BTC\",\"ts\":1700000001250,\"price\":37031,\"qty\":0.5}\n",
        );
        // Only the first candle closes while the input lasts: the README's line is the first.
        let run = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["replay", "--pipeline", "candles", "--config", example, "--input"])
            .arg(&input)
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let out = String::from_utf8(run.stdout).unwrap();
        assert_eq!(
            out.lines().next(),
            Some(
                r#"{"key":"BTC","window_start":1700000000000,"window_end":1700000001000,"open":37020.5,"high":37024,"low":37020.5,"close":37024,"volume":1.25,"trades":2}"#
            )
        );
        let check = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["--check-config", example])
            .output()
            .unwrap();
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    });
}
