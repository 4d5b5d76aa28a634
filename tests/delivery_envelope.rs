//! Envelope mode: a subscriber that offers `sluice.v1` gets one JSON message per publication,
//! `{"topic","offset","epoch","data"}` (`data_b64` for binary), with offsets contiguous from 1;
//! a raw subscriber of the same topic still gets the payloads byte for byte.

mod util;

use serde_json::json;
use tungstenite::Message;
use util::{connect, envelope, next_data, watchdog, Relay};

#[test]
fn publications_arrive_as_envelopes_beside_raw_payloads() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut env = envelope::connect(&relay.url("/sub/prices"));
        let subscribed = envelope::next(&mut env);
        assert_eq!(subscribed["type"], "subscribed");
        assert_eq!((&subscribed["topic"], &subscribed["offset"]), (&json!("prices"), &json!(0)));
        let epoch = subscribed["epoch"].as_str().unwrap().to_string();
        assert_eq!(epoch.len(), 16);
        let mut raw = connect(&relay.url("/sub/prices"));
        let mut publisher = connect(&relay.url("/pub/prices"));
        publisher.send(Message::text(r#"{"sym":"EUR","px":1.08}"#)).unwrap();
        publisher.send(Message::text("plain \"text\"")).unwrap();
        publisher.send(Message::binary(vec![0u8, 159, 146, 150])).unwrap();
        let want = [
            json!({"topic":"prices","offset":1,"epoch":epoch,"data":{"sym":"EUR","px":1.08}}),
            json!({"topic":"prices","offset":2,"epoch":epoch,"data":"plain \"text\""}),
            json!({"topic":"prices","offset":3,"epoch":epoch,"data_b64":"AJ+Slg=="}),
        ];
        for w in &want {
            assert_eq!(&envelope::next(&mut env), w);
        }
        assert_eq!(next_data(&mut raw), Message::text(r#"{"sym":"EUR","px":1.08}"#));
        assert_eq!(next_data(&mut raw), Message::text("plain \"text\""));
        assert_eq!(next_data(&mut raw), Message::binary(vec![0u8, 159, 146, 150]));
    });
}

#[test]
fn offsets_are_contiguous_across_publishers_and_handles() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut env = envelope::connect(&relay.url("/sub/t"));
        assert_eq!(envelope::next(&mut env)["type"], "subscribed");
        let mut a = connect(&relay.url("/pub/t"));
        let mut b = connect(&relay.url("/pub/t"));
        for i in 0..100 {
            a.send(Message::text(format!("a{i}"))).unwrap();
            b.send(Message::text(format!("b{i}"))).unwrap();
        }
        let mut offsets = Vec::new();
        for _ in 0..200 {
            offsets.push(envelope::next(&mut env)["offset"].as_u64().unwrap());
        }
        assert_eq!(offsets, (1..=200).collect::<Vec<_>>());
    });
}

#[test]
fn a_relay_answers_a_bad_resume_before_the_upgrade() {
    watchdog(60, || {
        let relay = Relay::start();
        let e = "0123456789abcdef";
        // `since` needs envelope mode.
        let mut raw = util::Raw::connect(relay.addr);
        raw.send(util::Raw::upgrade_request(&format!("/sub/a?since={e}:1")).as_bytes());
        let answer = String::from_utf8_lossy(&raw.read_to_end()).to_string();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("sluice.v1"), "{answer}");
        for bad in
            [format!("/sub/a,b?since={e}:1"), "/sub/a?since=zz:1".into(), "/sub/a?last=x".into()]
        {
            match envelope::try_connect(&relay.url(&bad)) {
                Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 400, "{bad}"),
                other => panic!("{bad}: expected 400, got {:?}", other.map(|_| ())),
            }
        }
        // More than the topic's history (1000 by default).
        match envelope::try_connect(&relay.url("/sub/a?last=1001")) {
            Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 400),
            other => panic!("expected 400, got {:?}", other.map(|_| ())),
        }
    });
}
