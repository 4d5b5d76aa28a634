//! The browser client `sluice.js` in real headless Chromium: a page (`tests/browser/pages/`,
//! served by the relay, which serves `sluice.js` itself with the dashboard turned off) subscribes
//! to two topics through a TCP proxy the test controls. The test publishes numbered messages,
//! cuts the page's connection twice mid-stream and once restarts the relay on the same port, and
//! the page must end with every message exactly once, or missing only where it was told so by a
//! `recovery` event with `recovered: false` — never a silent hole.
//!
//! - Cut 1: the relay's replies are held in the proxy, messages are published (sent by the
//!   relay, never received), then the connection is cut: the resume must replay them.
//! - Cut 2: the page's reconnection is held at the proxy while both topics publish. `quiet`,
//!   which nothing else used, ended its stream when the page left, and a publisher starts a new
//!   one: the resume is `epoch_changed`, told to the page, which then fetches the new stream
//!   from its start (nothing lost).
//! - Restart: messages published to the old relay are held in the proxy and cut, so they are
//!   lost with the old relay's history: the page must be told (`epoch_changed`) and must then
//!   get everything the new relay published, the part before it reconnected included.
//!
//! Every wait is for an event (the page's progress, the proxy's state, the relay's counters),
//! never a sleep. `tests/run.sh` installs Chromium, node and the npm package; without them the
//! test fails under `CI=true` and is skipped (with a message) otherwise.

mod util;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sluice::config::{HistoryConfig, TopicConfig};
use sluice::Config;
use tungstenite::Message;
use util::browser::{prerequisites, Driver};
use util::proxy::{Direction, Proxy};
use util::{connect, watchdog, Raw, Relay, Ws};

const STEP_TIMEOUT: Duration = Duration::from_secs(120);

fn config(listen: SocketAddr) -> Config {
    let mut config = Config { listen, ..Config::default() };
    config.metrics.dashboard = false;
    config.web.static_dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/pages"));
    config.topics = vec![TopicConfig {
        pattern: "*".into(),
        history: HistoryConfig { size: 10_000, ttl: Duration::from_secs(600) },
        max_recovery: 10_000,
        ..Default::default()
    }];
    config
}

/// A publisher of numbered messages (`1`, `2`, … as JSON numbers) on one topic.
struct Numbers {
    ws: Ws,
    next: u64,
}

impl Numbers {
    fn new(relay: &Relay, topic: &str, first: u64) -> Numbers {
        Numbers { ws: connect(&relay.url(&format!("/pub/{topic}"))), next: first }
    }

    /// Publish up to and including `last`.
    fn to(&mut self, last: u64) {
        while self.next <= last {
            self.ws.send(Message::text(self.next.to_string())).unwrap();
            self.next += 1;
        }
    }

    fn close(mut self) {
        self.ws.close(None).unwrap();
        while self.ws.read().is_ok() {}
    }
}

/// Wait until the page has the message numbered `n` (or a later one) of `topic`.
fn wait(driver: &mut Driver, topic: &str, n: u64) {
    driver.send(&format!("WAIT {topic} {n}"));
    assert_eq!(driver.expect("HAVE ", STEP_TIMEOUT), format!("{topic} {n}"));
}

#[test]
fn the_page_ends_with_every_message_once_or_told_what_it_lost() {
    if !prerequisites() {
        return;
    }
    watchdog(400, || {
        let relay = Relay::start_with(config("127.0.0.1:0".parse().unwrap()));
        let addr = relay.addr;
        // The client is served with the dashboard turned off.
        let (status, head) =
            Raw::http(addr, b"GET /_sluice/sluice.js HTTP/1.1\r\nHost: relay\r\n\r\n");
        assert_eq!(status, 200, "{head}");
        assert!(head.to_lowercase().contains("content-type: text/javascript"), "{head}");
        assert_eq!(Raw::http(addr, b"GET / HTTP/1.1\r\nHost: relay\r\n\r\n").0, 404);

        let proxy = Proxy::start(Some(addr));
        let page = format!("http://{}/app/sluice_js.html?topics=numbers,quiet", proxy.addr);
        let mut driver = Driver::start("sluice_js.mjs", &[&page]);
        driver.expect("READY", STEP_TIMEOUT);
        let mut numbers = Numbers::new(&relay, "numbers", 1);
        numbers.to(500);
        wait(&mut driver, "numbers", 500);

        // Cut 1: messages in flight (sent by the relay, held in the proxy) die with the
        // connection; the page reconnects at once and resumes.
        proxy.pause(Direction::Replies);
        let held = proxy.held_bytes();
        numbers.to(1000);
        proxy.wait_for("messages in flight", |now, _| now > held);
        proxy.cut();
        proxy.resume();
        numbers.to(1500);
        wait(&mut driver, "numbers", 1500);

        // Cut 2: the page is kept away while both topics publish. `quiet` had only the page:
        // its stream ends when the page's connection does, and a publisher starts a new one.
        proxy.close_gate();
        proxy.cut();
        relay.wait_stats("the page's subscriptions gone", |s| s.topics == 1);
        numbers.to(2000);
        let mut quiet = Numbers::new(&relay, "quiet", 1);
        quiet.to(100);
        relay.wait_stats("the publishes", |s| s.messages_in == 2100);
        proxy.open_gate(addr);
        wait(&mut driver, "numbers", 2000);
        wait(&mut driver, "quiet", 100);

        // Restart: 2001..=2100 reach the old relay (and its history) but never the page.
        proxy.pause(Direction::Replies);
        let held = proxy.held_bytes();
        numbers.to(2100);
        relay.wait_stats("the publishes", |s| s.messages_in == 2200);
        proxy.wait_for("messages in flight", |now, _| now > held);
        proxy.close_gate();
        proxy.cut();
        proxy.resume();
        numbers.close();
        quiet.close();
        relay.stop();
        let relay = Relay::start_with(config(addr));
        assert_eq!(relay.addr, addr, "the same port");
        let mut numbers = Numbers::new(&relay, "numbers", 2101);
        let mut quiet = Numbers::new(&relay, "quiet", 101);
        numbers.to(2300);
        quiet.to(150);
        relay.wait_stats("the publishes", |s| s.messages_in == 250);
        proxy.open_gate(addr);
        numbers.to(2500);
        wait(&mut driver, "numbers", 2500);
        wait(&mut driver, "quiet", 150);

        driver.send("REPORT");
        let report: Value =
            serde_json::from_str(&driver.expect("LOG ", STEP_TIMEOUT)).expect("the log");
        driver.finish();
        check(&report);
        numbers.close();
        quiet.close();
        relay.stop();
    });
}

