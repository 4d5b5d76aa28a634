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
use util::watchdog;

const JOB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/flink/WindowJob.java");

/// One window configuration and its generated input.
struct Case {
    id: String,
    kind: &'static str,
    size: i64,
    slide: i64,
    offset: i64,
    ooo: i64,
    lateness: i64,
    keys: usize,
    events: usize,
    /// Per mille of events thrown far back in time (beyond any lateness).
    very_late: u64,
    /// Timestamps are multiples of this: a coarse grain makes events land exactly on window
    /// boundaries and watermarks exactly on window ends, where off-by-one mistakes show.
    grain: i64,
}

fn cases() -> Vec<Case> {
    let c = |id: &str, kind, size, slide, offset, ooo, lateness, keys, very_late, grain| Case {
        id: id.to_string(),
        kind,
        size,
        slide,
        offset,
        ooo,
        lateness,
        keys,
        events: 1500,
        very_late,
        grain,
    };
    vec![
        c("tumbling", "tumbling", 1000, 0, 0, 0, 0, 6, 30, 1),
        c("tumbling_on_the_edges", "tumbling", 100, 0, 0, 20, 50, 3, 30, 10),
        c("tumbling_offset_lateness", "tumbling", 1000, 0, 250, 200, 500, 5, 30, 10),
        c("tumbling_negative_offset", "tumbling", 700, 0, -300, 50, 2000, 7, 40, 1),
        c("sliding", "sliding", 3000, 1000, 0, 100, 0, 4, 30, 10),
        c("sliding_uneven_lateness", "sliding", 1000, 300, 100, 0, 700, 5, 30, 1),
        c("sliding_negative_offset", "sliding", 500, 500, -100, 20, 300, 3, 30, 10),
        c("sliding_on_the_edges", "sliding", 200, 50, 0, 30, 100, 3, 30, 10),
        c("session", "session", 300, 0, 0, 0, 0, 6, 20, 1),
        c("session_lateness", "session", 150, 0, 0, 100, 1000, 4, 30, 10),
        c("session_jumbled", "session", 50, 0, 0, 300, 200, 8, 40, 1),
        c("session_on_the_edges", "session", 40, 0, 0, 20, 60, 3, 30, 10),
        c("count", "count", 3, 0, 0, 0, 0, 5, 0, 1),
        c("count_one", "count", 1, 0, 0, 0, 0, 2, 0, 1),
    ]
}

/// A small deterministic generator (PCG-style LCG).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 =
            self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// JSON lines: time mostly moves forward from a negative start, with jitter across the
/// out-of-orderness and the allowed lateness, some events far back, prices in quarters (sums are exact in binary
/// floating point, so merge order cannot change them), `qty` missing or `null` at times.
fn generate(case: &Case, seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut base: i64 = -5_000;
    let mut out = String::new();
    for seq in 0..case.events {
        base += rng.below(40) as i64;
        // Up to 1.3× (out-of-orderness + lateness) back: both sides of both limits.
        let jitter = rng.below(((case.ooo + case.lateness) as u64 * 13 / 10).max(1) + 1) as i64;
        let mut ts = base - jitter;
        if rng.below(1000) < case.very_late {
            ts = base - 300 - rng.below(3_000) as i64;
        }
        ts = ts.div_euclid(case.grain) * case.grain;
        let key = format!("k{}", rng.below(case.keys as u64));
        let price = (4 + rng.below(800)) as f64 / 4.0;
        let qty = match rng.below(10) {
            0 => String::new(),
            1 => ",\"qty\":null".to_string(),
            _ => format!(",\"qty\":{}", 1 + rng.below(100)),
        };
        writeln!(out, "{{\"k\":\"{key}\",\"ts\":{ts}{qty},\"price\":{price:?},\"seq\":{seq}}}")
            .unwrap();
    }
    out
}

fn config(cases: &[Case]) -> String {
    let mut t = String::from("[workers]\ncount = 1\n");
    for c in cases {
        let window = match c.kind {
            "tumbling" => format!("{{ tumbling = \"{}ms\", offset = \"{}ms\" }}", c.size, c.offset),
            "sliding" => format!(
                "{{ sliding = \"{}ms\", slide = \"{}ms\", offset = \"{}ms\" }}",
                c.size, c.slide, c.offset
            ),
            "session" => format!("{{ session = \"{}ms\" }}", c.size),
            _ => format!("{{ count = {} }}", c.size),
        };
        let late = if c.kind == "count" { "" } else { "late = \"late\"\n" };
        write!(
            t,
            "\n[[pipeline]]\nname = \"{id}\"\nfrom = \"in\"\nto = \"out\"\nkey = \".k\"\n\
             time = {{ event = \".ts\", out_of_orderness = \"{ooo}ms\", allowed_lateness = \"{l}ms\" }}\n\
             window = {window}\n{late}\
             aggregate = {{ n = \"count\", nq = \"count(.qty)\", vol = \"sum(.qty)\", lo = \"min(.price)\", \
             hi = \"max(.price)\", mean = \"avg(.price)\", aq = \"avg(.qty)\", open = \"first(.price)\", \
             close = \"last(.price)\", notional = \"sum(.price * (.qty // 0))\" }}\n",
            id = c.id,
            ooo = c.ooo,
            l = c.lateness,
        )
        .unwrap();
    }
    t
}

/// Flink's jars, or why they are missing.
fn flink_lib() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("FLINK_LIB") {
        return Ok(PathBuf::from(dir));
    }
    let out = Command::new(util::python::python())
        .args([
            "-c",
            "import os, pyflink; print(os.path.join(os.path.dirname(pyflink.__file__), 'lib'))",
        ])
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err("the apache-flink Python package is not installed".into());
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !dir.join("flink-dist-2.3.0.jar").exists() && std::fs::read_dir(&dir).is_err() {
        return Err(format!("{} has no Flink jars", dir.display()));
    }
    Ok(dir)
}

fn have(tool: &str) -> Result<(), String> {
    match Command::new(tool).arg("-version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err(format!("`{tool}` is not installed (Java 17)")),
    }
}

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
    let lib = match flink_lib().and_then(|lib| have("java").and(have("javac")).map(|()| lib)) {
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
        std::fs::write(&config_file, config(&cases)).unwrap();

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
