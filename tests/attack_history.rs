//! Attacks on the delivery features' memory: clients that publish to thousands of topics
//! (each would keep a history), and subscribers that never read under the `skip` and `latest`
//! policies. History is bounded by `limits.max_history_bytes` (oldest evicted first, counted),
//! a behind subscriber by its queue's bound and `max_keys`; the relay's memory stays bounded
//! and a bystander loses nothing.

mod util;

use std::io::Write;

use serde_json::json;
use tungstenite::Message;
use util::attack::{during, rss_kib, Bystander};
use util::{connect, watchdog, Binary};

fn config_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-attack-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
    path
}

/// `GET /metrics` and the value of one sample.
fn metric(addr: std::net::SocketAddr, name: &str) -> u64 {
    let mut raw = util::Raw::connect(addr);
    raw.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let text = String::from_utf8_lossy(&raw.read_to_end()).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[test]
fn thousands_of_topics_with_history_stay_within_the_history_bound() {
    watchdog(240, || {
        let path = config_file(
            "names.toml",
            "[limits]\nmax_history_bytes = \"8MiB\"\n[[topic]]\nmatch = \"*\"\nhistory = { size = 100, ttl = \"1h\" }\n",
        );
        let mut bin = Binary::start(&["--config", path.to_str().unwrap()]);
        let mut bystander = Bystander::start(bin.addr);
        bystander.assert_flowing("before the attack");
        let base = rss_kib(bin.pid());
        let bound = base + 48 * 1024;
        let addr = bin.addr;
        during(&mut bin, &mut bystander, bound, 2, |t| {
            // 1,000 topics per thread, 100 messages of 2 KiB each: 400 MiB of history asked for.
            let payload = "x".repeat(2048);
            for j in 0..1000 {
                let mut p = connect(&format!("ws://{addr}/pub/n{t}-{j}"));
                for _ in 0..100 {
                    p.send(Message::text(payload.clone())).unwrap();
                }
                p.close(None).unwrap();
                while p.read().is_ok() {}
            }
        });
        let held = metric(bin.addr, "sluice_history_bytes");
        assert!(held <= 8 << 20, "history holds {held} bytes, over its 8 MiB bound");
    });
}

#[test]
fn never_reading_subscribers_under_skip_and_latest_stay_bounded() {
    watchdog(240, || {
        let path = config_file(
            "policies.toml",
            "[limits]\nmax_queued_bytes = \"1MiB\"\n\
             [[topic]]\nmatch = \"skip.*\"\nslow = \"skip\"\n\
             [[topic]]\nmatch = \"latest.*\"\nslow = \"latest\"\nkey = \".k\"\nmax_keys = 1000\n",
        );
        let mut bin = Binary::start(&["--config", path.to_str().unwrap()]);
        let mut bystander = Bystander::start(bin.addr);
        bystander.assert_flowing("before the attack");
        let addr = bin.addr;
        // 20 subscribers that never read, on each policy.
        let _stalled: Vec<util::Raw> = (0..20)
            .flat_map(|i| {
                [
                    util::envelope::raw(addr, &format!("/sub/skip.{}", i % 2)),
                    util::envelope::raw(addr, &format!("/sub/latest.{}", i % 2)),
                ]
            })
            .collect();
        let base = rss_kib(bin.pid());
        // Each stalled subscriber may hold its 1 MiB queue (plus what its socket holds) and, under
        // `latest`, its held values (bounded by the same byte bound).
        let bound = base + 40 * 2 * 1024 + 32 * 1024;
        during(&mut bin, &mut bystander, bound, 2, |t| {
            let topic = if t == 0 { "skip" } else { "latest" };
            let mut p = connect(&format!("ws://{addr}/pub/{topic}.{}", t % 2));
            let pad = "p".repeat(1000);
            for i in 0..60_000 {
                let m = json!({"k": i % 5000, "pad": pad}).to_string();
                p.send(Message::text(m)).unwrap();
            }
        });
        let closes = "sluice_connections_closed_total{reason=\"slow_consumer\"}";
        assert!(metric(addr, closes) > 0, "max_keys closes the latest ones");
    });
}
