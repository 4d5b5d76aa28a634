//! `?last=N`: a new subscriber, raw or envelope, first gets the last N messages kept (fewer if
//! fewer are kept), then live ones.

mod util;

use serde_json::json;
use tungstenite::Message;
use util::{connect, envelope, next_data, watchdog, Relay};

#[test]
fn the_last_messages_then_live() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut p = connect(&relay.url("/pub/t"));
        for i in 1..=10 {
            p.send(Message::text(format!("m{i}"))).unwrap();
        }
        relay.wait_stats("the publishes", |s| s.messages_in == 10);
        let mut raw = connect(&relay.url("/sub/t?last=3"));
        for i in 8..=10 {
            assert_eq!(next_data(&mut raw), Message::text(format!("m{i}")));
        }
        let mut env = envelope::connect(&relay.url("/sub/t?last=2"));
        let sub = envelope::next(&mut env);
        assert_eq!((&sub["type"], &sub["offset"]), (&json!("subscribed"), &json!(8)), "{sub}");
        assert_eq!(envelope::next(&mut env)["offset"], 9);
        assert_eq!(envelope::next(&mut env)["offset"], 10);
        // More than kept: all that is kept.
        let mut all = connect(&relay.url("/sub/t?last=500"));
        assert_eq!(next_data(&mut all), Message::text("m1"));
        p.send(Message::text("live")).unwrap();
        assert_eq!(next_data(&mut raw), Message::text("live"));
        assert_eq!(envelope::next(&mut env)["offset"], 11);
    });
}
