//! `compression = false` in a `[[topic]]` table: that topic's messages reach even subscribers
//! with permessage-deflate uncompressed (nothing is compressed for them), while other topics'
//! messages on the same connection are compressed.

mod util;

use sluice::config::TopicConfig;
use util::deflate::{json_message, Client, BROWSER_OFFER};
use util::{test_config, watchdog, Relay};

#[test]
fn a_topic_can_opt_out_of_compression() {
    watchdog(60, || {
        let mut config = test_config();
        config.topics = vec![TopicConfig {
            pattern: "jpeg.*".into(),
            compression: false,
            ..Default::default()
        }];
        let relay = Relay::start_with(config);
        let mut sub = Client::connect(relay.addr, "/sub/jpeg.cam1,json", Some(BROWSER_OFFER));
        assert!(sub.extensions.is_some());
        relay.wait_stats("2 topics", |s| s.topics == 2);
        let message = json_message(7, 2048);
        let mut a = Client::connect(relay.addr, "/pub/jpeg.cam1", None);
        a.send(false, message.as_bytes(), false);
        let got = sub.read();
        assert_eq!(
            (got.text, got.compressed, &got.payload[..]),
            (false, false, message.as_bytes())
        );
        let mut b = Client::connect(relay.addr, "/pub/json", None);
        b.send(true, message.as_bytes(), false);
        let got = sub.read();
        assert_eq!((got.text, got.compressed, &got.payload[..]), (true, true, message.as_bytes()));
        let z = relay.stats().compression;
        assert_eq!((z.compressed_messages, z.uncompressed_small), (1, 0));
    });
}
