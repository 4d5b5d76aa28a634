//! The Flink example (examples/flink): `run.sh` builds the connector and runs
//! `PageViewWindows` with 3,000 generated page views (bounded, as fast as it can); Flink's
//! one-second tumbling windows count them per page and `SluiceSink` publishes each count to the
//! real relay. A subscriber must get all 150 results (30 windows × 5 pages), each with the count
//! the generator's shares give, and the example's page, open in headless Chromium and
//! subscribed before the job starts, must show the last window's counts.

mod util;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use util::flink::{flink, Job};
use util::{connect, next_data, watchdog, Binary};

const EVENTS: u64 = 3_000;
const PAGES: u64 = 5;
/// The generator's shares of each second's 100 views (PageViewWindows.SHARES): share `b` of
/// window `w` goes to page `(b + w) % 5`.
const SHARES: [u64; 5] = [40, 25, 15, 12, 8];

fn expected(page: u64, window: u64) -> u64 {
    SHARES[((page + PAGES - window % PAGES) % PAGES) as usize]
}

/// Chromium and playwright-core (installed for the dashboard test), or why not.
fn browser() -> Result<(), String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let root = env!("CARGO_MANIFEST_DIR");
    if !Path::new(&chromium).exists() {
        return Err(format!("{chromium} is missing"));
    }
    if !Path::new(root).join("tests/browser/node_modules/playwright-core").exists() {
        return Err("tests/browser/node_modules/playwright-core is missing".into());
    }
    Ok(())
}

#[test]
fn the_example_pushes_flink_windows_to_a_subscriber_and_its_page() {
    watchdog(600, || {
        let Some(_) = flink() else { return };
        let root = env!("CARGO_MANIFEST_DIR");
        let relay = Binary::start(&[]);
        let mut sub = connect(&format!("ws://{}/sub/pageviews.per-second", relay.addr));

        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flink-example");
        std::fs::create_dir_all(&out).unwrap();
        let shot = out.join("page.png");
        let page = match browser() {
            Ok(()) => {
                let url =
                    format!("file://{root}/examples/flink/index.html?relay=ws://{}", relay.addr);
                let mut node = Command::new("node")
                    .arg(format!("{root}/tests/flink/example_page.mjs"))
                    .args([url.as_str(), shot.to_str().unwrap()])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("start node");
                let (tx, rx) = mpsc::channel();
                let stdout = node.stdout.take().unwrap();
                std::thread::spawn(move || {
                    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                        let _ = tx.send(line);
                    }
                });
                let ready = rx.recv_timeout(Duration::from_secs(90)).expect("the page driver");
                assert_eq!(ready, "READY", "the page did not subscribe");
                Some((node, rx))
            }
            Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("the example test needs a browser: {why} (tests/run.sh installs it)")
            }
            Err(why) => {
                eprintln!("SKIPPED the page check: {why}; run tests/run.sh");
                None
            }
        };

        let mut cmd = Command::new(format!("{root}/examples/flink/run.sh"));
        cmd.args(["--relay", &format!("ws://{}", relay.addr)]).args([
            "--events",
            &EVENTS.to_string(),
            "--rate",
            "0",
        ]);
        let end = Job::spawn(cmd).wait(300);
        assert!(end.status.success(), "the example failed:\n{}", end.stderr_tail(40));

        let mut windows: BTreeMap<u64, Vec<(i64, u64)>> = BTreeMap::new();
        for _ in 0..EVENTS / 100 * PAGES {
            let v: Value = serde_json::from_str(next_data(&mut sub).to_text().unwrap()).unwrap();
            let (start, end) =
                (v["window_start"].as_i64().unwrap(), v["window_end"].as_i64().unwrap());
            assert_eq!(end - start, 1000, "one-second windows: {v}");
            let page = v["page"].as_str().unwrap().strip_prefix("/p").unwrap().parse().unwrap();
            windows.entry(page).or_default().push((start, v["views"].as_u64().unwrap()));
        }
        assert_eq!(windows.len() as u64, PAGES);
        let t0 = windows.values().map(|r| r[0].0).min().unwrap();
        for (page, results) in &windows {
            assert_eq!(results.len() as u64, EVENTS / 100, "/p{page}: one result per window");
            for &(start, views) in results {
                let w = ((start - t0) / 1000) as u64;
                assert_eq!(views, expected(*page, w), "/p{page}, window {w}: {results:?}");
            }
        }
        let last: Vec<String> =
            (0..PAGES).map(|p| format!("/p{p}={}", expected(p, EVENTS / 100 - 1))).collect();

        if let Some((mut node, rx)) = page {
            writeln!(node.stdin.as_mut().unwrap(), "EXPECT {}", last.join(",")).unwrap();
            let line = rx.recv_timeout(Duration::from_secs(90)).expect("the page driver");
            assert_eq!(line, "SHOWN", "the page did not show the results");
            let saved = rx.recv_timeout(Duration::from_secs(90)).expect("the screenshot");
            assert!(saved.starts_with("SCREENSHOT "), "{saved}");
            assert!(node.wait().unwrap().success());
            eprintln!("the example page with the results: {}", shot.display());
        }
        eprintln!(
            "example: {} window results as generated; last window {last:?}",
            EVENTS / 100 * PAGES
        );
    });
}
