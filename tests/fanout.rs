//! Fan-out: every message published on a topic reaches every subscriber, in publish order.

mod util;

use tungstenite::Message;
use util::{connect, next_data, watchdog, Relay};

#[test]
fn ten_thousand_messages_reach_three_subscribers_in_order() {
    watchdog(120, || {
        let relay = Relay::start();
        let mut subs: Vec<_> = (0..3).map(|_| connect(&relay.url("/sub/prices"))).collect();
        let mut publisher = connect(&relay.url("/pub/prices"));
        const N: usize = 10_000;
        for i in 0..N {
            publisher.send(Message::text(format!("tick {i}"))).unwrap();
        }
        for (s, sub) in subs.iter_mut().enumerate() {
            for i in 0..N {
                match next_data(sub) {
                    Message::Text(t) => {
                        assert_eq!(t.as_str(), format!("tick {i}"), "subscriber {s}")
                    }
                    other => panic!("subscriber {s}: expected text, got {other:?}"),
                }
            }
        }
        let stats = relay.stats();
        assert_eq!(stats.messages_in, N as u64);
        assert_eq!(stats.messages_out, 3 * N as u64);
        assert_eq!(stats.slow_consumer_closes, 0);
    });
}

#[test]
fn binary_stays_binary_and_text_stays_text() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut sub = connect(&relay.url("/sub/t"));
        let mut publisher = connect(&relay.url("/pub/t"));
        publisher.send(Message::binary(vec![0u8, 159, 146, 150])).unwrap();
        publisher.send(Message::text("é")).unwrap();
        assert_eq!(next_data(&mut sub), Message::binary(vec![0u8, 159, 146, 150]));
        assert_eq!(next_data(&mut sub), Message::text("é"));
    });
}

#[test]
fn a_subscriber_of_several_topics_gets_each_and_nothing_else() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut both = connect(&relay.url("/sub/a,b"));
        let mut only_c = connect(&relay.url("/sub/c"));
        let mut pa = connect(&relay.url("/pub/a"));
        let mut pb = connect(&relay.url("/pub/b"));
        let mut pc = connect(&relay.url("/pub/c"));
        pa.send(Message::text("from a")).unwrap();
        assert_eq!(next_data(&mut both), Message::text("from a"));
        pb.send(Message::text("from b")).unwrap();
        assert_eq!(next_data(&mut both), Message::text("from b"));
        pc.send(Message::text("from c")).unwrap();
        assert_eq!(next_data(&mut only_c), Message::text("from c"));
        // `both` must not have received c's message: the next thing it sees is a's second one.
        pa.send(Message::text("again a")).unwrap();
        assert_eq!(next_data(&mut both), Message::text("again a"));
    });
}

#[test]
fn publishing_without_subscribers_is_allowed_and_counted() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut publisher = connect(&relay.url("/pub/nobody"));
        for _ in 0..100 {
            publisher.send(Message::text("x")).unwrap();
        }
        relay.wait_stats("100 unrouted messages", |s| s.messages_unrouted == 100);
        // The publisher is still fine: a subscriber arriving now gets the next message.
        let mut sub = connect(&relay.url("/sub/nobody"));
        publisher.send(Message::text("now")).unwrap();
        assert_eq!(next_data(&mut sub), Message::text("now"));
    });
}

#[test]
fn handle_publishes_from_another_thread() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut sub = connect(&relay.url("/sub/news"));
        let handle = relay.handle.clone();
        std::thread::spawn(move || {
            for i in 0..1000 {
                handle.publish("news", format!("n{i}")).unwrap();
            }
            handle.publish("news", vec![1u8, 2, 3]).unwrap();
        })
        .join()
        .unwrap();
        for i in 0..1000 {
            assert_eq!(next_data(&mut sub), Message::text(format!("n{i}")));
        }
        assert_eq!(next_data(&mut sub), Message::binary(vec![1u8, 2, 3]));
        assert!(matches!(
            relay.handle.publish("bad topic", "x"),
            Err(sluice::HandleError::InvalidTopic(_))
        ));
    });
}
