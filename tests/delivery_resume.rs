//! Resume: a subscriber that comes back with `since=<epoch>:<offset>` gets the whole gap then
//! live messages, with no duplicate and no hole — even while the topic keeps publishing — or
//! `recovered:false` with a reason (`position_expired`, `too_many`, `epoch_changed`) and live
//! messages only. Never a partial replay.

mod util;

use std::thread;

use serde_json::{json, Value};
use tungstenite::Message;
use util::{connect, envelope, test_config, watchdog, Relay};

/// Subscribe in envelope mode and return the topic's epoch and top offset. (A topic nothing
/// uses and whose history is empty ends its stream: the tests publish first, so the history
/// keeps it.)
fn position(relay: &Relay, topic: &str) -> (String, u64) {
    let mut ws = envelope::connect(&relay.url(&format!("/sub/{topic}")));
    let v = envelope::next(&mut ws);
    assert_eq!(v["type"], "subscribed");
    (v["epoch"].as_str().unwrap().to_string(), v["offset"].as_u64().unwrap())
}

fn publish(relay: &Relay, topic: &str, n: usize, tag: &str) {
    let mut p = connect(&relay.url(&format!("/pub/{topic}")));
    for i in 0..n {
        p.send(Message::text(format!("{tag} {i}"))).unwrap();
    }
    p.close(None).unwrap();
    while p.read().is_ok() {}
}

fn relay_with_history(size: usize) -> Relay {
    let mut config = test_config();
    config.topics = vec![sluice::config::TopicConfig {
        pattern: "*".into(),
        history: sluice::config::HistoryConfig { size, ttl: std::time::Duration::from_secs(300) },
        max_recovery: 20_000,
        ..Default::default()
    }];
    Relay::start_with(config)
}

#[test]
fn ten_thousand_missed_messages_are_replayed_exactly_once_in_order() {
    watchdog(120, || {
        let relay = relay_with_history(20_000);
        publish(&relay, "t", 5, "before");
        let (epoch, top) = position(&relay, "t");
        assert_eq!(top, 5);
        publish(&relay, "t", 10_000, "away");
        relay.wait_stats("the publishes", |s| s.messages_in == 10_005);
        let mut ws = envelope::connect(&relay.url(&format!("/sub/t?since={epoch}:5")));
        let rec = envelope::next(&mut ws);
        assert_eq!(
            rec,
            json!({"type":"recovery","topic":"t","recovered":true,"epoch":epoch,"from":6,"to":10_005})
        );
        for i in 0..10_000u64 {
            let v = envelope::next(&mut ws);
            assert_eq!(v["offset"], 6 + i);
            assert_eq!(v["data"], format!("away {i}"));
        }
        // Then live.
        publish(&relay, "t", 1, "live");
        let v = envelope::next(&mut ws);
        assert_eq!((&v["offset"], &v["data"]), (&json!(10_006), &json!("live 0")));
    });
}

