//! Protocol violations close with the code RFC 6455 asks for, and affect no other connection.

mod util;

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;
use util::{connect, next_data, watchdog, Raw, Relay};

fn close_code_after(relay: &Relay, path: &str, frames: &[Vec<u8>]) -> (u16, String) {
    let mut raw = Raw::upgraded(relay.addr, path);
    for f in frames {
        raw.send(f);
    }
    raw.expect_close()
}

#[test]
fn violations_get_their_close_codes() {
    watchdog(60, || {
        let mut config = util::test_config();
        config.limits.max_message_size = 4096;
        config.limits.max_frame_size = 4096;
        let relay = Relay::start_with(config);
        // A bystander keeps receiving through all of this.
        let mut bystander = connect(&relay.url("/sub/calm"));
        let mut calm_pub = connect(&relay.url("/pub/calm"));
        let f = util::encode_frame;
        let cases: Vec<(&str, &str, Vec<Vec<u8>>, u16)> = vec![
            ("oversize frame", "/echo", vec![f(true, 2, &[0; 4097], true)], 1009),
            (
                "oversize message in fragments",
                "/pub/x",
                vec![f(false, 2, &[0; 3000], true), f(true, 0, &[0; 3000], true)],
                1009,
            ),
            (
                "declared 2^63 - 1 bytes",
                "/echo",
                vec![{
                    let mut h = vec![0x82, 0xff];
                    h.extend_from_slice(&((1u64 << 63) - 1).to_be_bytes());
                    h.extend_from_slice(&[1, 2, 3, 4]);
                    h
                }],
                1009,
            ),
            (
                // RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
                "64-bit length with the top bit set",
                "/echo",
                vec![{
                    let mut h = vec![0x82, 0xff];
                    h.extend_from_slice(&(1u64 << 63).to_be_bytes());
                    h.extend_from_slice(&[1, 2, 3, 4]);
                    h
                }],
                1002,
            ),
            ("invalid UTF-8", "/pub/x", vec![f(true, 1, &[0xce, 0xba, 0xff], true)], 1007),
            (
                "invalid UTF-8 across fragments",
                "/echo",
                vec![f(false, 1, b"ok", true), f(true, 0, &[0xc0, 0xaf], true)],
                1007,
            ),
            ("unmasked frame", "/echo", vec![f(true, 1, b"hi", false)], 1002),
            (
                "reserved bit",
                "/echo",
                vec![{
                    let mut x = f(true, 1, b"hi", true);
                    x[0] |= 0x20;
                    x
                }],
                1002,
            ),
            ("reserved opcode", "/sub/x", vec![f(true, 5, b"", true)], 1002),
            ("continuation without start", "/echo", vec![f(true, 0, b"x", true)], 1002),
            ("fragmented ping", "/echo", vec![f(false, 9, b"", true)], 1002),
            ("ping over 125 bytes", "/echo", vec![f(true, 9, &[0; 126], true)], 1002),
            ("close code 1005", "/echo", vec![f(true, 8, &1005u16.to_be_bytes(), true)], 1002),
            ("close with 1-byte payload", "/echo", vec![f(true, 8, &[1], true)], 1002),
        ];
        for (i, (name, path, frames, want)) in cases.into_iter().enumerate() {
            let (code, reason) = close_code_after(&relay, path, &frames);
            assert_eq!(code, want, "{name}: reason {reason:?}");
            assert!(!reason.is_empty(), "{name}: a reason is given");
            calm_pub.send(Message::text(format!("still here {i}"))).unwrap();
            assert_eq!(next_data(&mut bystander), Message::text(format!("still here {i}")));
        }
        relay.wait_stats("protocol closes", |s| s.protocol_closes == 14);
    });
}

#[test]
fn the_message_size_limit_is_configurable_and_inclusive() {
    watchdog(60, || {
        let mut config = util::test_config();
        config.limits.max_message_size = 2 << 20;
        config.limits.max_frame_size = 2 << 20;
        let relay = Relay::start_with(config);
        let mut ws = connect(&relay.url("/echo"));
        ws.send(Message::binary(vec![1u8; 2 << 20])).unwrap();
        assert_eq!(next_data(&mut ws), Message::binary(vec![1u8; 2 << 20]));
        ws.send(Message::binary(vec![1u8; (2 << 20) + 1])).unwrap();
        let (code, _) = util::expect_close(&mut ws);
        assert_eq!(code, CloseCode::Size);
    });
}
