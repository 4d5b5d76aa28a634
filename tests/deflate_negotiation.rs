//! permessage-deflate negotiation at the upgrade: `/sub`, `/pub` and `/echo` accept a browser's
//! offer with `server_no_context_takeover` (and `client_no_context_takeover`); offers the relay
//! cannot honour are declined (counted) and the upgrade goes on; `[compression] enabled =
//! false` answers no offer; the dashboard feed never compresses.

mod util;

use util::deflate::{Client, BROWSER_OFFER};
use util::{test_config, watchdog, Relay};

const ANSWER: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

#[test]
fn offers_are_accepted_declined_or_ignored() {
    watchdog(120, || {
        let relay = Relay::start();
        for path in ["/sub/n", "/pub/n", "/echo"] {
            let c = Client::connect(relay.addr, path, Some(BROWSER_OFFER));
            assert_eq!(c.extensions.as_deref(), Some(ANSWER), "{path}: {}", c.head);
        }
        // Together with the envelope subprotocol.
        let c = Client::connect_with(
            relay.addr,
            "/sub/n",
            Some(BROWSER_OFFER),
            "Sec-WebSocket-Protocol: sluice.v1\r\n",
        );
        assert_eq!(c.extensions.as_deref(), Some(ANSWER), "{}", c.head);
        assert!(c.head.contains("Sec-WebSocket-Protocol: sluice.v1"), "{}", c.head);
        // A window the client asks for is honoured and echoed.
        let c = Client::connect(
            relay.addr,
            "/sub/n",
            Some("permessage-deflate; server_max_window_bits=10"),
        );
        assert_eq!(
            c.extensions.as_deref(),
            Some(&*format!("{ANSWER}; server_max_window_bits=10")),
            "{}",
            c.head
        );
        // The first acceptable offer wins: an unknown parameter skips the first.
        let c = Client::connect(
            relay.addr,
            "/echo",
            Some("permessage-deflate; x_unknown, permessage-deflate"),
        );
        assert_eq!(c.extensions.as_deref(), Some(ANSWER));
        let before = relay.stats().compression;
        // Nothing acceptable: the upgrade goes on without compression, counted as declined.
        for offer in [
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; =",
        ] {
            let c = Client::connect(relay.addr, "/sub/n", Some(offer));
            assert_eq!(c.extensions, None, "{offer}: {}", c.head);
        }
        // Another extension only: not an offer of ours, nothing counted.
        let c = Client::connect(relay.addr, "/sub/n", Some("x-webkit-deflate-frame"));
        assert_eq!(c.extensions, None);
        // The dashboard feed never compresses.
        let c = Client::connect(relay.addr, sluice::FEED_PATH, Some(BROWSER_OFFER));
        assert_eq!(c.extensions, None, "{}", c.head);
        let after = relay.stats().compression;
        assert_eq!(after.declined - before.declined, 4);
        assert_eq!(after.negotiated - before.negotiated, 0);
        assert_eq!(after.negotiated, 6);
    });
}

#[test]
fn compression_can_be_turned_off() {
    watchdog(60, || {
        let mut config = test_config();
        config.compression.enabled = false;
        let relay = Relay::start_with(config);
        let c = Client::connect(relay.addr, "/sub/n", Some(BROWSER_OFFER));
        assert_eq!(c.extensions, None, "{}", c.head);
        let s = relay.stats().compression;
        assert_eq!((s.negotiated, s.declined, s.connections), (0, 0, 0));
    });
}

#[test]
fn the_connections_gauge_follows_open_connections() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut a = Client::connect(relay.addr, "/sub/g", Some(BROWSER_OFFER));
        let _b = Client::connect(relay.addr, "/echo", Some(BROWSER_OFFER));
        let _plain = Client::connect(relay.addr, "/sub/g", None);
        relay.wait_stats("two deflate connections", |s| s.compression.connections == 2);
        // The relay closes one (a protocol error), the peer of the other goes away.
        a.raw.send(&util::encode_frame(true, 1, b"x", false));
        assert_eq!(a.expect_close().0, 1002);
        drop(_b);
        relay.wait_stats("none left", |s| s.compression.connections == 0);
    });
}
