//! `wss://`: TLS on the reactor with a self-signed certificate made by the test.

mod util;

use std::io::{Read, Write};
use std::time::Duration;

use sluice::config::TlsFiles;
use tungstenite::Message;
use util::tls::{client_config, connect_wss, make_cert, tls_stream};
use util::{expect_close, next_data, watchdog, Binary, Raw, Relay};

fn tls_relay(cert: &util::tls::TestCert) -> Relay {
    let mut config = util::test_config();
    config.tls = Some(TlsFiles { cert: cert.cert.clone(), key: cert.key.clone() });
    config.limits.max_message_size = 4 << 20;
    config.limits.max_frame_size = 4 << 20;
    config.limits.max_queued_bytes = 16 << 20;
    Relay::start_with(config)
}

#[test]
fn echo_and_fanout_over_tls() {
    watchdog(120, || {
        let cert = make_cert();
        let relay = tls_relay(&cert);
        let config = client_config(&cert);
        let mut echo = connect_wss(relay.addr, "/echo", &config);
        for size in [0usize, 1, 125, 126, 65535, 65536, 1 << 20, 3 << 20] {
            let payload: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            echo.send(Message::binary(payload.clone())).unwrap();
            assert_eq!(next_data(&mut echo), Message::binary(payload), "size {size}");
        }
        echo.send(Message::text("héllo")).unwrap();
        assert_eq!(next_data(&mut echo), Message::text("héllo"));

        let mut subs: Vec<_> = (0..3).map(|_| connect_wss(relay.addr, "/sub/t", &config)).collect();
        let mut publisher = connect_wss(relay.addr, "/pub/t", &config);
        relay.wait_stats("subscribers", |s| s.upgrades == 5);
        for i in 0..2000 {
            publisher.send(Message::text(format!("m{i}"))).unwrap();
        }
        for sub in subs.iter_mut() {
            for i in 0..2000 {
                assert_eq!(next_data(sub), Message::text(format!("m{i}")));
            }
        }
        // A clean close handshake over TLS.
        echo.close(None).unwrap();
        loop {
            match echo.read() {
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("close over TLS: {e}"),
            }
        }
        assert_eq!(relay.stats().tls_errors, 0);
    });
}

#[test]
fn a_plain_client_on_the_tls_port_is_dropped_and_harms_no_one() {
    watchdog(60, || {
        let cert = make_cert();
        let relay = tls_relay(&cert);
        let config = client_config(&cert);
        let mut sub = connect_wss(relay.addr, "/sub/calm", &config);
        let mut publisher = connect_wss(relay.addr, "/pub/calm", &config);
        let mut raw = Raw::connect(relay.addr);
        raw.send(Raw::upgrade_request("/echo").as_bytes());
        let mut buf = [0u8; 256];
        // The server answers garbage with a TLS alert or nothing, then closes.
        loop {
            match raw.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("expected the server to close: {e}"),
            }
        }
        relay.wait_stats("a TLS error", |s| s.tls_errors == 1);
        publisher.send(Message::text("still here")).unwrap();
        assert_eq!(next_data(&mut sub), Message::text("still here"));
    });
}

#[test]
fn a_tls_handshake_that_never_finishes_is_cut_at_the_deadline() {
    watchdog(60, || {
        let cert = make_cert();
        let mut config = util::test_config();
        config.tls = Some(TlsFiles { cert: cert.cert.clone(), key: cert.key.clone() });
        config.limits.handshake_timeout = Duration::from_millis(500);
        let relay = Relay::start_with(config);
        // TLS done, but no HTTP request ever sent.
        let mut stream = tls_stream(relay.addr, &client_config(&cert));
        stream.conn.complete_io(&mut stream.sock).unwrap();
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "closed without data");
        // A TCP connection that sends half a ClientHello.
        let mut raw = Raw::connect(relay.addr);
        raw.send(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]);
        assert!(raw.read_to_end().is_empty());
        relay.wait_stats("handshake timeouts", |s| s.handshake_timeouts == 2);
    });
}

#[test]
fn upgrade_errors_travel_inside_tls() {
    watchdog(60, || {
        let cert = make_cert();
        let relay = tls_relay(&cert);
        let mut stream = tls_stream(relay.addr, &client_config(&cert));
        stream.write_all(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut body = String::new();
        let _ = stream.read_to_string(&mut body);
        assert!(body.starts_with("HTTP/1.1 404 "), "{body}");
    });
}

#[test]
fn the_binary_serves_wss_from_pem_files() {
    watchdog(60, || {
        let cert = make_cert();
        let bin = Binary::start(&[
            "--tls-cert",
            cert.cert.to_str().unwrap(),
            "--tls-key",
            cert.key.to_str().unwrap(),
        ]);
        let mut ws = connect_wss(bin.addr, "/echo", &client_config(&cert));
        ws.send(Message::text("over wss")).unwrap();
        assert_eq!(next_data(&mut ws), Message::text("over wss"));
        ws.send(Message::binary(vec![0u8; 2 << 20])).unwrap();
        let (code, _) = expect_close(&mut ws);
        assert_eq!(u16::from(code), 1009);
    });
}

#[test]
fn bad_certificate_files_are_named() {
    let cert = make_cert();
    let mut config = util::test_config();
    config.tls = Some(TlsFiles { cert: cert.dir.join("missing.pem"), key: cert.key.clone() });
    let e = sluice::Reactor::bind(config.clone()).err().expect("bind must fail").to_string();
    assert!(e.contains("tls.cert") && e.contains("missing.pem"), "{e}");
    config.tls = Some(TlsFiles { cert: cert.cert.clone(), key: cert.cert.clone() });
    let e = sluice::Reactor::bind(config).err().expect("bind must fail").to_string();
    assert!(e.contains("tls.key"), "{e}");
}
