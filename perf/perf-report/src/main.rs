//! `perf-report RUN_DIR`: read the `manifest.tsv` that `perf/run.sh` writes (one line per
//! measurement: `scenario<TAB>server<TAB>file`), and print one Markdown report: the table
//! (server × scenario: p50/p99/p99.9/max µs from the intended send time, delivered throughput,
//! loss), the ratios Sluice/baseline and Sluice/floor, and each target of issue #3 checked.
//!
//! A file is a `sluice-bench --json` result, or (server `probe`) the probe's one-line JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

struct Row {
    scenario: String,
    server: String,
    v: Value,
}

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64().unwrap_or(f64::NAN)
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0} k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A latency in µs: one decimal below 100 µs, whole µs below 10 ms, then milliseconds.
fn lat(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v >= 10_000.0 {
        format!("{:.1} ms", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_nan() || b.is_nan() || b == 0.0 {
        "–".into()
    } else if a / b < 0.1 {
        format!("{:.3}", a / b)
    } else {
        format!("{:.2}", a / b)
    }
}

fn main() {
    let dir: PathBuf = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        eprintln!("usage: perf-report RUN_DIR");
        std::process::exit(2)
    });
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).unwrap_or_else(|e| {
        eprintln!("perf-report: cannot read {}/manifest.tsv: {e}", dir.display());
        std::process::exit(2)
    });
    let mut rows = Vec::new();
    for line in manifest.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 {
            continue;
        }
        let v = read(&dir, f[2]);
        rows.push(Row { scenario: f[0].into(), server: f[1].into(), v });
    }
    print!("{}", report(&rows));
}

fn read(dir: &Path, file: &str) -> Value {
    let path = dir.join(file);
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| {
            serde_json::from_str(t.lines().last().unwrap_or(""))
                .ok()
                .or_else(|| serde_json::from_str(&t).ok())
        })
        .unwrap_or(Value::Null)
}

