//! An embedder sees offsets too: `Handle::publish` returns the message's offset,
//! `Handle::history` reads a topic's history, and a custom subscribe endpoint takes a resume
//! position like `/sub` does.

mod util;

use serde_json::json;
use sluice::{Endpoint, HistoryEntry, Message, Reactor};
use util::{envelope, test_config, watchdog, Relay, IO_TIMEOUT};

#[test]
fn offsets_history_and_a_resuming_custom_endpoint() {
    watchdog(60, || {
        let mut reactor = Reactor::bind(test_config()).unwrap();
        reactor.add_endpoint("/live", Endpoint::Subscribe(vec!["ticks".into()])).unwrap();
        let relay = Relay::run(reactor);
        let h = &relay.handle;
        assert_eq!(h.publish("ticks", "t1").unwrap(), 1);
        assert_eq!(h.publish("ticks", vec![7u8]).unwrap(), 2);
        h.send("ticks", "t3").unwrap();
        assert_eq!(h.publish("ticks", "t4").unwrap(), 4);
        let hist = h.history("ticks", 2, 2, IO_TIMEOUT).unwrap();
        assert_eq!((hist.top, hist.oldest, hist.epoch.len()), (4, 1, 16));
        assert_eq!(
            hist.entries,
            [
                HistoryEntry::Message { offset: 2, message: Message::Binary(vec![7]) },
                HistoryEntry::Message { offset: 3, message: Message::Text("t3".into()) },
            ]
        );
        assert!(h.history("nothing", 0, 10, IO_TIMEOUT).unwrap().entries.is_empty());
        let mut ws = envelope::connect(&relay.url(&format!("/live?since={}:3", hist.epoch)));
        let rec = envelope::next(&mut ws);
        assert_eq!(
            (&rec["recovered"], &rec["from"], &rec["to"]),
            (&json!(true), &json!(4), &json!(4))
        );
        assert_eq!(envelope::next(&mut ws)["data"], "t4");
    });
}
