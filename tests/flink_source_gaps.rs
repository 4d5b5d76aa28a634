//! A `gap` the relay announces on a topic a `SluiceSource` job (connectors/flink) reads is
//! counted (`sluice.gaps`, and its offsets in `sluice.recordsMissed`) and logged at `WARN` with
//! its offsets and reason, and the source goes on with the records after it, in order.
//!
//! The gap is a real one: the topic is a pipeline's output in a relay embedded in the test, and
//! the pipeline's operator fails on one record (a panic, caught by the relay, which puts a gap
//! with the reason `operator_failed` in the output stream). The test publishes the next record
//! once the source has the one before (in its output file, or the gap in its log).

mod util;

use sluice::{Config, Pipeline, Reactor, Record, WorkerConfig};
use tungstenite::Message;
use util::flink::{flink, fresh_output, wait_subscribers};
use util::records::wait_lines;
use util::{connect, watchdog, Relay};

#[test]
fn a_gap_is_counted_logged_and_passed() {
    watchdog(600, || {
        let Some(f) = flink() else { return };
        let out = fresh_output("flink-source-gaps");

        let config = Config {
            workers: WorkerConfig { count: 1, pin: false, ..WorkerConfig::default() },
            ..util::test_config()
        };
        let mut reactor = Reactor::bind(config).unwrap();
        reactor
            .add_pipeline(
                Pipeline::from_topic("in")
                    .name("fragile")
                    .map(|r: Record| {
                        assert!(r.as_str() != Some("boom"), "the operator failed (on purpose)");
                        r
                    })
                    .to_topic("out"),
            )
            .unwrap();
        let relay = Relay::run(reactor);
        let url = format!("ws://{}", relay.addr);
        let mut job = f.source_job(&url, &["out"], &out, &[]);
        wait_subscribers(relay.addr, "out", 1, &mut job);
        // One at a time: what the operator has in hand when it fails is lost with it.
        let mut publisher = connect(&relay.url("/pub/in"));
        publisher.send(Message::text("a")).unwrap();
        wait_lines(&out, 1, &mut job);
        publisher.send(Message::text("boom")).unwrap();
        job.wait_stderr("the gap", |log| log.iter().any(|l| l.contains("skipped offsets")));
        publisher.send(Message::text("b")).unwrap();
        publisher.send(Message::text("END")).unwrap();

        let end = job.wait(300);
        assert!(end.status.success(), "the job failed:\n{}", end.stderr_tail(40));
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.lines().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(end.metric("sluice.gaps"), 1);
        assert_eq!(end.metric("sluice.recordsMissed"), 1);
        assert_eq!(end.metric("sluice.messagesReceived"), 3, "a, b and END");
        assert_eq!(end.metric("sluice.recoveriesRefused"), 0);
        let warned = end.stderr.lines().any(|l| {
            l.contains("WARN")
                && l.contains("skipped offsets 2..2")
                && l.contains("operator_failed")
        });
        assert!(warned, "the gap is logged with its offsets:\n{}", end.stderr_tail(20));
    });
}
