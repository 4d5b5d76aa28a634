//! A node is killed (SIGKILL) and started again while a publisher on another node goes on: its
//! subscriber reconnects to a third node and resumes with nothing missing and nothing
//! repeated; the restarted node serves the topic's history from JetStream at once.

mod util;

use tungstenite::Message;
use util::cluster::{self, Seen};
use util::nats::NatsCluster;
use util::{envelope, watchdog, Relay};

const NODES: [&str; 3] = ["a", "b", "c"];
const TOPICS: &str =
    "[[topic]]\nmatch = \"t\"\nhistory = { size = 100000, ttl = \"10m\" }\nmax_recovery = 100000\n";

#[test]
fn a_killed_node_s_subscribers_resume_elsewhere_and_it_comes_back_with_the_history() {
    watchdog(600, || {
        let nats = NatsCluster::start(3);
        let dir = nats.dir().to_path_buf();
        let a = Relay::start_with(cluster::config(&nats, &NODES, 0, TOPICS));
        let c = Relay::start_with(cluster::config(&nats, &NODES, 2, TOPICS));
        cluster::wait_joined(&a);
        cluster::wait_joined(&c);
        let b = cluster::start_binary(&nats, &NODES, 1, TOPICS, &dir);

        let mut on_b = envelope::connect(&format!("ws://{}/sub/t", b.addr));
        let mut on_c = envelope::connect(&c.url("/sub/t"));
        for ws in [&mut on_b, &mut on_c] {
            assert_eq!(envelope::next(ws)["type"], "subscribed");
        }
        let publisher = cluster::Paced::start(a.url("/pub/t"));

        // B dies under its subscriber, which resumes on C from where it was.
        let mut first = Seen::default();
        first.read_until(&mut on_b, |s| s.messages.len() >= 300);
        drop(b); // SIGKILL
        first.read_until_gone(&mut on_b);
        let (epoch, at) = first.position();
        let mut again = envelope::connect(&c.url(&format!("/sub/t?since={epoch}:{at}")));
        let answer = envelope::next(&mut again);
        assert_eq!(
            (answer["recovered"].clone(), answer["from"].clone()),
            (true.into(), (at + 1).into()),
            "{answer}"
        );

        // B comes back: it serves the history it never saw.
        let b = cluster::start_binary(&nats, &NODES, 1, TOPICS, &dir);
        let mut late = envelope::connect(&format!("ws://{}/sub/t?since={epoch}:100", b.addr));
        let answer = envelope::next(&mut late);
        assert_eq!(
            (answer["recovered"].clone(), answer["from"].clone()),
            (true.into(), 101.into()),
            "{answer}"
        );
        let mut from_b = Seen::default();
        from_b.read_until(&mut late, |s| s.messages.len() >= 200);
        let expected: Vec<String> = (100..300).map(|i| format!("m{i}")).collect();
        assert_eq!(
            from_b.data()[..200],
            expected.iter().map(String::as_str).collect::<Vec<_>>()[..]
        );

        let (mut ws, n) = publisher.stop();
        ws.send(Message::text("end")).unwrap();
        let all: Vec<String> = (0..n).map(|i| format!("m{i}")).chain(["end".to_string()]).collect();

        // The resumed subscriber: what it had on B, then the rest from C: all, once, in order.
        let mut rest = Seen::default();
        rest.read_until(&mut again, |s| s.data().last() == Some(&"end"));
        let mut got: Vec<&str> = first.data();
        got.extend(rest.data());
        assert_eq!(got, all.iter().map(String::as_str).collect::<Vec<_>>(), "resumed: complete");
        // C's own subscriber never noticed anything.
        let mut on_c_seen = Seen::default();
        on_c_seen.read_until(&mut on_c, |s| s.data().last() == Some(&"end"));
        assert_eq!(on_c_seen.data(), all.iter().map(String::as_str).collect::<Vec<_>>());
        for (i, m) in on_c_seen.messages.iter().enumerate() {
            assert_eq!(m.1, i as u64 + 1, "offsets from 1, no hole");
        }
        drop(b);
    });
}
