//! Three Sluice nodes on a three-server NATS cluster: messages published on node A reach
//! subscribers on B and C exactly once, in order, at the same offsets; a subscriber that leaves
//! B resumes on C with nothing missing and nothing repeated; the same resume gets the same
//! answer on every node.

mod util;

use util::cluster::{self, Seen};
use util::nats::NatsCluster;
use util::{connect, envelope, watchdog};

const NODES: [&str; 3] = ["a", "b", "c"];
/// History large enough for the resume below (it replays thousands of messages).
const TOPICS: &str = "[[topic]]\nmatch = \"ticks\"\nhistory = { size = 20000, ttl = \"10m\" }\nmax_recovery = 20000\n";
const MESSAGES: usize = 10_000;

#[test]
fn messages_published_on_one_node_reach_the_others_once_in_order_and_resume_anywhere() {
    watchdog(600, || {
        let nats = NatsCluster::start(3);
        let nodes = cluster::start_all(&nats, &NODES, TOPICS);
        let mut on_b = envelope::connect(&nodes[1].url("/sub/ticks"));
        let mut on_c = envelope::connect(&nodes[2].url("/sub/ticks"));
        for ws in [&mut on_b, &mut on_c] {
            assert_eq!(envelope::next(ws)["type"], "subscribed");
        }
        let mut publisher = connect(&nodes[0].url("/pub/ticks"));
        for i in 0..MESSAGES {
            publisher.send(tungstenite::Message::text(format!("m{i}"))).unwrap();
        }
        // B leaves half-way; C reads everything.
        let mut b = Seen::default();
        b.read_until(&mut on_b, |s| s.messages.len() == MESSAGES / 2);
        drop(on_b);
        let mut c = Seen::default();
        c.read_until(&mut on_c, |s| s.messages.len() == MESSAGES);
        let expected: Vec<String> = (0..MESSAGES).map(|i| format!("m{i}")).collect();
        assert_eq!(c.data(), expected, "C: every message once, in order");
        let epoch = c.messages[0].0.clone();
        for (i, (e, offset, _)) in c.messages.iter().enumerate() {
            assert_eq!(
                (e, *offset),
                (&epoch, i as u64 + 1),
                "one epoch, offsets from 1 without holes"
            );
        }
        assert_eq!(
            b.messages[..],
            c.messages[..MESSAGES / 2],
            "B saw what C saw, at the same offsets"
        );

        // B's subscriber comes back on C with its position: the rest, once.
        let (e, at) = b.position();
        let mut back = envelope::connect(&nodes[2].url(&format!("/sub/ticks?since={e}:{at}")));
        let answer = envelope::next(&mut back);
        assert_eq!(answer["recovered"], true, "{answer}");
        assert_eq!(answer["from"], at + 1, "{answer}");
        let mut resumed = Seen::default();
        resumed.read_until(&mut back, |s| s.messages.len() == MESSAGES - MESSAGES / 2);
        assert_eq!(resumed.data(), expected[MESSAGES / 2..], "nothing missing, nothing repeated");

        // The same resume on each node gets the same answer.
        for node in &nodes {
            let mut ws =
                envelope::connect(&node.url(&format!("/sub/ticks?since={e}:{}", MESSAGES - 10)));
            let answer = envelope::next(&mut ws);
            assert_eq!(
                (answer["recovered"].clone(), answer["from"].clone(), answer["to"].clone()),
                (true.into(), (MESSAGES - 9).into(), MESSAGES.into()),
                "{answer}"
            );
            let mut seen = Seen::default();
            seen.read_until(&mut ws, |s| s.messages.len() == 10);
            assert_eq!(seen.data(), expected[MESSAGES - 10..]);
        }

        // Every node counts the same stream; A sent each message to the cluster once.
        let a = nodes[0].wait_stats("every acknowledgement", |s| {
            s.cluster.as_ref().is_some_and(|c| c.acked == MESSAGES as u64)
        });
        let a = a.cluster.unwrap();
        assert_eq!(
            (a.published, a.acked, a.not_sent, a.publish_failed),
            (MESSAGES as u64, MESSAGES as u64, 0, 0)
        );
    });
}
