//! 1,000 concurrent WebSocket connections on one reactor thread.

mod util;

use tungstenite::Message;
use util::{connect, next_data, raise_fd_limit, watchdog, Relay};

#[test]
fn a_thousand_concurrent_subscribers_all_receive() {
    watchdog(180, || {
        // Client and server ends both live in this process: 2,000+ descriptors.
        assert!(raise_fd_limit() >= 2100, "need at least 2100 file descriptors");
        let relay = Relay::start();
        let mut subs: Vec<_> =
            (0..1000).map(|i| connect(&relay.url(&format!("/sub/all,t{}", i % 10)))).collect();
        assert_eq!(relay.stats().connections_open, 1000);
        let mut publisher = connect(&relay.url("/pub/all"));
        publisher.send(Message::text("to everyone")).unwrap();
        let mut p3 = connect(&relay.url("/pub/t3"));
        p3.send(Message::text("to t3")).unwrap();
        for (i, sub) in subs.iter_mut().enumerate() {
            assert_eq!(next_data(sub), Message::text("to everyone"), "subscriber {i}");
            if i % 10 == 3 {
                assert_eq!(next_data(sub), Message::text("to t3"), "subscriber {i}");
            }
        }
        let stats = relay.stats();
        assert_eq!(stats.messages_out, 1000 + 100);
        drop(subs);
        relay.wait_stats("all subscribers gone", |s| s.connections_open == 2);
    });
}
