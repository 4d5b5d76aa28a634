//! `/echo`: text and binary at the frame-length boundaries, pings, the close handshake.

mod util;

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;
use util::{connect, next_data, watchdog, Raw, Relay};

const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 1 << 20];

#[test]
fn echoes_text_and_binary_at_boundary_sizes() {
    watchdog(120, || {
        let relay = Relay::start();
        let mut ws = connect(&relay.url("/echo"));
        for size in SIZES {
            let text: String = (0..size).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            ws.send(Message::text(text.clone())).unwrap();
            assert_eq!(next_data(&mut ws), Message::text(text), "text of {size} bytes");
            let bin: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
            ws.send(Message::binary(bin.clone())).unwrap();
            assert_eq!(next_data(&mut ws), Message::binary(bin), "binary of {size} bytes");
        }
    });
}

#[test]
fn pings_get_pongs_with_the_same_payload() {
    watchdog(60, || {
        let relay = Relay::start();
        for path in ["/echo", "/sub/x", "/pub/x"] {
            let mut raw = Raw::upgraded(relay.addr, path);
            raw.send_frame(true, 9, b"are you there", true);
            let f = raw.read_frame();
            assert_eq!((f.opcode, f.payload.as_slice()), (10, &b"are you there"[..]), "{path}");
        }
    });
}

#[test]
fn fragmented_messages_are_reassembled_with_pings_between() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut raw = Raw::upgraded(relay.addr, "/echo");
        raw.send_frame(false, 1, b"frag", true);
        raw.send_frame(true, 9, b"p", true);
        raw.send_frame(false, 0, b"men", true);
        raw.send_frame(true, 0, b"ted", true);
        let pong = raw.read_frame();
        assert_eq!(pong.opcode, 10);
        let msg = raw.read_frame();
        assert_eq!((msg.fin, msg.opcode, msg.payload.as_slice()), (true, 1, &b"fragmented"[..]));
    });
}

#[test]
fn close_handshake_echoes_the_peer_code() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut ws = connect(&relay.url("/echo"));
        ws.close(Some(CloseFrame { code: CloseCode::Library(4321), reason: "done".into() }))
            .unwrap();
        loop {
            match ws.read() {
                Ok(Message::Close(Some(f))) => {
                    assert_eq!(f.code, CloseCode::Library(4321));
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("no close reply: {e}"),
            }
        }
        // The server then closes the TCP connection.
        match ws.read() {
            Err(tungstenite::Error::ConnectionClosed) => {}
            other => panic!("expected the connection to end, got {other:?}"),
        }
        drop(ws);
        relay.wait_stats("connection freed", |s| s.connections_open == 0);
    });
}

#[test]
fn frames_sent_with_the_upgrade_request_are_kept() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut raw = util::Raw::connect(relay.addr);
        let mut bytes = Raw::upgrade_request("/echo").into_bytes();
        bytes.extend(util::encode_frame(true, 1, b"early", true));
        raw.send(&bytes);
        assert_eq!(raw.read_response_head().0, 101);
        assert_eq!(raw.read_frame().payload, b"early");
    });
}

#[test]
fn a_handshake_and_frames_sent_one_byte_at_a_time_work() {
    watchdog(120, || {
        let relay = Relay::start();
        let mut raw = util::Raw::connect(relay.addr);
        let mut bytes = Raw::upgrade_request("/echo").into_bytes();
        bytes.extend(util::encode_frame(true, 1, b"slow", true));
        bytes.extend(util::encode_frame(true, 2, &[7u8; 300], true));
        for b in bytes {
            raw.send(&[b]);
        }
        assert_eq!(raw.read_response_head().0, 101);
        assert_eq!(raw.read_frame().payload, b"slow");
        assert_eq!(raw.read_frame().payload, vec![7u8; 300]);
    });
}
