//! sluice-bench end to end: every scenario, short and bounded, against an in-process relay on
//! 127.0.0.1 port 0. The assertions are on counts (everything sent is delivered exactly once,
//! in order), never on speed.

mod util;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use util::{watchdog, Relay};

struct Run {
    json: Value,
    stdout: String,
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Run sluice-bench with `args` plus a JSON output file; fail with its output if it fails.
/// The child is killed if it runs past [`CHILD_LIMIT`], so a stuck run never outlives its test.
fn bench(name: &str, args: &[&str]) -> Run {
    let json = tmp(&format!("{name}.json"));
    let (out_path, err_path) = (tmp(&format!("{name}.out")), tmp(&format!("{name}.err")));
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice-bench"))
        .args(args)
        .args(["--json", json.to_str().unwrap()])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("run sluice-bench");
    let deadline = Instant::now() + CHILD_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sluice-bench {args:?} ran past {CHILD_LIMIT:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(status.success(), "sluice-bench {args:?} failed:\n{stdout}\n{stderr}");
    let text = std::fs::read_to_string(&json).expect("json written");
    Run { json: serde_json::from_str(&text).expect("valid json"), stdout }
}

/// The longest a bench run may take here (each is well under a second of traffic plus drain).
const CHILD_LIMIT: Duration = Duration::from_secs(90);

fn n(v: &Value, a: &str, b: &str) -> u64 {
    v[a][b].as_u64().unwrap_or_else(|| panic!("{a}.{b} missing in {v}"))
}

/// Everything sent was delivered to every receiver once, in order, and nothing went wrong.
fn assert_complete(v: &Value, receivers: u64) {
    let sent = n(v, "counts", "sent");
    assert!(sent > 0, "{v}");
    assert_eq!(n(v, "counts", "expected"), sent * receivers);
    assert_eq!(n(v, "counts", "delivered"), sent * receivers, "{}", v["counts"]);
    assert_eq!(n(v, "counts", "lost"), 0);
    assert_eq!(n(v, "counts", "duplicated"), 0);
    assert_eq!(n(v, "counts", "out_of_order"), 0);
    assert_eq!(n(v, "counts", "unparsable"), 0);
    assert_eq!(v["errors"].as_array().map(Vec::len), Some(0), "{}", v["errors"]);
    assert!(n(v, "latency", "count") > 0);
    assert!(v["spectrum"].as_array().is_some_and(|s| !s.is_empty()));
}

const SHORT: [&str; 8] =
    ["--duration", "300ms", "--warmup", "100ms", "--drain", "30s", "--connect-timeout", "30s"];

#[test]
fn pubsub_delivers_every_message_to_every_subscriber() {
    watchdog(120, || {
        let relay = Relay::start();
        let (p, s) = (relay.url("/pub/bench"), relay.url("/sub/bench"));
        let hgrm = tmp("pubsub.hgrm");
        let svg = tmp("pubsub.svg");
        let mut args = vec!["pubsub", "--pub", &p, "--sub", &s, "--pubs", "2", "--subs", "5"];
        args.extend(["--rate", "2k", "--threads", "2", "--quiet"]);
        args.extend(SHORT);
        args.extend(["--hgrm", hgrm.to_str().unwrap(), "--plot", svg.to_str().unwrap()]);
        let run = bench("pubsub", &args);
        assert_complete(&run.json, 5);
        assert_eq!(run.json["scenario"], "pubsub");
        // 2k/s for 0.4 s (warm-up included), within a message or two of rounding.
        let sent = n(&run.json, "counts", "sent");
        assert!((795..=805).contains(&sent), "sent {sent}");
        assert_eq!(n(&run.json, "counts", "sent_measured"), 600);
        assert!(run.stdout.contains("from intended send time"));
        assert!(std::fs::read_to_string(&hgrm).unwrap().contains("Total count"));
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<polyline"));
        let stats = relay.stats();
        assert_eq!(stats.messages_in, sent);
        relay.stop();
    });
}

#[test]
fn pubsub_with_raw_binary_payloads() {
    watchdog(120, || {
        let relay = Relay::start();
        let (p, s) = (relay.url("/pub/raw"), relay.url("/sub/raw"));
        let mut args = vec!["pubsub", "--pub", &p, "--sub", &s, "--subs", "3", "--rate", "1k"];
        args.extend(["--format", "raw", "--size", "46", "--binary", "-q"]);
        args.extend(SHORT);
        assert_complete(&bench("raw", &args).json, 3);
    });
}

#[test]
fn echo_round_trips_on_several_connections() {
    watchdog(120, || {
        let relay = Relay::start();
        let url = relay.url("/echo");
        let mut args = vec!["echo", "--url", &url, "--conns", "3", "--rate", "3k", "-q"];
        args.extend(SHORT);
        let run = bench("echo", &args);
        assert_complete(&run.json, 1);
        assert_eq!(run.json["scenario"], "echo");
    });
}

#[test]
fn flood_is_bounded_by_its_window_and_loses_nothing() {
    watchdog(120, || {
        let relay = Relay::start();
        let (p, s) = (relay.url("/pub/flood"), relay.url("/sub/flood"));
        let mut args = vec!["flood", "--pub", &p, "--sub", &s, "--subs", "2", "--window", "500"];
        args.push("-q");
        args.extend(SHORT);
        let run = bench("flood", &args);
        assert_complete(&run.json, 2);
        assert!(run.json["rates"]["delivered"].as_f64().unwrap() > 0.0);
        assert_eq!(relay.stats().slow_consumer_closes, 0, "the window kept the queues bounded");
    });
}

#[test]
fn connect_counts_handshakes() {
    watchdog(120, || {
        let relay = Relay::start();
        let url = relay.url("/echo");
        let mut args = vec!["connect", "--url", &url, "--rate", "200", "-q"];
        args.extend(SHORT);
        let run = bench("connect", &args);
        let v = &run.json;
        let started = n(v, "counts", "sent");
        assert!(started >= 70, "{v}");
        assert_eq!(n(v, "counts", "delivered"), started);
        assert_eq!(n(v, "counts", "lost"), 0);
        assert!(n(v, "latency", "count") > 0);
        let upgrades = relay.wait_stats("upgrades", |s| s.upgrades >= started).upgrades;
        assert_eq!(upgrades, started);
    });
}

#[test]
fn idle_holds_connections_and_reads_server_memory() {
    watchdog(120, || {
        let relay = Relay::start();
        let url = relay.url("/sub/idle");
        // The relay runs in this test process: its pid is ours.
        let pid = std::process::id().to_string();
        let run = bench(
            "idle",
            &["idle", "--url", &url, "--conns", "200", "--pid", &pid, "--hold", "50ms"],
        );
        let idle = &run.json["idle"];
        assert_eq!(idle["connections"], 200);
        assert!(idle["rss_after"].as_u64().unwrap() > 0);
        assert!(idle["bytes_per_connection"].is_number());
        assert!(run.stdout.contains("bytes per connection"));
    });
}

#[test]
fn tcp_ping_pong_against_an_echo() {
    watchdog(120, || {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        let run = bench(
            "tcp",
            &[
                "tcp",
                "--addr",
                &addr,
                "--rate",
                "1k",
                "--duration",
                "200ms",
                "--warmup",
                "50ms",
                "-q",
            ],
        );
        assert_eq!(n(&run.json, "counts", "sent_measured"), 200);
        assert_eq!(n(&run.json, "latency", "count"), 200);
    });
}

#[test]
fn plot_draws_saved_runs_together() {
    watchdog(120, || {
        let relay = Relay::start();
        let url = relay.url("/echo");
        let a = bench(
            "plot-a",
            &[
                "echo",
                "--url",
                &url,
                "--rate",
                "1k",
                "--label",
                "first",
                "-q",
                "--duration",
                "100ms",
                "--warmup",
                "50ms",
            ],
        );
        assert_eq!(a.json["label"], "first");
        let a_json = tmp("plot-a.json");
        let svg = tmp("compare.svg");
        let mut args = vec!["echo", "--url", &url, "--rate", "1k", "--label", "second", "-q"];
        args.extend(["--duration", "100ms", "--warmup", "50ms", "--plot", svg.to_str().unwrap()]);
        args.extend(["--compare", a_json.to_str().unwrap()]);
        bench("plot-b", &args);
        let picture = std::fs::read_to_string(&svg).unwrap();
        assert_eq!(picture.matches("<polyline").count(), 2);
        assert!(picture.contains("first") && picture.contains("second"));
        let out = tmp("plot-cmd.svg");
        let status = Command::new(env!("CARGO_BIN_EXE_sluice-bench"))
            .args(["plot", "--out", out.to_str().unwrap(), a_json.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(std::fs::read_to_string(&out).unwrap().contains("first"));
    });
}

#[test]
fn self_test_reports_the_tools_own_overhead() {
    watchdog(120, || {
        let run = bench("self", &["self-test", "--rate", "1k", "--duration", "200ms"]);
        assert!(run.stdout.contains("per-message CPU work"));
        assert!(run.stdout.contains("TCP ping-pong"));
        assert_complete(&run.json, 1);
        assert!(run.json["overhead"]["cpu_ns_per_msg"].as_f64().unwrap() > 0.0);
    });
}
