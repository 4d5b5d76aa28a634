//! The connector from PyFlink: `tests/flink/sluice_pyflink_job.py` adds the jar with
//! `sluice_flink.add_jar` (connectors/flink/python) and runs two PyFlink jobs with Python
//! functions against the real `sluice` binary: 1,000 strings through a Python `str.upper` into
//! `SluiceSink` (a subscriber gets every one, in order), then `SluiceSource` through
//! `str.upper` into the script, which must print every record published once the relay's
//! subscriber gauge shows the source subscribed.

mod util;

use std::process::Command;

use tungstenite::Message;
use util::flink::{flink, wait_subscribers, Job};
use util::{connect, next_data, watchdog, Binary};

const SOURCE_RECORDS: usize = 100;

#[test]
fn pyflink_jobs_use_the_sink_and_the_source() {
    watchdog(600, || {
        let Some(f) = flink() else { return };
        let relay = Binary::start(&[]);
        let mut out = connect(&format!("ws://{}/sub/py.out", relay.addr));
        let root = env!("CARGO_MANIFEST_DIR");
        let mut cmd = Command::new(util::python::python());
        cmd.arg(format!("{root}/tests/flink/sluice_pyflink_job.py"))
            .arg(&f.jar)
            .arg(format!("ws://{}", relay.addr))
            .arg(SOURCE_RECORDS.to_string())
            .env("PYTHONPATH", format!("{root}/connectors/flink/python"));
        let mut job = Job::spawn(cmd);

        for i in 0..1000 {
            assert_eq!(next_data(&mut out).to_text().unwrap(), format!("PY-{i}"));
        }
        job.wait_line("SINK DONE");

        job.wait_line("SOURCE STARTED");
        wait_subscribers(relay.addr, "py.in", 1, &mut job);
        let mut publ = connect(&format!("ws://{}/pub/py.in", relay.addr));
        for i in 0..SOURCE_RECORDS {
            publ.send(Message::text(format!("in-{i}"))).unwrap();
        }
        let end = job.wait(300);
        assert!(end.status.success(), "the PyFlink script failed:\n{}", end.stderr_tail(40));
        let got: Vec<&str> = end.stdout.iter().filter_map(|l| l.strip_prefix("GOT ")).collect();
        let want: Vec<String> = (0..SOURCE_RECORDS).map(|i| format!("IN-{i}")).collect();
        assert_eq!(got, want, "the source's records, through Python, in order");
        eprintln!(
            "PyFlink: 1000 records through SluiceSink, {SOURCE_RECORDS} through SluiceSource"
        );
    });
}
