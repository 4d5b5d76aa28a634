//! The whole NATS cluster stops for 5 seconds and comes back. Meanwhile each node goes on
//! alone: the publishing node delivers its messages locally (under a local epoch), every
//! envelope subscriber is told (`recovered:false`, `cluster_unreachable`). When NATS returns,
//! subscribers resume from their last cluster offset, and the messages the cluster never got
//! show as one `gap` (`cluster_unreachable`) on the other nodes; the publishing node's
//! `not_sent` counter says how many they were.

mod util;

use std::time::{Duration, Instant};

use tungstenite::Message;
use util::cluster::{self, Seen};
use util::nats::NatsCluster;
use util::{connect, envelope, watchdog};

const NODES: [&str; 2] = ["a", "b"];
const BEFORE: usize = 300;
const DURING: usize = 200;
const AFTER: usize = 300;

/// `m<i>` → i.
fn index(data: &str) -> usize {
    data.strip_prefix('m').and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{data}"))
}

#[test]
fn a_nats_outage_is_a_told_gap_never_silence() {
    watchdog(600, || {
        let mut nats = NatsCluster::start(3);
        let nodes = cluster::start_all(&nats, &NODES, "");
        let (a, b) = (&nodes[0], &nodes[1]);
        let mut on_a = envelope::connect(&a.url("/sub/t"));
        let mut on_b = envelope::connect(&b.url("/sub/t"));
        for ws in [&mut on_a, &mut on_b] {
            assert_eq!(envelope::next(ws)["type"], "subscribed");
        }
        let mut publisher = connect(&a.url("/pub/t"));
        let mut send = |from: usize, to: usize| {
            for i in from..to {
                publisher.send(Message::text(format!("m{i}"))).unwrap();
            }
        };
        send(0, BEFORE);
        a.wait_stats("the first messages acknowledged", |s| {
            s.cluster.as_ref().is_some_and(|c| c.acked == BEFORE as u64)
        });
        let stopped = Instant::now();
        nats.stop_all();
        cluster::wait_detached(a);
        cluster::wait_detached(b);
        send(BEFORE, BEFORE + DURING);
        // The outage lasts 5 s whatever the machine's speed (a duration, not a wait for an event).
        if let Some(left) = Duration::from_secs(5).checked_sub(stopped.elapsed()) {
            std::thread::sleep(left);
        }
        nats.start_all();
        cluster::wait_joined(a);
        cluster::wait_joined(b);
        send(BEFORE + DURING, BEFORE + DURING + AFTER);
        let last = format!("m{}", BEFORE + DURING + AFTER - 1);

        // B: in order, once each; missing exactly what A could not send, and told.
        let mut seen_b = Seen::default();
        seen_b.read_until(&mut on_b, |s| s.data().last() == Some(&last.as_str()));
        let got: Vec<usize> = seen_b.data().iter().map(|d| index(d)).collect();
        let wrong = got.windows(2).find(|w| w[0] >= w[1]);
        assert!(wrong.is_none(), "B: in order, no repeat: {wrong:?} in {:?}", seen_b.controls);
        let during = BEFORE..BEFORE + DURING;
        assert!(
            got.iter().all(|i| !during.contains(i)),
            "B cannot have what the cluster never got"
        );
        assert_eq!(got.len(), BEFORE + AFTER, "B: everything the cluster got");
        assert!(seen_b.told("recovery", Some("cluster_unreachable")) >= 1, "{:?}", seen_b.controls);
        assert_eq!(seen_b.told("gap", Some("cluster_unreachable")), 1, "{:?}", seen_b.controls);

        // A: everything, the outage's messages locally.
        let mut seen_a = Seen::default();
        seen_a.read_until(&mut on_a, |s| s.data().last() == Some(&last.as_str()));
        let mut all: Vec<usize> = seen_a.data().iter().map(|d| index(d)).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all, (0..BEFORE + DURING + AFTER).collect::<Vec<_>>(), "A: every message");
        assert!(seen_a.told("recovery", Some("cluster_unreachable")) >= 1);

        // The counters agree: A sent everything but the outage's messages, once.
        let s = a.wait_stats("the acknowledgements", |s| {
            s.cluster.as_ref().is_some_and(|c| c.pending_messages == 0)
        });
        let c = s.cluster.unwrap();
        assert_eq!(c.not_sent, DURING as u64, "{c:?}");
        // Every message it sent plus the one gap marker, each stored once.
        assert_eq!(c.acked - c.duplicates, (BEFORE + AFTER + 1) as u64, "{c:?}");
    });
}
