//! Envelope subscribers subscribe and unsubscribe at run time with JSON commands; rights, topic
//! rules and limits apply as on the URL, and a bad command gets an `error`, not a close.

mod util;

use serde_json::json;
use tungstenite::Message;
use util::{connect, envelope, watchdog, Relay};

#[test]
fn subscribe_resume_and_unsubscribe_at_run_time() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut p = connect(&relay.url("/pub/b"));
        p.send(Message::text("b1")).unwrap();
        p.send(Message::text("b2")).unwrap();
        relay.wait_stats("the publishes", |s| s.messages_in == 2);
        let mut ws = envelope::connect(&relay.url("/sub/a"));
        assert_eq!(envelope::next(&mut ws)["type"], "subscribed");
        envelope::send(&mut ws, json!({"type":"subscribe","topic":"b","last":1}));
        let sub = envelope::next(&mut ws);
        // The position just before the one message replayed.
        assert_eq!(
            (&sub["type"], &sub["topic"], &sub["offset"]),
            (&json!("subscribed"), &json!("b"), &json!(1))
        );
        assert_eq!(envelope::next(&mut ws)["data"], "b2");
        p.send(Message::text("b3")).unwrap();
        assert_eq!(envelope::next(&mut ws)["data"], "b3");
        // Resume another topic from a position.
        let epoch = sub["epoch"].as_str().unwrap();
        let mut ws2 = envelope::connect(&relay.url("/sub/a"));
        assert_eq!(envelope::next(&mut ws2)["type"], "subscribed");
        envelope::send(
            &mut ws2,
            json!({"type":"subscribe","topic":"b","since":{"epoch":epoch,"offset":1}}),
        );
        let rec = envelope::next(&mut ws2);
        assert_eq!(
            (&rec["recovered"], &rec["from"], &rec["to"]),
            (&json!(true), &json!(2), &json!(3))
        );
        assert_eq!(envelope::next(&mut ws2)["data"], "b2");
        assert_eq!(envelope::next(&mut ws2)["data"], "b3");
        // Unsubscribe: nothing more of b.
        envelope::send(&mut ws, json!({"type":"unsubscribe","topic":"b"}));
        assert_eq!(envelope::next(&mut ws), json!({"type":"unsubscribed","topic":"b"}));
        p.send(Message::text("b4")).unwrap();
        let mut pa = connect(&relay.url("/pub/a"));
        pa.send(Message::text("a1")).unwrap();
        assert_eq!(envelope::next(&mut ws)["data"], "a1", "b4 is not sent any more");
    });
}

#[test]
fn bad_commands_get_errors_and_the_connection_goes_on() {
    watchdog(60, || {
        let mut config = util::test_config();
        config.limits.max_topics_per_subscription = 2;
        let relay = Relay::start_with(config);
        let mut ws = envelope::connect(&relay.url("/sub/a"));
        assert_eq!(envelope::next(&mut ws)["type"], "subscribed");
        let errors = [
            (json!("not json at all"), "not a command"),
            (json!({"type":"subscribe","topic":"bad topic"}), "byte 0x20"),
            (json!({"type":"subscribe","topic":"a"}), "already subscribed"),
            (json!({"type":"unsubscribe","topic":"zzz"}), "not subscribed"),
            (json!({"type":"dance","topic":"a"}), "unknown command"),
            (json!({"type":"subscribe","topic":"c","last":5000}), "more than the history"),
        ];
        for (cmd, why) in errors {
            match &cmd {
                serde_json::Value::String(s) => ws.send(Message::text(s.clone())).unwrap(),
                c => envelope::send(&mut ws, c.clone()),
            }
            let v = envelope::next(&mut ws);
            assert_eq!(v["type"], "error", "{cmd}: {v}");
            assert!(v["reason"].as_str().unwrap().contains(why), "{cmd}: {v}");
        }
        envelope::send(&mut ws, json!({"type":"subscribe","topic":"b"}));
        assert_eq!(envelope::next(&mut ws)["type"], "subscribed");
        envelope::send(&mut ws, json!({"type":"subscribe","topic":"c"}));
        let v = envelope::next(&mut ws);
        assert!(v["reason"].as_str().unwrap().contains("at most 2"), "{v}");
    });
}

#[test]
fn rights_apply_to_commands() {
    watchdog(60, || {
        let mut config = util::test_config();
        config.access.tokens = vec![sluice::config::StaticToken {
            token: sluice::config::Secret("t0ken-0123456789abcdef".into()),
            publish: vec![],
            subscribe: vec!["public.*".into()],
        }];
        let relay = Relay::start_with(config);
        let mut ws = envelope::connect(&relay.url("/sub/public.a?token=t0ken-0123456789abcdef"));
        assert_eq!(envelope::next(&mut ws)["type"], "subscribed");
        envelope::send(&mut ws, json!({"type":"subscribe","topic":"secret"}));
        let v = envelope::next(&mut ws);
        assert_eq!((&v["type"], &v["topic"]), (&json!("error"), &json!("secret")));
        envelope::send(&mut ws, json!({"type":"subscribe","topic":"public.b"}));
        assert_eq!(envelope::next(&mut ws)["type"], "subscribed");
    });
}
