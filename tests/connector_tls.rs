//! `wss://` upstreams: a Python `websockets` server with a certificate signed by a test CA
//! (made at test time, given to the connector as `ca_file`). A source delivers the feed to a
//! subscriber and reconnects after the upstream restarts; a sink configured in a TOML file
//! writes to one through the real binary; a certificate from another CA, for another name, or
//! expired, and an upstream that does not speak TLS, each fail the attempt with a TLS reason in
//! the status event, and the connector keeps retrying with backoff; an empty platform store is a
//! configuration error. Nothing leaves 127.0.0.1.

mod util;

use std::io::{Read, Write};
use std::net::TcpListener;

use serde_json::Value;
use sluice::{Connector, ConnectorState};
use tungstenite::Message;
use util::tls::{make_pki, TestPki};
use util::upstream::{python_ready, quick_backoff, wait_json, PyServer};
use util::{connect, next_data, watchdog, Binary, Relay, IO_TIMEOUT};

fn wss_server(pki: &TestPki, args: &[&str]) -> PyServer {
    let mut all: Vec<&str> = pki.server_args().to_vec();
    all.extend_from_slice(args);
    PyServer::start(&all)
}

#[test]
fn a_source_reads_a_wss_upstream_and_reconnects_after_it_restarts() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let pki = make_pki(&["localhost", "127.0.0.1"], false);
        let upstream = wss_server(&pki, &["--expect-subscribe", "--count", "100"]);
        let relay = Relay::start();
        let mut raw = connect(&relay.url("/sub/raw"));
        let mut status = connect(&relay.url("/sub/raw.status"));
        // An IP address as the host: the certificate's IP SAN is what is checked.
        let url = upstream.wss_url("127.0.0.1", "/trades");
        let feed = Connector::source("feed", &url, "raw")
            .subscribe("sub")
            .ca_file(&pki.ca)
            .backoff(quick_backoff());
        relay.handle.add_connector(feed, IO_TIMEOUT).expect("add the source");
        assert_eq!(next_data(&mut raw), Message::text(r#"{"subscribed": "sub"}"#));
        for i in 0..100 {
            assert_eq!(next_data(&mut raw), Message::text(format!("msg-{i}")));
        }
        let connected = wait_json(&mut status, "connected", |e| e["event"] == "connected");
        assert_eq!((&connected["url"], &connected["attempt"]), (&Value::from(url), &1.into()));
        assert_eq!(upstream.next_of("msg")["text"], "sub");

        // The upstream dies and comes back on the same port: a new TLS session, the same feed.
        let port = upstream.kill();
        let lost = wait_json(&mut status, "disconnected", |e| e["event"] == "disconnected");
        assert!(lost["retry_in_ms"].as_u64().is_some(), "{lost}");
        let mut args: Vec<&str> = pki.server_args().to_vec();
        args.extend(["--expect-subscribe", "--start", "100", "--count", "100"]);
        let upstream = PyServer::restart(port, &args);
        let again = wait_json(&mut status, "reconnected", |e| e["event"] == "connected");
        assert_eq!(again["reconnect"], true);
        assert_eq!(next_data(&mut raw), Message::text(r#"{"subscribed": "sub"}"#));
        for i in 100..200 {
            assert_eq!(next_data(&mut raw), Message::text(format!("msg-{i}")));
        }
        assert_eq!(upstream.next_of("msg")["text"], "sub");
        let s = relay.wait_stats("messages in", |s| s.connectors[0].messages_in == 202);
        let c = &s.connectors[0];
        assert_eq!((c.state, c.connects, c.disconnects), (ConnectorState::Open, 2, 1));
        relay.stop();
    });
}

#[test]
fn a_sink_from_the_config_file_writes_to_a_wss_upstream() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let pki = make_pki(&["localhost"], false);
        let upstream = wss_server(&pki, &[]);
        let config = format!(
            "[[sink]]\nname = \"out\"\ntopic = \"results\"\nurl = \"{}\"\nca_file = {:?}\n\
             backoff = {{ initial = \"20ms\", max = \"200ms\" }}\n",
            upstream.wss_url("localhost", "/ingest"),
            pki.ca
        );
        let path = pki.dir.join("sink.toml");
        std::fs::write(&path, config).unwrap();
        let relay =
            Binary::start(&["--config", path.to_str().unwrap(), "--workers", "1", "--no-pin"]);
        let mut status = connect(&format!("ws://{}/sub/results.status", relay.addr));
        wait_json(&mut status, "connected", |e| e["event"] == "connected");
        assert_eq!(upstream.next_of("open")["path"], "/ingest");
        let mut publisher = connect(&format!("ws://{}/pub/results", relay.addr));
        // Enough to need several TLS records and writes.
        let big = "x".repeat(40_000);
        for i in 0..300 {
            publisher.send(Message::text(format!("r-{i}"))).unwrap();
        }
        publisher.send(Message::text(big.clone())).unwrap();
        let want: Vec<String> = (0..300).map(|i| format!("r-{i}")).collect();
        assert_eq!(upstream.messages(300), want);
        assert_eq!(upstream.messages(1), [big]);
        drop(relay);
    });
}

