//! Sluice's windows against Apache Flink itself: generated event streams (several keys,
//! out-of-order jitter, events beyond the allowed lateness, negative timestamps, window
//! offsets) go through Flink's DataStream API (`tests/flink/WindowJob.java`, compiled here
//! against the jars of the `apache-flink` Python wheel and run in a local mini cluster) and
//! through `sluice replay` with 1 and 4 worker instances. Every result — each firing, late
//! re-firings included — and every late event must be the same, key by key, in the same order.
//!
//! One JVM run covers every case (JVM and mini-cluster start-up dominate). Needs `java`,
//! `javac` and Flink's jars: `FLINK_LIB`, or the `pyflink/lib` directory of the installed
//! `apache-flink` package (`tests/run.sh` installs both). Without them the test is skipped,
//! except under `CI=true`, where it fails.

mod util;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use util::flink::{flink_lib, java_tools};
use util::watchdog;
use util::windows::{cases, config, generate, Case};

const JOB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/flink/WindowJob.java");

/// Compile the Flink job into `dir` unless the classes are already there for this source.
fn compile(lib: &Path, dir: &Path) -> PathBuf {
    let classes = dir.join("classes");
    let source = std::fs::read(JOB).unwrap();
    let stamp = dir.join("source.stamp");
    let digest = format!(
        "{:x}",
        source.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    );
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(digest.as_str())
        && classes.join("WindowJob.class").exists()
    {
        return classes;
    }
    let _ = std::fs::remove_dir_all(&classes);
    let out = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg("-cp")
        .arg(format!("{}/*", lib.display()))
        .arg(JOB)
        .output()
        .expect("run javac");
    assert!(out.status.success(), "javac failed:\n{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(stamp, digest).unwrap();
    classes
}

/// (results, late events) per key, each in order.
#[derive(Debug, Default, PartialEq)]
struct Outcome {
    results: BTreeMap<String, Vec<Value>>,
    late: BTreeMap<String, Vec<String>>,
}

/// Numbers compared as numbers (`3` and `3.0` are equal; Java prints doubles with `.0`).
fn normalize(v: Value) -> Value {
    match v {
        Value::Number(n) => Value::from(n.as_f64().unwrap()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        other => other,
    }
}

fn add_result(o: &mut Outcome, line: &str) {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let key = v["key"].to_string();
    o.results.entry(key).or_default().push(normalize(v));
}

fn add_late(o: &mut Outcome, line: &str) {
    let v: Value = serde_json::from_str(line).unwrap();
    o.late.entry(v["k"].to_string()).or_default().push(line.to_string());
}

fn replay(config: &Path, case: &Case, input: &Path, workers: usize, dir: &Path) -> Outcome {
    let (out, late) = (
        dir.join(format!("{}.{workers}.out", case.id)),
        dir.join(format!("{}.{workers}.late", case.id)),
    );
    let status = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["replay", "--pipeline", &case.id, "--workers", &workers.to_string()])
        .arg("--config")
        .arg(config)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(&out)
        .arg("--late")
        .arg(&late)
        .status()
        .expect("run sluice replay");
    assert!(status.success(), "sluice replay {}", case.id);
    let mut o = Outcome::default();
    for line in std::fs::read_to_string(out).unwrap().lines() {
        add_result(&mut o, line);
    }
    for line in std::fs::read_to_string(late).unwrap().lines() {
        add_late(&mut o, line);
    }
    o
}

#[test]
fn windows_match_apache_flink() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let lib = match java_tools().and_then(|()| flink_lib()) {
        Ok(lib) => lib,
        Err(why) if ci => panic!("the Flink conformance test needs Java and Flink: {why}"),
        Err(why) => {
            eprintln!("skipping the Flink conformance test: {why} (tests/run.sh installs it)");
            return;
        }
    };
    watchdog(900, move || {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flink-conformance");
        std::fs::create_dir_all(&dir).unwrap();
        let classes = compile(&lib, &dir);
        let cases = cases();
        let mut spec = String::new();
        for (i, c) in cases.iter().enumerate() {
            let input = dir.join(format!("{}.jsonl", c.id));
            std::fs::write(&input, generate(c, 0x5eed + i as u64)).unwrap();
            let (slide, offset) = (c.slide, c.offset);
            writeln!(
                spec,
                "{}\t{}\t{}\t{slide}\t{offset}\t{}\t{}\t{}",
                c.id,
                c.kind,
                c.size,
                c.ooo,
                c.lateness,
                input.display()
            )
            .unwrap();
        }
        let cases_file = dir.join("cases.tsv");
        std::fs::write(&cases_file, spec).unwrap();
        let config_file = dir.join("conformance.toml");
        std::fs::write(&config_file, config(&cases, |id| format!("late.{id}"))).unwrap();

        let flink_out = dir.join("flink.tsv");
        let started = std::time::Instant::now();
        let out = Command::new("java")
            .args(["-Xmx1g", "-XX:+UseSerialGC"])
            .args([
                "--add-opens=java.base/java.util=ALL-UNNAMED",
                "--add-opens=java.base/java.lang=ALL-UNNAMED",
            ])
            .arg("-cp")
            .arg(format!("{}/*:{}", lib.display(), classes.display()))
            .arg("WindowJob")
            .arg(&cases_file)
            .arg(&flink_out)
            .output()
            .expect("run java");
        assert!(
            out.status.success(),
            "the Flink job failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .join("\n")
        );
        eprintln!("Flink ran {} cases in {:.1} s", cases.len(), started.elapsed().as_secs_f64());

        let mut flink: BTreeMap<String, Outcome> = BTreeMap::new();
        for line in std::fs::read_to_string(&flink_out).unwrap().lines() {
            let mut parts = line.splitn(3, '\t');
            let (id, kind, body) =
                (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
            let o = flink.entry(id.to_string()).or_default();
            match kind {
                "R" => add_result(o, body),
                _ => add_late(o, body),
            }
        }
        let (mut firings, mut updates, mut late) = (0, 0, 0);
        for c in &cases {
            let input = dir.join(format!("{}.jsonl", c.id));
            let want = flink.remove(&c.id).unwrap_or_default();
            let n: usize = want.results.values().map(Vec::len).sum();
            assert!(n > 0, "{}: Flink produced no result", c.id);
            firings += n;
            updates +=
                want.results.values().flatten().filter(|v| v.get("update").is_some()).count();
            late += want.late.values().map(Vec::len).sum::<usize>();
            for workers in [1, 4] {
                let got = replay(&config_file, c, &input, workers, &dir);
                for (key, expected) in &want.results {
                    let actual = got.results.get(key).cloned().unwrap_or_default();
                    let first_diff = expected.iter().zip(&actual).position(|(a, b)| a != b);
                    assert!(
                        expected == &actual,
                        "{} ({workers} workers), key {key}: {} results from Flink, {} from Sluice; \
                         first difference at #{first_diff:?}:\nFlink:  {}\nSluice: {}",
                        c.id,
                        expected.len(),
                        actual.len(),
                        first_diff.map_or(String::new(), |i| expected[i].to_string()),
                        first_diff.map_or(String::new(), |i| actual[i].to_string()),
                    );
                }
                assert_eq!(got.results.len(), want.results.len(), "{}: keys with results", c.id);
                assert_eq!(got.late, want.late, "{} ({workers} workers): late events", c.id);
            }
        }
        eprintln!(
            "{firings} window results ({updates} late updates) and {late} late events identical"
        );
        assert!(updates > 50 && late > 50, "the generated cases must exercise lateness");
    });
}