/// A stretch of numbers the page did not get, and what it was told before the next message.
#[derive(Debug, PartialEq)]
struct Hole {
    from: u64,
    to: u64,
    told: Option<String>,
}

/// Check the page's log: per topic, every number once and in order, or missing right after an
/// event that said so (`recovery` with `recovered:false`, or a `gap`).
fn check(report: &Value) {
    let log = report["log"].as_array().expect("events");
    let mut next: HashMap<&str, u64> = HashMap::new();
    let mut told: HashMap<&str, String> = HashMap::new();
    let mut holes: HashMap<&str, Vec<Hole>> = HashMap::new();
    let mut recoveries: HashMap<&str, Vec<String>> = HashMap::new();
    for ev in log {
        let topic = ev["topic"].as_str().unwrap_or_default();
        match ev["e"].as_str().unwrap() {
            "message" => {
                let n = ev["n"].as_u64().expect("a numbered message");
                let expect = next.entry(topic).or_insert(1);
                assert!(n >= *expect, "{topic}: {n} again (after {}): a duplicate", *expect - 1);
                let said = told.remove(topic);
                if n > *expect {
                    holes.entry(topic).or_default().push(Hole {
                        from: *expect,
                        to: n - 1,
                        told: said,
                    });
                }
                *expect = n + 1;
            }
            "recovery" => {
                let r = if ev["recovered"] == true {
                    "recovered".to_string()
                } else {
                    let reason = ev["reason"].as_str().unwrap().to_string();
                    told.insert(topic, reason.clone());
                    format!("{reason}{}", if ev["refill"] == true { " refill" } else { "" })
                };
                recoveries.entry(topic).or_default().push(r);
            }
            "gap" => {
                told.insert(topic, ev["reason"].as_str().unwrap().to_string());
            }
            "error" => panic!("an error event: {ev}"),
            _ => {}
        }
    }
    for (topic, holes) in &holes {
        for h in holes {
            assert!(h.told.is_some(), "{topic}: a silent hole: {h:?}");
        }
    }
    eprintln!("holes: {holes:?}\nrecoveries: {recoveries:?}\nstats: {}", report["stats"]);
    assert_eq!((next["numbers"], next["quiet"]), (2501, 151));
    // The one loss: what the old relay had that the page never got, told as such.
    let lost = Hole { from: 2001, to: 2100, told: Some("epoch_changed".into()) };
    assert_eq!(holes.get("numbers"), Some(&vec![lost]));
    assert_eq!(holes.get("quiet"), None, "nothing of `quiet` was lost");
    assert_eq!(
        recoveries["numbers"],
        ["recovered", "recovered", "epoch_changed refill", "recovered"],
        "cut 1, cut 2, the restart and the new stream from its start"
    );
    // `quiet`: its stream ends whenever the page is away (nothing else uses it); the relay
    // remembers how it ended, so the page, which had all of it, resumes into the next one
    // (cuts 1 and 2). Only the restarted relay has no memory of it: a new stream, fetched from
    // its start.
    let quiet = &recoveries["quiet"];
    assert!(quiet.iter().all(|r| r == "recovered" || r.starts_with("epoch_changed")), "{quiet:?}");
    assert_eq!(quiet.iter().filter(|r| *r == "epoch_changed refill").count(), 1, "{quiet:?}");
    assert_eq!(report["stats"]["duplicates"], 0, "the relay sent no duplicate");
    let opens = log.iter().filter(|e| e["e"] == "state" && e["state"] == "open").count();
    assert_eq!(opens, 4, "the first connection, two cuts, one restart");
}