/// A source to `url` trusting `ca`; waits for two failed attempts and returns their events.
fn two_failures(url: &str, ca: &std::path::Path) -> (Relay, Value, Value) {
    let relay = Relay::start();
    let mut status = connect(&relay.url("/sub/raw.status"));
    let c = Connector::source("feed", url, "raw").ca_file(ca).backoff(quick_backoff());
    relay.handle.add_connector(c, IO_TIMEOUT).unwrap();
    let first = wait_json(&mut status, "connect_failed", |e| e["event"] == "connect_failed");
    let second = wait_json(&mut status, "connect_failed", |e| e["event"] == "connect_failed");
    (relay, first, second)
}

/// The attempt failed for a TLS reason containing `want`, was retried after a delay, and the
/// counters say so.
fn check_tls_failure(url: &str, ca: &std::path::Path, want: &str) {
    let (relay, first, second) = two_failures(url, ca);
    for e in [&first, &second] {
        let reason = e["reason"].as_str().unwrap();
        assert!(reason.contains(want), "reason {reason:?} lacks {want:?}");
        assert!(e["retry_in_ms"].as_u64().unwrap() > 0, "{e}");
    }
    assert_eq!((&first["attempt"], &second["attempt"]), (&1.into(), &2.into()));
    let s = relay.wait_stats("failures", |s| s.connectors[0].connect_failures >= 2);
    let c = &s.connectors[0];
    assert_eq!(c.connects, 0);
    assert!(c.reconnect_attempts >= 1, "{c:?}");
    assert!(c.last_error.as_deref().unwrap().contains(want), "{c:?}");
    // The relay is unharmed.
    let mut echo = connect(&relay.url("/echo"));
    echo.send(Message::text("still here")).unwrap();
    assert_eq!(next_data(&mut echo), Message::text("still here"));
    relay.stop();
}

#[test]
fn a_certificate_from_another_ca_fails_the_attempt_and_is_retried() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let pki = make_pki(&["127.0.0.1"], false);
        let other = make_pki(&["127.0.0.1"], false);
        let upstream = wss_server(&pki, &[]);
        let url = upstream.wss_url("127.0.0.1", "/");
        check_tls_failure(&url, &other.ca, "TLS handshake with 127.0.0.1:");
        check_tls_failure(&url, &other.ca, "UnknownIssuer (the certificate is not signed by a CA");
    });
}

#[test]
fn a_certificate_for_another_name_fails_the_attempt_and_is_retried() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let pki = make_pki(&["feed.example.com"], false);
        let upstream = wss_server(&pki, &[]);
        let url = upstream.wss_url("127.0.0.1", "/");
        check_tls_failure(&url, &pki.ca, "certificate not valid for name \"127.0.0.1\"");
    });
}

