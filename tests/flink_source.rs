//! `SluiceSource` (connectors/flink) in a real Flink job on a local mini cluster, reading two
//! topics with parallelism 2 (one split, so one subscription, per topic) from the real `sluice`
//! binary and writing every record to a file, across a relay restart: the restarted relay's
//! answer to the source's resume, `recovered:false` (`epoch_changed`), is counted and logged,
//! and the source then reads everything the new relay still keeps of the new stream. Nothing is
//! lost without being counted: the records the new relay no longer keeps are exactly those in
//! `sluice.recordsMissed`. The record `END` on each topic ends the job.
//!
//! Every step waits for an event: the job's subscriptions are seen in the relay's
//! `sluice_topic_subscribers` gauge before anything is published, the first half is in the
//! file before the relay is killed, and the job reaches the new relay through a gated proxy
//! (tests/util/proxy.rs) that the test opens only after the new relay has received `EARLY`
//! records per topic (keeping the last `KEPT`); publishing goes on once the job's log shows
//! both topics resumed.

mod util;

use tungstenite::Message;
use util::flink::{flink, fresh_output, wait_subscribers};
use util::proxy::Proxy;
use util::records::{assert_exactly, config_file, indices, publish_routed, wait_lines};
use util::{connect, watchdog, Binary};

const TOPICS: [&str; 2] = ["events", "alerts"];
/// Records per topic in each half.
const HALF: u64 = 5_000;
/// Records per topic the new relay receives before the source reaches it.
const EARLY: u64 = 300;
/// Records per topic the new relay keeps (its history size).
const KEPT: u64 = 100;

fn publish(relay: std::net::SocketAddr, from: u64, to: u64) {
    publish_routed(relay, &TOPICS, from, to);
}

#[test]
fn a_relay_restart_is_counted_and_the_new_stream_read_from_what_it_keeps() {
    watchdog(600, || {
        let Some(f) = flink() else { return };
        let out = fresh_output("flink-source");

        let relay_a = Binary::start(&[]);
        let proxy = Proxy::start(Some(relay_a.addr));
        let url = format!("ws://{}", proxy.addr);
        let mut job = f.source_job(&url, &TOPICS, &out, &["parallelism=2"]);
        for t in TOPICS {
            wait_subscribers(relay_a.addr, t, 1, &mut job);
        }
        publish(relay_a.addr, 0, HALF);
        wait_lines(&out, 2 * HALF as usize, &mut job);

        // The relay dies; the next one gets records before the source reaches it.
        proxy.close_gate();
        drop(relay_a);
        let small = config_file(
            "flink-source.toml",
            &format!("[[topic]]\nmatch = \"*\"\nhistory = {{ size = {KEPT} }}\n"),
        );
        let relay_b = Binary::start(&["--config", small.to_str().unwrap()]);
        publish(relay_b.addr, HALF, HALF + EARLY);
        proxy.open_gate(relay_b.addr);
        // Each topic: epoch_changed, then everything relay B keeps (offsets 201..300).
        let lost = format!("offsets 1..{} of stream", EARLY - KEPT);
        job.wait_stderr("both topics resumed on the new relay", |log| {
            log.iter().filter(|l| l.contains(&lost)).count() == TOPICS.len()
        });
        publish(relay_b.addr, HALF + EARLY, 2 * HALF);
        for t in TOPICS {
            connect(&format!("ws://{}/pub/{t}", relay_b.addr)).send(Message::text("END")).unwrap();
        }

        let end = job.wait(300);
        assert!(end.status.success(), "the job failed:\n{}", end.stderr_tail(40));
        let text = std::fs::read_to_string(&out).unwrap();
        let kept_from = HALF + EARLY - KEPT;
        for t in TOPICS {
            assert_exactly(t, &indices(&text, t), (0..HALF).chain(kept_from..2 * HALF));
        }
        let per_topic = HALF + KEPT + (HALF - EARLY);
        assert_eq!(text.lines().count() as u64, 2 * per_topic, "nothing else in the file");
        assert_eq!(end.metric("sluice.messagesReceived"), 2 * per_topic as i64 + 2);
        assert_eq!(end.metric("sluice.reconnects"), 2, "one reconnect per topic");
        assert_eq!(end.metric("sluice.disconnects"), 2);
        assert_eq!(end.metric("sluice.recoveriesRefused"), 2, "epoch_changed, per topic");
        assert_eq!(end.metric("sluice.recoveries"), 2, "the new stream's replay, per topic");
        assert_eq!(end.metric("sluice.recordsMissed"), 2 * (EARLY - KEPT) as i64);
        assert_eq!(end.metric("sluice.gaps"), 0);
        let refusals =
            end.stderr.lines().filter(|l| l.contains("WARN") && l.contains("epoch_changed"));
        assert_eq!(refusals.count(), 2, "each refusal is logged at WARN:\n{}", end.stderr_tail(40));
        eprintln!(
            "{} records on {} topics across a relay restart; {} not kept by the new relay, counted",
            2 * per_topic,
            TOPICS.len(),
            2 * (EARLY - KEPT)
        );
    });
}
