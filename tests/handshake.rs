//! Every bad handshake gets its HTTP status before any upgrade; plain HTTP endpoints answer.

mod util;

use util::{watchdog, Raw, Relay, KEY};

fn request(path: &str, headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n").into_bytes()
}

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";

#[test]
fn bad_handshakes_get_their_status_codes() {
    watchdog(60, || {
        let relay = Relay::start();
        let key = format!("Sec-WebSocket-Key: {KEY}\r\n");
        let cases: Vec<(&str, Vec<u8>, u16)> = vec![
            ("valid upgrade", request("/echo", &format!("{UPGRADE}{key}")), 101),
            ("keep-alive, Upgrade", request("/echo", &format!("Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n{key}")), 101),
            ("plain GET on a WebSocket path", request("/sub/t", ""), 426),
            ("unknown path", request("/nowhere", &format!("{UPGRADE}{key}")), 404),
            ("bad topic", request("/pub/bad%20topic", &format!("{UPGRADE}{key}")), 400),
            ("empty topic in a list", request("/sub/a,,b", &format!("{UPGRADE}{key}")), 400),
            ("topic too long", request(&format!("/sub/{}", "x".repeat(129)), &format!("{UPGRADE}{key}")), 400),
            ("version 8", request("/echo", &format!("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n{key}")), 426),
            ("no version", request("/echo", &format!("Upgrade: websocket\r\nConnection: Upgrade\r\n{key}")), 426),
            ("no key", request("/echo", UPGRADE), 400),
            ("short key", request("/echo", &format!("{UPGRADE}Sec-WebSocket-Key: c2hvcnQ=\r\n")), 400),
            ("Connection without upgrade", request("/echo", &format!("Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Version: 13\r\n{key}")), 400),
            ("Upgrade not websocket", request("/echo", &format!("Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n{key}")), 400),
            ("POST", format!("POST /echo HTTP/1.1\r\n{UPGRADE}{key}\r\n").into_bytes(), 405),
            ("HTTP/1.0", format!("GET /echo HTTP/1.0\r\n{UPGRADE}{key}\r\n").into_bytes(), 400),
            ("garbage", b"HELLO\x00THERE\r\n\r\n".to_vec(), 400),
            ("header section too large", request("/echo", &format!("X-Big: {}\r\n", "a".repeat(9000))), 431),
            ("too many headers", request("/echo", &(0..40).map(|i| format!("X-{i}: v\r\n")).collect::<String>()), 431),
        ];
        for (name, bytes, want) in cases {
            let (status, head) = Raw::http(relay.addr, &bytes);
            assert_eq!(status, want, "{name}: {head}");
            if name == "version 8" {
                assert!(head.contains("Sec-WebSocket-Version: 13"), "{head}");
            }
            if want == 101 {
                assert!(
                    head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                    "{head}"
                );
                assert!(!head.to_ascii_lowercase().contains("sec-websocket-extensions"), "{head}");
            }
        }
        let stats = relay.stats();
        assert_eq!(stats.upgrades, 2);
        assert_eq!(stats.handshakes_rejected, 16);
    });
}

#[test]
fn an_oversized_header_sent_slowly_is_refused_at_the_bound() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut raw = Raw::connect(relay.addr);
        raw.send(b"GET /echo HTTP/1.1\r\n");
        // Never finishing the head: 431 once 8 KiB have arrived, without waiting for more.
        for _ in 0..9 {
            raw.send(format!("X-Pad: {}\r\n", "p".repeat(1000)).as_bytes());
        }
        assert_eq!(raw.read_response_head().0, 431);
    });
}

#[test]
fn healthz_and_keep_alive_pipelining() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut raw = Raw::connect(relay.addr);
        raw.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nHEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
        let all = String::from_utf8(raw.read_to_end()).unwrap();
        assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 3, "{all}");
        assert_eq!(all.matches("ok\n").count(), 2, "HEAD has no body: {all}");
        assert!(all.ends_with("Connection: close\r\n\r\nok\n"), "{all}");
    });
}

#[test]
fn a_request_then_half_close_still_gets_its_answer() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut raw = Raw::connect(relay.addr);
        raw.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        raw.stream.shutdown(std::net::Shutdown::Write).unwrap();
        let all = String::from_utf8(raw.read_to_end()).unwrap();
        assert!(all.starts_with("HTTP/1.1 200 OK"), "{all}");
    });
}

#[test]
fn an_unfinished_handshake_is_dropped_at_the_deadline() {
    watchdog(60, || {
        let mut config = util::test_config();
        config.limits.handshake_timeout = std::time::Duration::from_millis(200);
        let relay = Relay::start_with(config);
        let mut raw = Raw::connect(relay.addr);
        raw.send(b"GET /echo HTTP/1.1\r\n");
        assert!(raw.read_to_end().is_empty(), "closed without a response");
        assert_eq!(relay.stats().handshake_timeouts, 1);
    });
}
