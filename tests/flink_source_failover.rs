//! A `SluiceSource` job (connectors/flink) fails (an injected exception in the operator after
//! the source) while records keep being published, and Flink restarts it from its last completed
//! checkpoint: the job's output has every record exactly once, in order per topic. The
//! restored readers resume each topic after the position in the checkpoint with `?since=`, so
//! the relay replays what the failed attempt had emitted after the checkpoint and what was
//! published during the restart.
//!
//! The job writes through Flink's collect sink with checkpoints, which drops what a failed
//! attempt emitted after its last checkpoint. The failure comes once a checkpoint covers at least
//! `FAIL_AFTER` records of a subtask; the publisher is a rate-limited thread, and the test moves
//! on events only: the failure in the job's log, then both topics resumed, then `AFTER` more
//! records.

mod util;

use std::path::Path;

use tungstenite::Message;
use util::flink::{flink, wait_subscribers};
use util::records::{assert_exactly, config_file, indices, Publisher};
use util::{connect, watchdog, Binary};

const TOPICS: [&str; 2] = ["events", "alerts"];
/// Records a subtask's checkpoint covers before the failure.
const FAIL_AFTER: u64 = 1_000;
/// Records per topic published after the restored job resumed.
const AFTER: u64 = 2_000;
/// The relay keeps everything this test publishes.
const CONFIG: &str = "[limits]\nmax_queued_bytes = \"256MiB\"\nmax_history_bytes = \"512MiB\"\n\n\
                      [[topic]]\nmatch = \"*\"\nhistory = { size = 1000000, ttl = \"1h\" }\n\
                      max_recovery = 1000000\n";

#[test]
fn a_job_failed_over_misses_and_repeats_nothing() {
    watchdog(900, || {
        let Some(f) = flink() else { return };
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flink-source-failover");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("records.txt");
        let config = config_file("flink-source-failover.toml", CONFIG);
        let relay = Binary::start(&["--config", config.to_str().unwrap()]);

        let mut job = f.spawn(
            "SluiceResumeJob",
            &[
                format!("url=ws://{}", relay.addr),
                format!("topics={}", TOPICS.join(",")),
                format!("out={}", out.display()),
                "parallelism=2".into(),
                format!("fail_after={FAIL_AFTER}"),
            ],
        );
        for t in TOPICS {
            wait_subscribers(relay.addr, t, 1, &mut job);
        }
        let publisher = Publisher::start(relay.addr, &TOPICS, 0, 2);
        job.wait_stderr("the injected failure", |log| {
            log.iter().any(|l| l.starts_with("injected failure after"))
        });
        job.wait_stderr("both topics resumed after the restart", |log| {
            log.iter().filter(|l| l.contains("resumed after")).count() == TOPICS.len()
        });
        publisher.wait_published(publisher.published() + AFTER);
        let total = publisher.stop();
        for t in TOPICS {
            connect(&format!("ws://{}/pub/{t}", relay.addr)).send(Message::text("END")).unwrap();
        }
        let end = job.wait(300);
        assert!(end.status.success(), "the job failed:\n{}", end.stderr_tail(40));

        let text = std::fs::read_to_string(&out).unwrap();
        for t in TOPICS {
            assert_exactly(t, &indices(&text, t), 0..total);
            assert!(
                end.stderr.contains(&format!("reading topic {t} after offset")),
                "{t} was restored with a position:\n{}",
                end.stderr_tail(40)
            );
        }
        assert_eq!(text.lines().count() as u64, 2 * total, "nothing else in the file");
        assert_eq!(end.metric("sluice.recoveries"), 2, "the restored attempt resumed each topic");
        assert_eq!(end.metric("sluice.recoveriesRefused"), 0);
        assert_eq!(end.metric("sluice.recordsMissed"), 0);
        eprintln!("{total} records per topic across a failover, each once");
    });
}
