//! The `sluice` binary: flags, logging, serving, graceful stop on SIGTERM/SIGINT.

mod util;

use std::process::Command;

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;
use util::{connect, expect_close, next_data, watchdog, Binary, Raw};

#[test]
fn serves_and_stops_gracefully_on_sigterm() {
    watchdog(60, || {
        let mut bin = Binary::start(&[]);
        let (status, _) = Raw::http(bin.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(status, 200);
        let mut sub = connect(&format!("ws://{}/sub/t", bin.addr));
        let mut publisher = connect(&format!("ws://{}/pub/t", bin.addr));
        publisher.send(Message::text("via the binary")).unwrap();
        assert_eq!(next_data(&mut sub), Message::text("via the binary"));
        bin.signal(libc::SIGTERM);
        assert_eq!(expect_close(&mut sub).0, CloseCode::Away);
        drop((sub, publisher));
        let status = bin.wait();
        assert!(status.success(), "exit status {status:?}");
    });
}

#[test]
fn sigint_stops_too_and_limits_come_from_flags() {
    watchdog(60, || {
        let mut bin = Binary::start(&["--max-message-size", "1KiB", "--max-frame-size", "1KiB"]);
        let mut ws = connect(&format!("ws://{}/echo", bin.addr));
        ws.send(Message::binary(vec![0u8; 1024])).unwrap();
        assert_eq!(next_data(&mut ws), Message::binary(vec![0u8; 1024]));
        ws.send(Message::binary(vec![0u8; 1025])).unwrap();
        assert_eq!(expect_close(&mut ws).0, CloseCode::Size);
        bin.signal(libc::SIGINT);
        assert!(bin.wait().success());
    });
}

#[test]
fn json_logs_and_help() {
    watchdog(60, || {
        let bin = Binary::start(&["--log-format", "json"]);
        drop(bin);
        let mut bin = Binary::start(&["--log-format", "json", "--log-level", "debug"]);
        bin.signal(libc::SIGTERM);
        let line = bin.stderr_lines.recv_timeout(util::IO_TIMEOUT).unwrap();
        assert!(line.starts_with("{\"ts\":\""), "{line}");
        assert!(line.contains("\"level\":\"info\""), "{line}");
        bin.wait();

        let help = Command::new(env!("CARGO_BIN_EXE_sluice")).arg("--help").output().unwrap();
        let text = String::from_utf8(help.stdout).unwrap();
        for flag in [
            "--listen",
            "--config",
            "--max-message-size",
            "--max-queued-bytes",
            "--handshake-timeout",
            "--idle-ping",
        ] {
            assert!(text.contains(flag), "--help lists {flag}");
        }
    });
}

#[test]
fn config_errors_name_file_line_and_key() {
    watchdog(60, || {
        let dir = std::env::temp_dir().join(format!("sluice-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:0\"\n[limits]\nidle_ping = \"soon\"\n")
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--check-config")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(&format!("{}:3: key `limits.idle_ping`", path.display())), "{err}");

        std::fs::write(&path, "listen = \"127.0.0.1:0\"\n[limits]\nidle_ping = \"5s\"\n").unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--check-config")
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");

        // A file given with --config is used; --listen on the command line wins over it.
        let mut bin = Binary::start(&["--config", path.to_str().unwrap()]);
        bin.signal(libc::SIGTERM);
        assert!(bin.wait().success());
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