fn report(rows: &[Row]) -> String {
    let mut o = String::new();
    let _ =
        writeln!(o, "| scenario | server | p50 | p99 | p99.9 | max | delivered/s | lost | notes |");
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|---|");
    // scenario -> server -> row
    let mut by: BTreeMap<&str, BTreeMap<&str, &Value>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for r in rows {
        if !order.contains(&r.scenario.as_str()) {
            order.push(&r.scenario);
        }
        by.entry(&r.scenario).or_default().insert(&r.server, &r.v);
        let v = &r.v;
        if r.server == "probe" {
            let _ = writeln!(
                o,
                "| {} | probe | {} | {} | {} | {} | | | independent probe (actual send time) |",
                r.scenario,
                lat(num(v, &["p50_us"])),
                lat(num(v, &["p99_us"])),
                lat(num(v, &["p999_us"])),
                lat(num(v, &["max_us"]))
            );
            continue;
        }
        if v.is_null() {
            let _ =
                writeln!(o, "| {} | {} | | | | | | | no result (failed) |", r.scenario, r.server);
            continue;
        }
        if !v["idle"].is_null() {
            let _ = writeln!(
                o,
                "| {} | {} | | | | | | | {} conns, {:.0} B RSS per connection |",
                r.scenario,
                r.server,
                num(v, &["idle", "connections"]),
                num(v, &["idle", "bytes_per_connection"])
            );
            continue;
        }
        let errors = v["errors"].as_array().map_or(0, Vec::len);
        let lag = num(v, &["send_lag", "p99"]);
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | send lag p99 {}{} |",
            r.scenario,
            r.server,
            lat(num(v, &["latency", "p50"])),
            lat(num(v, &["latency", "p99"])),
            lat(num(v, &["latency", "p999"])),
            lat(num(v, &["latency", "max"])),
            fmt(num(v, &["rates", "delivered"])),
            num(v, &["counts", "lost"]),
            lat(lag),
            if errors > 0 { format!("; {errors} errors") } else { String::new() }
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "Ratios (Sluice ÷ other; below 1 means Sluice is faster or smaller, above 1 for throughput means Sluice delivers more):\n");
    let _ = writeln!(o, "| scenario | p50 ÷ tokio | p99 ÷ tokio | p50 ÷ floor | p99 ÷ floor | delivered/s ÷ tokio | delivered/s ÷ floor | RSS/conn ÷ tokio | RSS/conn ÷ floor |");
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in &order {
        let m = &by[s];
        let Some(sl) = m.get("sluice") else { continue };
        let get = |server: &str, path: &[&str]| m.get(server).map_or(f64::NAN, |v| num(v, path));
        let mine = |path: &[&str]| num(sl, path);
        let _ = writeln!(
            o,
            "| {s} | {} | {} | {} | {} | {} | {} | {} | {} |",
            ratio(mine(&["latency", "p50"]), get("tokio", &["latency", "p50"])),
            ratio(mine(&["latency", "p99"]), get("tokio", &["latency", "p99"])),
            ratio(mine(&["latency", "p50"]), get("floor", &["latency", "p50"])),
            ratio(mine(&["latency", "p99"]), get("floor", &["latency", "p99"])),
            ratio(mine(&["rates", "delivered"]), get("tokio", &["rates", "delivered"])),
            ratio(mine(&["rates", "delivered"]), get("floor", &["rates", "delivered"])),
            ratio(
                mine(&["idle", "bytes_per_connection"]),
                get("tokio", &["idle", "bytes_per_connection"])
            ),
            ratio(
                mine(&["idle", "bytes_per_connection"]),
                get("floor", &["idle", "bytes_per_connection"])
            ),
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "Targets (issue #3):\n");
    for s in &order {
        let m = &by[s];
        let (Some(sl), Some(fl)) = (m.get("sluice"), m.get("floor")) else { continue };
        if s.starts_with("pubsub") {
            let p50 = num(sl, &["latency", "p50"]) / num(fl, &["latency", "p50"]);
            let p99 = num(sl, &["latency", "p99"]) / num(fl, &["latency", "p99"]);
            let lost = num(sl, &["counts", "lost"]);
            let ok = p50 <= 1.1 && p99 <= 1.1 && lost == 0.0;
            let _ = writeln!(
                o,
                "- {s}: Sluice p50 {p50:.2}× and p99 {p99:.2}× the floor, {lost} lost (target ≤ 1.1×, 0 lost): **{}**",
                if ok { "met" } else { "missed" }
            );
        }
        if s == &"flood-1-1" {
            let d = num(sl, &["rates", "delivered"]);
            let _ = writeln!(
                o,
                "- {s}: Sluice delivers {} msg/s (target ≥ 1 M/s): **{}**",
                fmt(d),
                if d >= 1e6 { "met" } else { "missed" }
            );
        }
        if s == &"flood-1-10" {
            if let Some(tk) = m.get("tokio") {
                let r = num(sl, &["rates", "delivered"]) / num(tk, &["rates", "delivered"]);
                let _ = writeln!(
                    o,
                    "- {s}: Sluice delivers {r:.1}× the tokio baseline (target ≥ 5×): **{}**",
                    if r >= 5.0 { "met" } else { "missed" }
                );
            }
        }
        if s.starts_with("idle") {
            let b = num(sl, &["idle", "bytes_per_connection"]);
            let _ = writeln!(
                o,
                "- {s}: Sluice uses {b:.0} B RSS per idle connection (target ≤ 1024 B): **{}**",
                if b <= 1024.0 { "met" } else { "missed" }
            );
        }
    }
    for s in &order {
        let m = &by[s];
        if let (Some(pr), Some(fl)) = (m.get("probe"), m.get("floor")) {
            let bench = num(fl, &["latency_actual", "p50"]);
            let probe = num(pr, &["p50_us"]);
            let diff = (bench - probe).abs() / probe;
            let _ = writeln!(
                o,
                "- {s}: sluice-bench p50 on the floor (from actual send time) {bench:.1} µs vs the independent probe {probe:.1} µs: {:.0}% apart (target ≤ 30%): **{}**",
                diff * 100.0,
                if diff <= 0.3 { "met" } else { "missed" }
            );
        }
        if let Some(fl) = m.get("floor") {
            if s.starts_with("pubsub") {
                let lag = num(fl, &["send_lag", "p99"]);
                let rate = num(fl, &["rates", "sent"]) / num(fl, &["rates", "offered"]);
                let _ = writeln!(o, "- {s}: sluice-bench sent {:.1}% of the offered rate on the floor, send lag p99 {lag:.1} µs", rate * 100.0);
            }
        }
    }
    o
}
