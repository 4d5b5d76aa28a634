//! What a `SluiceSource` checkpoint holds (connectors/flink), in Java unit cases
//! (tests/flink/SplitStateTest.java): each topic's split with its position (epoch and offset)
//! in serializer version 2, read back equal; version 1 bytes, written by the connector before
//! it had positions, still read (as splits without a position, which start live); the
//! enumerator's state likewise; an unknown version refused.

mod util;

use util::flink::flink;
use util::watchdog;

#[test]
fn checkpoints_hold_positions_and_older_ones_still_read() {
    watchdog(120, || {
        let Some(f) = flink() else { return };
        let out = f.java("SplitStateTest").output().expect("run java");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "SplitStateTest failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cases: u32 = stdout.trim().strip_prefix("PASSED ").expect("PASSED n").parse().unwrap();
        assert!(cases >= 10, "only {cases} cases ran");
    });
}
