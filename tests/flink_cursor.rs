//! What the Flink source does with each message of a topic's stream (`TopicCursor`,
//! connectors/flink), in Java unit cases (tests/flink/TopicCursorTest.java): the position it
//! keeps and resumes from, duplicates never emitted twice, gaps counted, and every kind of
//! refused resume: `too_many` goes on live, `position_expired` and `epoch_changed` first ask for
//! everything the relay still keeps, and each counts exactly the offsets it will never emit.

mod util;

use util::flink::flink;
use util::watchdog;

#[test]
fn the_cursor_resumes_and_counts_every_loss() {
    watchdog(120, || {
        let Some(f) = flink() else { return };
        let out = f.java("io.sluice.flink.TopicCursorTest").output().expect("run java");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "TopicCursorTest failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cases: u32 = stdout.trim().strip_prefix("PASSED ").expect("PASSED n").parse().unwrap();
        assert!(cases >= 50, "only {cases} cases ran");
        eprintln!("{cases} cursor cases");
    });
}