#[test]
fn an_expired_certificate_fails_the_attempt_and_is_retried() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let pki = make_pki(&["127.0.0.1"], true);
        let upstream = wss_server(&pki, &[]);
        let url = upstream.wss_url("127.0.0.1", "/");
        check_tls_failure(&url, &pki.ca, "certificate expired");
    });
}

#[test]
fn an_upstream_without_tls_fails_the_attempt_and_is_retried() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let pki = make_pki(&["127.0.0.1"], false);
        // A WebSocket server without TLS closes on the ClientHello.
        let plain = PyServer::start(&[]);
        let url = format!("wss://127.0.0.1:{}/", plain.port);
        check_tls_failure(&url, &pki.ca, "closed the TCP connection during the TLS handshake");
        // A plain HTTP server answers it with a 400 first.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("wss://127.0.0.1:{}/", listener.local_addr().unwrap().port());
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                let _ = s.read(&mut [0u8; 4096]);
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            }
        });
        check_tls_failure(&url, &pki.ca, "does not speak TLS on this port");
    });
}

/// Without `ca_file` the platform's roots are trusted; `SSL_CERT_FILE` stands in for the
/// platform's store here. A failed handshake is logged with its reason.
#[test]
fn without_ca_file_the_platform_roots_are_trusted_and_failures_are_logged() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let pki = make_pki(&["localhost"], false);
        let other = make_pki(&["localhost"], false);
        let upstream = wss_server(&pki, &["--expect-subscribe"]);
        let config = format!(
            "[[source]]\nname = \"feed\"\ntopic = \"raw\"\nurl = \"{}\"\nsubscribe = \"go\"\n\
             backoff = {{ initial = \"20ms\", max = \"200ms\" }}\n",
            upstream.wss_url("localhost", "/")
        );
        let path = pki.dir.join("source.toml");
        std::fs::write(&path, config).unwrap();
        let args = ["--config", path.to_str().unwrap(), "--workers", "1", "--no-pin"];

        let relay = Binary::start_with(&args, |cmd| {
            cmd.env("SSL_CERT_FILE", &other.ca).env("RUST_LOG", "info");
        });
        let logged = loop {
            let line = relay.stderr_lines.recv_timeout(IO_TIMEOUT).expect("a log line");
            if line.contains("connector `feed`: attempt 1 to wss://localhost:") {
                break line;
            }
        };
        assert!(logged.contains("failed: TLS handshake with 127.0.0.1:"), "{logged}");
        assert!(logged.contains("UnknownIssuer"), "{logged}");
        drop(relay);

        let relay = Binary::start_with(&args, |cmd| {
            cmd.env("SSL_CERT_FILE", &pki.ca);
        });
        // The subscription message arrives: the handshakes succeeded.
        assert_eq!(upstream.next_of("msg")["text"], "go");
        drop(relay);
    });
}

/// An empty platform store is a configuration error, not a connector that can never connect.
#[test]
fn an_empty_platform_store_is_a_config_error() {
    let pki = make_pki(&["localhost"], false);
    let empty = pki.dir.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let path = pki.dir.join("wss.toml");
    std::fs::write(&path, "[[source]]\nname = \"a\"\nurl = \"wss://h/\"\ntopic = \"t\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--check-config")
        .arg(&path)
        .env("SSL_CERT_FILE", &empty)
        .env_remove("SSL_CERT_DIR")
        .output()
        .expect("run sluice");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains(":3: key `source[0].url`: wss:// needs trusted root certificates"),
        "{text}"
    );
    // With a ca_file, the platform store is not needed.
    std::fs::write(
        &path,
        format!(
            "[[source]]\nname = \"a\"\nurl = \"wss://h/\"\ntopic = \"t\"\nca_file = {:?}\n",
            pki.ca
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--check-config")
        .arg(&path)
        .env("SSL_CERT_FILE", &empty)
        .output()
        .expect("run sluice");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
