//! Graceful stop: queued messages are flushed, every client gets 1001, `run()` returns.

mod util;

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;
use util::{connect, expect_close, next_data, watchdog, Raw, Relay};

#[test]
fn stop_flushes_then_closes_everyone_with_1001() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut subs: Vec<_> = (0..5).map(|_| connect(&relay.url("/sub/last-words"))).collect();
        let mut echo = connect(&relay.url("/echo"));
        echo.send(Message::text("ping")).unwrap();
        assert_eq!(next_data(&mut echo), Message::text("ping"));
        // A connection mid-handshake is simply dropped.
        let mut half = Raw::connect(relay.addr);
        half.send(b"GET /echo HTTP/1.1\r\n");
        relay.wait_stats("7 connections", |s| s.connections_open == 7);
        // Messages published just before the stop are still delivered, then the close.
        for i in 0..100 {
            relay.handle.publish("last-words", format!("m{i}")).unwrap();
        }
        let handle = relay.handle.clone();
        handle.stop();
        for sub in subs.iter_mut() {
            for i in 0..100 {
                assert_eq!(next_data(sub), Message::text(format!("m{i}")));
            }
            let (code, reason) = expect_close(sub);
            assert_eq!(code, CloseCode::Away);
            assert_eq!(reason, "server shutting down");
        }
        assert_eq!(expect_close(&mut echo).0, CloseCode::Away);
        assert!(half.read_to_end().is_empty());
        // The clients answered the close handshake: run() returns without waiting for the
        // shutdown timeout.
        drop((subs, echo));
        relay.stop();
        assert!(handle.is_stopped());
        assert_eq!(handle.publish("x", "late"), Err(sluice::HandleError::Stopped));
    });
}

#[test]
fn stop_returns_within_the_shutdown_timeout_when_clients_do_not_cooperate() {
    watchdog(60, || {
        let mut config = util::test_config();
        config.limits.shutdown_timeout = std::time::Duration::from_millis(300);
        let relay = Relay::start_with(config);
        // A subscriber that never reads and never answers the close handshake.
        let _stuck = Raw::upgraded(relay.addr, "/sub/s");
        relay.wait_stats("1 connection", |s| s.connections_open == 1);
        relay.stop();
    });
}
