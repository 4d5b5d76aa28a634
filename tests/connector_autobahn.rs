//! Client-mode conformance: the Autobahn TestSuite case files, served by `kosoku`'s fuzzing
//! server (tests/run.sh installs it), against Sluice's connector client.
//!
//! Each case is one connection: a source connector to `/runCase?case=N` that publishes every
//! message to a topic and sends that same topic back upstream (`send_from`), so the upstream
//! gets its messages echoed through the relay's real source and sink paths. The test waits for
//! the connector's `disconnected` (or `connect_failed`) status event, removes it, and goes on.
//!
//! Required: every case of sections 1–7, 9 and 10 is `OK`, or `NON-STRICT` / `INFORMATIONAL`
//! where `util::autobahn::NOT_OK` lists it (as for the server side; the README lists
//! them too). Reports go to `target/autobahn/client`.
//!
//! Compression (`autobahn_client_compression`): the connectors offer permessage-deflate and
//! every case of sections 12 and 13 run is `OK` (the fuzzing server sends compressed messages
//! with each of its accept variants; the connector inflates them and echoes them uncompressed).
//! By default a representative subset, all 216 with `AUTOBAHN_DEFLATE=full`. Reports go to
//! `target/autobahn/client-12-13`.

mod util;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sluice::{Backoff, Connector};
use util::autobahn::deviation_allowed;
use util::upstream::{python_has, wait_json};
use util::{connect, next_data, test_config, watchdog, Relay, IO_TIMEOUT};

const SECTIONS: &[&str] = &["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"];

/// Connect once, never retry (the test removes the connector when the case ends).
fn one_shot(name: &str, url: &str, topic: &str, compression: bool) -> Connector {
    let never = Duration::from_secs(3600);
    Connector::source(name, url, topic)
        .status_topic("ab.status")
        .ping_interval(Duration::ZERO)
        .stall_timeout(Duration::ZERO)
        .connect_timeout(Duration::from_secs(60))
        .buffer(64 << 20)
        .backoff(Backoff { initial: never, max: never, multiplier: 1.0, jitter: 0.0 })
        .compression(compression)
}

/// Serve `cases` with kosoku's fuzzing server and run each with a one-shot connector (offering
/// permessage-deflate if `compression`); returns (case count, verdicts by case id).
fn run_client(
    cases: &[&str],
    report: &str,
    compression: bool,
) -> BTreeMap<String, (String, String)> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut server = Command::new(util::python::python())
        .arg(dir.join("tests/autobahn/fuzzingserver.py"))
        .arg(dir.join("target/autobahn").join(report))
        .args(cases)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start kosoku");
    let (tx, lines) = mpsc::channel();
    let stdout = server.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let port: u16 = lines
        .recv_timeout(IO_TIMEOUT)
        .expect("kosoku did not start")
        .strip_prefix("port ")
        .expect("port line")
        .parse()
        .unwrap();
    let base = format!("ws://127.0.0.1:{port}");

    // Section 9 sends messages of up to 16 MiB, some in 64-byte fragments.
    let mut config = test_config();
    config.limits.max_message_size = 20 << 20;
    config.limits.max_frame_size = 20 << 20;
    config.limits.max_queued_bytes = 64 << 20;
    config.limits.max_fragments = 1 << 20;
    let relay = Relay::start_with(config);
    let mut status = connect(&relay.url("/sub/ab.status"));
    let run = |name: &str, path: &str, topic: &str, status: &mut util::Ws, echo: bool| {
        let mut c = one_shot(name, &format!("{base}{path}"), topic, compression);
        if echo {
            c = c.send_from(topic);
        }
        relay.handle.add_connector(c, IO_TIMEOUT).unwrap();
        wait_json(status, &format!("the end of {name}"), |e| {
            e["connector"] == name
                && (e["event"] == "disconnected" || e["event"] == "connect_failed")
        });
        assert!(relay.handle.remove_connector(name, IO_TIMEOUT).unwrap());
    };

    let mut count_sub = connect(&relay.url("/sub/ab.count"));
    let started = Instant::now();
    run("count", "/getCaseCount", "ab.count", &mut status, false);
    let count: usize = next_data(&mut count_sub).to_text().unwrap().parse().unwrap();
    for case in 1..=count {
        let path = format!("/runCase?case={case}&agent=sluice");
        run(&format!("case-{case}"), &path, &format!("ab.{case}"), &mut status, true);
    }
    run("report", "/updateReports?agent=sluice", "ab.report", &mut status, false);
    eprintln!("autobahn client mode ({report}): {count} cases in {:?}", started.elapsed());

    let mut verdicts = BTreeMap::new();
    while verdicts.len() < count {
        let line = lines.recv_timeout(IO_TIMEOUT).expect("kosoku's verdicts");
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        verdicts.insert(field("id"), (field("behavior"), field("close")));
    }
    let _ = server.wait();
    if compression {
        let z = relay.stats().compression;
        eprintln!("compression: {z:?}");
        assert!(z.negotiated > 0 && z.inflated_messages > 0, "{z:?}");
    }
    relay.stop();
    verdicts
}

#[test]
fn autobahn_client_conformance() {
    watchdog(1200, || {
        if !python_has("kosoku") {
            return;
        }
        let verdicts = run_client(SECTIONS, "client", false);
        assert!(verdicts.len() > 290, "only {} cases", verdicts.len());
        let mut not_ok = Vec::new();
        for (id, (behavior, close)) in &verdicts {
            if behavior == "OK" && close == "OK" {
                continue;
            }
            let allowed = deviation_allowed(id, behavior, close);
            not_ok.push((format!("{id}: {behavior} / {close}"), allowed));
        }
        eprintln!("not OK: {not_ok:?}");
        let refused: Vec<&String> = not_ok.iter().filter(|(_, ok)| !ok).map(|(c, _)| c).collect();
        assert!(refused.is_empty(), "cases not allowed: {refused:?} (see target/autobahn/client)");
        for s in ["1.", "2.", "3.", "4.", "5.", "6.", "7.", "9.", "10."] {
            assert!(verdicts.keys().any(|k| k.starts_with(s)), "section {s} ran no case");
        }
    });
}

#[test]
fn autobahn_client_compression() {
    watchdog(1800, || {
        if !python_has("kosoku") {
            return;
        }
        let cases = util::autobahn::compression_cases();
        let ids: Vec<&str> = cases.iter().map(String::as_str).collect();
        let verdicts = run_client(&ids, "client-12-13", true);
        eprintln!("{} compression cases", verdicts.len());
        let refused: Vec<String> = verdicts
            .iter()
            .filter(|(_, (b, c))| !util::autobahn::compression_verdict_ok(b, c))
            .map(|(id, (b, c))| format!("{id}: {b} / {c}"))
            .collect();
        assert!(
            refused.is_empty(),
            "cases not allowed: {refused:?} (see target/autobahn/client-12-13)"
        );
    });
}
