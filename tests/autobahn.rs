//! Conformance: the Autobahn TestSuite case files (run by `kosoku`, which tests/run.sh
//! installs) against Sluice's `/echo`.
//!
//! Required: every case of sections 1–7, 9 and 10 passes: `OK`, or `NON-STRICT` /
//! `INFORMATIONAL` only where tungstenite itself gets the same verdict (checked here against
//! an echo server built on tungstenite, run side by side); the permessage-deflate sections 12
//! and 13 pass (`OK`, clean close) with the extension negotiated: by default a representative
//! subset of them, all 216 with `AUTOBAHN_DEFLATE=full` (see `util::autobahn::compression_cases`).
//! Reports are written to `target/autobahn/`.

mod util;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;

use tungstenite::protocol::WebSocketConfig;
use util::autobahn::deviation_allowed;
use util::upstream::python_has;
use util::{watchdog, Relay};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    behavior: String,
    close: String,
}

fn run_cases(url: &str, report: &str, cases: &[&str]) -> BTreeMap<String, Verdict> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(util::python::python())
        .arg(dir.join("tests/autobahn/drive.py"))
        .arg(url)
        .arg(dir.join("target/autobahn").join(report))
        .args(cases)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "kosoku failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut verdicts = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        verdicts
            .insert(field("id"), Verdict { behavior: field("behavior"), close: field("close") });
    }
    verdicts
}

/// An echo server built on tungstenite alone: the reference for the allowed deviations.
fn tungstenite_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let config = WebSocketConfig::default().max_message_size(Some(64 << 20));
                let Ok(mut ws) = tungstenite::accept_with_config(stream, Some(config)) else {
                    return;
                };
                while let Ok(msg) = ws.read() {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn section(id: &str) -> u32 {
    id.split('.').next().and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn autobahn_conformance() {
    watchdog(900, || {
        if !python_has("kosoku") {
            return;
        }
        // Section 9 sends messages of up to 16 MiB, some in 64-byte fragments.
        let mut config = util::test_config();
        config.limits.max_message_size = 20 << 20;
        config.limits.max_frame_size = 20 << 20;
        config.limits.max_queued_bytes = 64 << 20;
        config.limits.max_fragments = 1 << 20;
        let relay = Relay::start_with(config);
        let url = relay.url("/echo");
        let started = std::time::Instant::now();
        let mut verdicts =
            run_cases(&url, "sluice", &["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"]);
        let core = started.elapsed();
        verdicts.extend(run_cases(&url, "sluice-9", &["9.*"]));
        let nine = started.elapsed() - core;
        let cases = util::autobahn::compression_cases();
        let ids: Vec<&str> = cases.iter().map(String::as_str).collect();
        let compression = run_cases(&url, "sluice-12-13", &ids);
        eprintln!(
            "autobahn: sections 1-7,10 in {core:?}; section 9 in {nine:?}; 12-13 in {:?}",
            started.elapsed() - core - nine
        );

        let per_section =
            |v: &BTreeMap<String, Verdict>, s: u32| v.keys().filter(|k| section(k) == s).count();
        for s in [1, 2, 3, 4, 5, 6, 7, 9, 10] {
            assert!(per_section(&verdicts, s) > 0, "section {s} ran no case");
        }
        assert!(verdicts.len() > 290, "only {} cases ran", verdicts.len());
        let mut deviations = Vec::new();
        for (id, v) in &verdicts {
            let ok = v.behavior == "OK" && v.close == "OK";
            if ok {
                continue;
            }
            let allowed = deviation_allowed(id, &v.behavior, &v.close);
            assert!(allowed, "case {id}: {v:?} (see target/autobahn/sluice)");
            deviations.push(id.clone());
        }
        // Every deviation must be tungstenite's own.
        let reference = tungstenite_echo();
        let ids: Vec<&str> = deviations.iter().map(String::as_str).collect();
        if !ids.is_empty() {
            let theirs = run_cases(&format!("ws://{reference}/"), "tungstenite", &ids);
            for id in &ids {
                assert_eq!(
                    theirs.get(*id).map(|v| &v.behavior),
                    Some(&verdicts[*id].behavior),
                    "case {id}: Sluice's verdict is not tungstenite's"
                );
            }
        }

        assert!(compression.len() >= 50, "only {} compression cases ran", compression.len());
        let mut refused = Vec::new();
        for (id, v) in &compression {
            assert!(matches!(section(id), 12 | 13), "{id}");
            if !util::autobahn::compression_verdict_ok(&v.behavior, &v.close) {
                refused.push(format!("{id}: {v:?}"));
            }
        }
        assert!(refused.is_empty(), "not OK: {refused:?} (see target/autobahn/sluice-12-13)");
        let z = relay.stats().compression;
        assert!(z.negotiated as usize >= compression.len(), "{z:?}");
        assert!(z.compressed_messages > 0 && z.inflated_messages > 0, "{z:?}");
        assert_eq!(relay.stats().upgrades as usize, verdicts.len() + compression.len());
    });
}