#[test]
fn a_resume_while_the_topic_publishes_has_no_duplicate_and_no_hole() {
    watchdog(120, || {
        let relay = relay_with_history(20_000);
        publish(&relay, "busy", 2_000, "first");
        let (epoch, _) = position(&relay, "busy");
        let addr = relay.url("/pub/busy");
        // About 20k messages a second while the subscriber resumes.
        let writer = thread::spawn(move || {
            let mut p = connect(&addr);
            for i in 0..10_000 {
                p.send(Message::text(format!("during {i}"))).unwrap();
                if i % 20 == 0 {
                    thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        });
        let mut ws = envelope::connect(&relay.url(&format!("/sub/busy?since={epoch}:0")));
        let rec = envelope::next(&mut ws);
        assert_eq!(rec["recovered"], true, "{rec}");
        assert_eq!(rec["from"], 1);
        let mut expect = 1u64;
        while expect <= 12_000 {
            let v = envelope::next(&mut ws);
            assert_eq!(v["offset"], expect, "{v}");
            expect += 1;
        }
        writer.join().unwrap();
    });
}

#[test]
fn a_position_older_than_the_history_is_refused_with_a_reason() {
    watchdog(60, || {
        let relay = relay_with_history(100);
        publish(&relay, "t", 1, "m");
        let (epoch, _) = position(&relay, "t");
        publish(&relay, "t", 299, "m");
        relay.wait_stats("the publishes", |s| s.messages_in == 300);
        let mut ws = envelope::connect(&relay.url(&format!("/sub/t?since={epoch}:10")));
        let rec = envelope::next(&mut ws);
        assert_eq!(
            rec,
            json!({"type":"recovery","topic":"t","recovered":false,"reason":"position_expired",
                   "epoch":epoch,"offset":300,"oldest":201})
        );
        publish(&relay, "t", 1, "live");
        assert_eq!(envelope::next(&mut ws)["offset"], 301, "live only, nothing replayed");
    });
}

#[test]
fn a_gap_over_max_recovery_is_refused_as_too_many() {
    watchdog(60, || {
        let mut config = test_config();
        config.topics = vec![sluice::config::TopicConfig {
            pattern: "t".into(),
            max_recovery: 50,
            ..Default::default()
        }];
        let relay = Relay::start_with(config);
        publish(&relay, "t", 100, "m");
        relay.wait_stats("the publishes", |s| s.messages_in == 100);
        let (epoch, _) = position(&relay, "t");
        let mut ws = envelope::connect(&relay.url(&format!("/sub/t?since={epoch}:49")));
        let rec: Value = envelope::next(&mut ws);
        assert_eq!((&rec["recovered"], &rec["reason"]), (&json!(false), &json!("too_many")));
        // 50 is within the bound.
        let mut ws = envelope::connect(&relay.url(&format!("/sub/t?since={epoch}:50")));
        let rec = envelope::next(&mut ws);
        assert_eq!(
            (&rec["recovered"], &rec["from"], &rec["to"]),
            (&json!(true), &json!(51), &json!(100))
        );
    });
}

#[test]
fn a_restarted_relay_has_a_new_epoch() {
    watchdog(60, || {
        let relay = relay_with_history(100);
        let (epoch, _) = position(&relay, "t");
        publish(&relay, "t", 3, "m");
        relay.stop();
        let relay = relay_with_history(100);
        publish(&relay, "t", 2, "n");
        let mut ws = envelope::connect(&relay.url(&format!("/sub/t?since={epoch}:3")));
        let rec = envelope::next(&mut ws);
        assert_eq!((&rec["recovered"], &rec["reason"]), (&json!(false), &json!("epoch_changed")));
        assert_ne!(rec["epoch"], json!(epoch));
        assert_eq!(rec["offset"], 2);
    });
}

#[test]
fn several_topics_resume_each_from_its_own_position() {
    watchdog(60, || {
        let relay = relay_with_history(100);
        publish(&relay, "a", 3, "a");
        publish(&relay, "b", 4, "b");
        relay.wait_stats("the publishes", |s| s.messages_in == 7);
        let (ea, _) = position(&relay, "a");
        let (eb, _) = position(&relay, "b");
        let url = format!("/sub/a,b?since=a@{ea}:1,b@{eb}:4");
        let mut ws = envelope::connect(&relay.url(&url));
        let first = envelope::next(&mut ws);
        assert_eq!(
            (&first["type"], &first["topic"], &first["from"], &first["to"]),
            (&json!("recovery"), &json!("a"), &json!(2), &json!(3)),
            "{first}"
        );
        assert_eq!(envelope::next(&mut ws)["data"], "a 1");
        assert_eq!(envelope::next(&mut ws)["data"], "a 2");
        let b = envelope::next(&mut ws);
        assert_eq!(
            (&b["topic"], &b["recovered"], &b["from"], &b["to"]),
            (&json!("b"), &json!(true), &json!(5), &json!(4))
        );
    });
}
