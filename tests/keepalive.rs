//! Keepalive: an idle connection is pinged; one that never answers is closed with 1001.

mod util;

use std::time::Duration;

use util::{watchdog, Raw, Relay};

fn quick_keepalive() -> sluice::Config {
    let mut config = util::test_config();
    config.limits.idle_ping = Duration::from_millis(100);
    config.limits.pong_timeout = Duration::from_millis(200);
    config
}

#[test]
fn an_idle_connection_is_pinged_and_closed_without_a_pong() {
    watchdog(60, || {
        let relay = Relay::start_with(quick_keepalive());
        let mut raw = Raw::upgraded(relay.addr, "/sub/quiet");
        let ping = raw.read_frame();
        assert_eq!(ping.opcode, 9, "a ping after idle_ping");
        // No pong: closed with 1001 after pong_timeout.
        let (code, reason) = raw.expect_close();
        assert_eq!(code, 1001);
        assert!(reason.contains("keepalive"), "{reason}");
        assert_eq!(relay.stats().keepalive_closes, 1);
    });
}

#[test]
fn a_client_that_answers_pings_stays_connected() {
    watchdog(60, || {
        let relay = Relay::start_with(quick_keepalive());
        let mut raw = Raw::upgraded(relay.addr, "/sub/alive");
        // Answer three pings; each is followed by more silence from us than idle_ping.
        for _ in 0..3 {
            let f = raw.read_frame();
            assert_eq!(f.opcode, 9);
            raw.send_frame(true, 10, &f.payload, true);
        }
        relay.handle.publish("alive", "still").unwrap();
        loop {
            let f = raw.read_frame();
            match f.opcode {
                9 => raw.send_frame(true, 10, &f.payload, true),
                1 => {
                    assert_eq!(f.payload, b"still");
                    break;
                }
                other => panic!("unexpected opcode {other}"),
            }
        }
        assert_eq!(relay.stats().keepalive_closes, 0);
    });
}
