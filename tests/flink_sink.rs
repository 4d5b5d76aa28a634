//! `SluiceSink` (connectors/flink) in a real Flink job on a local mini cluster, into the real
//! `sluice` binary: 100,000 records with parallelism 1, then 2. Each record carries its sink
//! subtask's index and that subtask's sequence number; a subscriber connected before the job
//! starts must receive every record exactly once (nothing is lost or repeated when no
//! connection breaks), in order per subtask, and the sink's metrics must count them all.

mod util;

use std::collections::BTreeMap;

use util::flink::{flink, label, Flink};
use util::{connect, next_data, watchdog, Binary};

const RECORDS: u64 = 100_000;
/// Room for every record in the relay's queue to the test's (debug-built) subscriber, so a
/// slow test process is never closed as a slow consumer: the subscriber is not under test.
const QUEUE: &[&str] = &["--max-queued-bytes", "64MiB"];

fn run(f: &Flink, parallelism: u64) {
    let relay = Binary::start(QUEUE);
    let topic = format!("results.p{parallelism}");
    let mut sub = connect(&format!("ws://{}/sub/{topic}", relay.addr));
    let job = f.spawn(
        "SluiceSinkJob",
        &[
            format!("url=ws://{}", relay.addr),
            format!("topic={topic}"),
            format!("records={RECORDS}"),
            format!("parallelism={parallelism}"),
        ],
    );
    let mut next: BTreeMap<u64, u64> = BTreeMap::new();
    for i in 0..RECORDS {
        let m = next_data(&mut sub);
        let (subtask, seq) = label(m.to_text().unwrap());
        let want = next.entry(subtask).or_insert(0);
        assert_eq!(seq, *want, "record #{i}: subtask {subtask} sent seq {seq}, expected {want}");
        *want += 1;
    }
    let end = job.wait(300);
    assert!(end.status.success(), "the job failed:\n{}", end.stderr_tail(40));
    assert_eq!(next.len() as u64, parallelism, "records from every subtask: {next:?}");
    assert_eq!(end.metric("numRecordsSend"), RECORDS as i64);
    assert_eq!(end.metric("sluice.recordsAcknowledged"), RECORDS as i64);
    assert_eq!(end.metric("sluice.inFlightBytes"), 0);
    assert_eq!(end.metric("sluice.reconnects"), 0);
    assert_eq!(end.metric("sluice.recordsResent"), 0);
    eprintln!(
        "parallelism {parallelism}: {RECORDS} records received once each, in order per subtask \
         {next:?}; {} bytes sent",
        end.metric("numBytesSend")
    );
}

#[test]
fn every_record_arrives_once_in_order_per_subtask() {
    watchdog(900, || {
        let Some(f) = flink() else { return };
        run(f, 1);
        run(f, 2);
    });
}
