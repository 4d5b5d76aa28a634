//! A `SluiceSource` job (connectors/flink) is stopped with a savepoint while records keep being
//! published, and a new job is started from that savepoint: together the two jobs write every
//! record exactly once, in order per topic. The savepoint holds each topic's position (epoch and
//! offset of the last record emitted); the restored job resumes after it with `?since=`, and
//! the relay replays from its history what was published while no job ran.
//!
//! Both jobs write through Flink's collect sink with checkpoints, which hands over only what a
//! completed checkpoint or savepoint covers, so the file shows what the jobs committed. The
//! publisher is a rate-limited thread; the test moves on events only: the first job stops itself
//! after `STOP_AT` records and prints the savepoint's path, `AWAY` more records are published
//! before the second job starts, and `AFTER` more once its log shows both topics resumed.

mod util;

use std::path::Path;

use tungstenite::Message;
use util::flink::{flink, wait_subscribers};
use util::records::{assert_exactly, config_file, indices, Publisher};
use util::{connect, watchdog, Binary};

const TOPICS: [&str; 2] = ["events", "alerts"];
/// Records the first job writes before it stops with a savepoint.
const STOP_AT: u64 = 3_000;
/// Records per topic published while no job runs, and after the second job resumed.
const AWAY: u64 = 2_000;
const AFTER: u64 = 2_000;
/// The relay keeps everything this test publishes.
const CONFIG: &str = "[limits]\nmax_queued_bytes = \"256MiB\"\nmax_history_bytes = \"512MiB\"\n\n\
                      [[topic]]\nmatch = \"*\"\nhistory = { size = 1000000, ttl = \"1h\" }\n\
                      max_recovery = 1000000\n";

#[test]
fn a_job_restored_from_a_savepoint_misses_and_repeats_nothing() {
    watchdog(900, || {
        let Some(f) = flink() else { return };
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flink-source-savepoint");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("records.txt");
        let config = config_file("flink-source-savepoint.toml", CONFIG);
        let relay = Binary::start(&["--config", config.to_str().unwrap()]);
        let args = |extra: &[String]| {
            let mut a = vec![
                format!("url=ws://{}", relay.addr),
                format!("topics={}", TOPICS.join(",")),
                format!("out={}", out.display()),
                "parallelism=2".into(),
            ];
            a.extend_from_slice(extra);
            a
        };

        let mut first = f.spawn(
            "SluiceResumeJob",
            &args(&[
                format!("stop_after={STOP_AT}"),
                format!("savepoints=file://{}", dir.join("savepoints").display()),
            ]),
        );
        for t in TOPICS {
            wait_subscribers(relay.addr, t, 1, &mut first);
        }
        let publisher = Publisher::start(relay.addr, &TOPICS, 0, 2);
        let savepoint =
            first.wait_line("SAVEPOINT ").strip_prefix("SAVEPOINT ").unwrap().to_string();
        let first = first.wait(300);
        assert!(first.status.success(), "the first job failed:\n{}", first.stderr_tail(40));
        let written = std::fs::read_to_string(&out).unwrap().lines().count() as u64;
        assert!(written >= STOP_AT, "the first job wrote {written} records");

        // Records published while no job runs.
        publisher.wait_published(publisher.published() + AWAY);
        let mut second = f.spawn("SluiceResumeJob", &args(&[format!("restore={savepoint}")]));
        second.wait_stderr("both topics resumed", |log| {
            log.iter().filter(|l| l.contains("resumed after")).count() == TOPICS.len()
        });
        publisher.wait_published(publisher.published() + AFTER);
        let total = publisher.stop();
        for t in TOPICS {
            connect(&format!("ws://{}/pub/{t}", relay.addr)).send(Message::text("END")).unwrap();
        }
        let second = second.wait(300);
        assert!(second.status.success(), "the second job failed:\n{}", second.stderr_tail(40));

        let text = std::fs::read_to_string(&out).unwrap();
        for t in TOPICS {
            assert_exactly(t, &indices(&text, t), 0..total);
            assert!(
                second.stderr.contains(&format!("reading topic {t} after offset")),
                "{t} was restored with a position:\n{}",
                second.stderr_tail(40)
            );
        }
        assert_eq!(text.lines().count() as u64, 2 * total, "nothing else in the file");
        assert_eq!(second.metric("sluice.recoveries"), 2, "one resume per topic");
        assert_eq!(second.metric("sluice.recoveriesRefused"), 0);
        assert_eq!(second.metric("sluice.recordsMissed"), 0);
        eprintln!(
            "{total} records per topic: {written} written before the savepoint, the rest by the restored job"
        );
    });
}
