//! The relay binary serves a directory given on its command line (`--static DIR`, under
//! `--static-prefix`), says where at start, and `--check-config` refuses a `[web]` table whose
//! directory cannot be loaded.

mod util;

use std::path::Path;
use std::process::Command;

use util::{watchdog, Binary, Raw};

#[test]
fn static_and_static_prefix_serve_a_directory() {
    watchdog(60, || {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("static_flag");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "<p>from the flag</p>").unwrap();
        let relay =
            Binary::start(&["--static", dir.to_str().unwrap(), "--static-prefix", "/site/"]);
        let mut raw = Raw::connect(relay.addr);
        raw.send(b"GET /site/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let all = String::from_utf8(raw.read_to_end()).unwrap();
        assert!(all.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
        assert!(all.contains("Content-Type: text/html; charset=utf-8\r\n"), "{all}");
        assert!(all.ends_with("\r\n\r\n<p>from the flag</p>"), "{all}");
        let (status, _) = Raw::http(relay.addr, b"GET /app/ HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(status, 404, "the default prefix is replaced");
        let pages = format!("your pages on http://{}/site/", relay.addr);
        let mut said = Vec::new();
        while !said.iter().any(|l: &String| l.contains(&pages)) {
            let line = relay.stderr_lines.recv_timeout(util::IO_TIMEOUT);
            said.push(line.unwrap_or_else(|_| panic!("no `{pages}` line: {said:?}")));
        }
    });
}

#[test]
fn check_config_loads_the_static_directory() {
    watchdog(60, || {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("static_flag_check");
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("relay.toml");
        std::fs::write(&config, "[web]\nstatic_dir = \"/nonexistent/site\"\n").unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--check-config")
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains("/nonexistent/site"), "{e}");
        std::fs::write(&config, "[web]\nstatic_prefix = \"/pub/x/\"\n").unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--check-config")
            .arg(&config)
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains("relay.toml") && e.contains("web.static_prefix"), "{e}");
    });
}
