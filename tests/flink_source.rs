//! `SluiceSource` (connectors/flink) in a real Flink job on a local mini cluster, reading two
//! topics with parallelism 2 (one split, so one subscription, per topic) from the real `sluice`
//! binary and writing every record to a file. Everything published after the job has
//! subscribed arrives, exactly once and in order per topic, across a relay restart in the
//! middle; the record `END` on each topic ends the job.
//!
//! Every step waits for an event: the job's subscriptions are seen in the relay's
//! `sluice_topic_subscribers` gauge before anything is published, the first half is in the
//! file before the relay is killed, and the job reaches the new relay through a gated proxy
//! (tests/util/proxy.rs) that the test opens only after the new relay is up; publishing starts
//! again once the gauge shows both subscriptions back.

mod util;

use std::path::Path;
use std::time::{Duration, Instant};

use tungstenite::Message;
use util::flink::{flink, wait_subscribers, Job};
use util::proxy::Proxy;
use util::{connect, watchdog, Binary, IO_TIMEOUT};

const TOPICS: [&str; 2] = ["events", "alerts"];
/// Records per topic in each half.
const HALF: usize = 5_000;

fn publish(relay: std::net::SocketAddr, from: usize, to: usize) {
    let mut pubs: Vec<_> =
        TOPICS.iter().map(|t| connect(&format!("ws://{relay}/pub/{t}"))).collect();
    for i in from..to {
        for (t, ws) in TOPICS.iter().zip(&mut pubs) {
            ws.write(Message::text(format!("{t} {i}"))).unwrap();
        }
    }
    for ws in &mut pubs {
        ws.flush().unwrap();
    }
}

/// Wait until the job has written `n` lines to `out`.
fn wait_lines(out: &Path, n: usize, job: &mut Job) {
    let deadline = Instant::now() + IO_TIMEOUT * 2;
    loop {
        let have = std::fs::read_to_string(out).map_or(0, |s| s.lines().count());
        if have >= n {
            return;
        }
        assert!(job.running(), "the job ended early:\n{}", job.stderr());
        assert!(Instant::now() < deadline, "{have} of {n} lines after {:?}", IO_TIMEOUT * 2);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn everything_published_while_subscribed_arrives_in_order() {
    watchdog(600, || {
        let Some(f) = flink() else { return };
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flink-source");
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("records.txt");
        let _ = std::fs::remove_file(&out);

        let relay_a = Binary::start(&[]);
        let proxy = Proxy::start(Some(relay_a.addr));
        let mut job = f.spawn(
            "SluiceSourceJob",
            &[
                format!("url=ws://{}", proxy.addr),
                format!("topics={}", TOPICS.join(",")),
                format!("out={}", out.display()),
                "parallelism=2".into(),
            ],
        );
        for t in TOPICS {
            wait_subscribers(relay_a.addr, t, 1, &mut job);
        }
        publish(relay_a.addr, 0, HALF);
        wait_lines(&out, 2 * HALF, &mut job);

        // The relay dies; the source reconnects to the next one once the gate opens.
        proxy.close_gate();
        drop(relay_a);
        let relay_b = Binary::start(&[]);
        proxy.open_gate(relay_b.addr);
        for t in TOPICS {
            wait_subscribers(relay_b.addr, t, 1, &mut job);
        }
        publish(relay_b.addr, HALF, 2 * HALF);
        for t in TOPICS {
            connect(&format!("ws://{}/pub/{t}", relay_b.addr)).send(Message::text("END")).unwrap();
        }

        let end = job.wait(300);
        assert!(end.status.success(), "the job failed:\n{}", end.stderr_tail(40));
        let text = std::fs::read_to_string(&out).unwrap();
        for t in TOPICS {
            let got: Vec<&str> =
                text.lines().filter_map(|l| l.strip_prefix(t)?.strip_prefix(' ')).collect();
            let want: Vec<String> = (0..2 * HALF).map(|i| i.to_string()).collect();
            assert_eq!(got.len(), want.len(), "{t}: records received");
            assert!(got.iter().zip(&want).all(|(g, w)| g == w), "{t}: in order, none missing");
        }
        assert_eq!(text.lines().count(), 4 * HALF, "nothing else in the file");
        assert_eq!(end.metric("sluice.messagesReceived"), 4 * HALF as i64 + 2);
        assert_eq!(end.metric("sluice.reconnects"), 2, "one reconnect per topic");
        assert_eq!(end.metric("sluice.disconnects"), 2);
        eprintln!(
            "{} records on {} topics, in order, across a relay restart",
            4 * HALF,
            TOPICS.len()
        );
    });
}
