//! A network cut under a running `SluiceSource` job (connectors/flink): the relay stays up, the
//! source's connections end, and the records published while it is away arrive anyway, each
//! once and in order: every new connection resumes with `?since=` from the last offset the
//! source received, and the relay replays the gap from its history (`recovered:true`).
//!
//! The job reaches the relay through a gated proxy (tests/util/proxy.rs). The test closes the
//! gate and cuts the connections, waits until the relay has seen both subscriptions go,
//! publishes, and only then opens the gate; it publishes the rest once the job's log shows both
//! topics resumed. Nothing waits for time.

mod util;

use util::flink::{flink, fresh_output, subscribers, wait_subscribers, Job};
use util::proxy::Proxy;
use util::records::{assert_exactly, indices, publish_routed, wait_lines};
use util::{connect, watchdog, Binary, IO_TIMEOUT};

const TOPICS: [&str; 2] = ["events", "alerts"];
/// Records per topic before the cut, while the source is away, and after it is back.
const BEFORE: u64 = 500;
const AWAY: u64 = 700;
const AFTER: u64 = 800;

fn publish(relay: std::net::SocketAddr, from: u64, to: u64) {
    publish_routed(relay, &TOPICS, from, to);
}

fn wait_gone(relay: std::net::SocketAddr, job: &mut Job) {
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    while TOPICS.iter().any(|t| subscribers(relay, t) != 0) {
        assert!(job.running(), "the job ended:\n{}", job.stderr());
        assert!(std::time::Instant::now() < deadline, "the subscriptions did not end");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_cut_subscription_resumes_where_it_was() {
    watchdog(600, || {
        let Some(f) = flink() else { return };
        let out = fresh_output("flink-source-reconnect");

        let relay = Binary::start(&[]);
        let proxy = Proxy::start(Some(relay.addr));
        let url = format!("ws://{}", proxy.addr);
        let mut job = f.source_job(&url, &TOPICS, &out, &["parallelism=2"]);
        for t in TOPICS {
            wait_subscribers(relay.addr, t, 1, &mut job);
        }
        publish(relay.addr, 0, BEFORE);
        wait_lines(&out, 2 * BEFORE as usize, &mut job);

        proxy.close_gate();
        proxy.cut();
        wait_gone(relay.addr, &mut job);
        publish(relay.addr, BEFORE, BEFORE + AWAY);
        proxy.open_gate(relay.addr);
        let replay = format!("replays offsets {}..{}", BEFORE + 1, BEFORE + AWAY);
        job.wait_stderr("both topics resumed", |log| {
            log.iter().filter(|l| l.contains(&replay)).count() == TOPICS.len()
        });
        publish(relay.addr, BEFORE + AWAY, BEFORE + AWAY + AFTER);
        for t in TOPICS {
            connect(&format!("ws://{}/pub/{t}", relay.addr))
                .send(tungstenite::Message::text("END"))
                .unwrap();
        }

        let end = job.wait(300);
        assert!(end.status.success(), "the job failed:\n{}", end.stderr_tail(40));
        let text = std::fs::read_to_string(&out).unwrap();
        let total = BEFORE + AWAY + AFTER;
        for t in TOPICS {
            assert_exactly(t, &indices(&text, t), 0..total);
        }
        assert_eq!(text.lines().count() as u64, 2 * total, "nothing else in the file");
        assert_eq!(end.metric("sluice.messagesReceived"), 2 * total as i64 + 2);
        assert_eq!(end.metric("sluice.disconnects"), 2);
        assert_eq!(end.metric("sluice.reconnects"), 2);
        assert_eq!(end.metric("sluice.recoveries"), 2, "one resume per topic");
        assert_eq!(end.metric("sluice.recoveriesRefused"), 0);
        assert_eq!(end.metric("sluice.recordsMissed"), 0);
        eprintln!("{} records per topic across a cut, {AWAY} of them replayed", total);
    });
}
