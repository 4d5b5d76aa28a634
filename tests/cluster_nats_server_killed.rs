//! One NATS server of three is killed while a node connected to it publishes: the node goes
//! to the next server, sends again what was not acknowledged (JetStream keeps one copy), and
//! the topic's streams, kept on three servers, go on. Subscribers on the other nodes get every
//! message once, in order — except what the publishing node could not send while it had no
//! server, which they are told of as a gap and which its `not_sent` counter counts.

mod util;

use tungstenite::Message;
use util::cluster::{self, Seen};
use util::nats::NatsCluster;
use util::{envelope, watchdog};

const NODES: [&str; 3] = ["a", "b", "c"];
/// History for every message of the test: a consumer that restarts finds what it missed.
const TOPICS: &str = "[[topic]]\nmatch = \"t\"\nhistory = { size = 100000, ttl = \"10m\" }\n";

fn index(data: &str) -> usize {
    data.strip_prefix('m').and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{data}"))
}

#[test]
fn a_killed_nats_server_loses_nothing_silently() {
    watchdog(600, || {
        let mut nats = NatsCluster::start(3);
        let nodes = cluster::start_all(&nats, &NODES, TOPICS);
        let mut on_b = envelope::connect(&nodes[1].url("/sub/t"));
        let mut on_c = envelope::connect(&nodes[2].url("/sub/t"));
        for ws in [&mut on_b, &mut on_c] {
            assert_eq!(envelope::next(ws)["type"], "subscribed");
        }
        // A publisher paced at about 1 message per millisecond, until told to stop.
        let publisher = cluster::Paced::start(nodes[0].url("/pub/t"));
        let mut seen_b = Seen::default();
        seen_b.read_until(&mut on_b, |s| s.messages.len() >= 300);
        // Node A lists server 0 first: it is connected to it.
        nats.kill(0);
        nodes[0].wait_stats("A to lose its server", |s| {
            s.cluster.as_ref().is_some_and(|c| c.disconnects >= 1)
        });
        cluster::wait_joined(&nodes[0]);
        seen_b.read_until(&mut on_b, |s| s.messages.len() >= 600);
        let (mut ws, n) = publisher.stop();
        ws.send(Message::text("end")).unwrap();

        let a = nodes[0].wait_stats("the acknowledgements", |s| {
            s.cluster.as_ref().is_some_and(|c| c.pending_messages == 0)
        });
        let a = a.cluster.unwrap();
        let mut seen_c = Seen::default();
        for (seen, ws) in [(&mut seen_b, &mut on_b), (&mut seen_c, &mut on_c)] {
            seen.read_until(ws, |s| s.data().last() == Some(&"end"));
            let got: Vec<usize> =
                seen.data()[..seen.messages.len() - 1].iter().map(|d| index(d)).collect();
            let wrong = got.windows(2).find(|w| w[0] >= w[1]);
            assert!(wrong.is_none(), "in order, no repeat: {wrong:?} in {:?}", seen.controls);
            // Every offset is a message or in a gap: never silence.
            let mut offsets: Vec<u64> = seen.messages.iter().map(|m| m.1).collect();
            for g in seen.controls.iter().filter(|c| c["type"] == "gap") {
                offsets.extend(g["from"].as_u64().unwrap()..=g["to"].as_u64().unwrap());
            }
            offsets.sort_unstable();
            let first = offsets[0];
            assert_eq!(offsets, (first..first + offsets.len() as u64).collect::<Vec<_>>());
            assert_eq!(
                got.len() as u64 + a.not_sent,
                n as u64,
                "received + not sent = published: {a:?} {:?}",
                seen.controls
            );
            if a.not_sent > 0 {
                assert!(seen.told("gap", Some("cluster_unreachable")) >= 1, "{:?}", seen.controls);
            }
        }
        assert!(a.disconnects >= 1 && a.connects >= 2, "{a:?}");
    });
}
