//! Connectors from the configuration file: the shipped seed example (`examples/connectors.toml`:
//! an upstream feed → `upper` → a downstream sink) with the real binary and two Python
//! `websockets` servers, and `--check-config` errors that name the file, line and key.

mod util;

use std::process::Command;

use util::upstream::{python_ready, PyServer};
use util::{connect, watchdog, Binary};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/connectors.toml");

fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-connectors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn check_config(path: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--check-config")
        .arg(path)
        .output()
        .expect("run sluice");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn the_seed_example_runs_end_to_end() {
    watchdog(120, || {
        if !python_ready() {
            return;
        }
        let feed = PyServer::start(&[
            "--expect-subscribe",
            "--send",
            "hello",
            "--send",
            "sluice streams",
            "--send",
            "ünïcödé",
        ]);
        let downstream = PyServer::start(&[]);
        // The example's fixed ports, moved to the servers' OS-assigned ones.
        let config = std::fs::read_to_string(EXAMPLE)
            .unwrap()
            .replace("127.0.0.1:9001", &format!("127.0.0.1:{}", feed.port))
            .replace("127.0.0.1:9002", &format!("127.0.0.1:{}", downstream.port));
        let path = temp_file("seed.toml", &config);
        let relay =
            Binary::start(&["--config", path.to_str().unwrap(), "--workers", "1", "--no-pin"]);
        assert_eq!(feed.next_of("open")["path"], "/words");
        assert_eq!(feed.next_of("msg")["text"], r#"{"op":"subscribe","args":["words"]}"#);
        assert_eq!(downstream.next_of("open")["path"], "/ingest");
        let got = downstream.messages(4);
        assert_eq!(
            got,
            [
                r#"{"SUBSCRIBED": "{\"OP\":\"SUBSCRIBE\",\"ARGS\":[\"WORDS\"]}"}"#,
                "HELLO",
                "SLUICE STREAMS",
                "ÜNÏCÖDÉ"
            ]
        );
        // Subscribers can watch the connectors' status.
        let _status = connect(&format!("ws://{}/sub/words.status", relay.addr));
        drop(relay);
    });
}

#[test]
fn check_config_accepts_the_example_and_names_file_line_and_key() {
    let (ok, out) = check_config(std::path::Path::new(EXAMPLE));
    assert!(ok, "{out}");
    let cases = [
        ("unknown.toml", "[[source]]\nname = \"a\"\nurl = \"ws://h/\"\ntopic = \"t\"\nurll = \"x\"\n", ":5: key `source[0].urll`: unknown field `urll`"),
        ("url.toml", "[[source]]\nname = \"a\"\nurl = \"http://h/\"\ntopic = \"t\"\n", ":3: key `source[0].url`: URL `http://h/`: scheme `http` is not ws:// or wss://"),
        ("dup.toml", "[[source]]\nname = \"a\"\nurl = \"ws://h/\"\ntopic = \"t\"\n[[sink]]\nname = \"a\"\nurl = \"ws://h/\"\ntopic = \"u\"\n", ":6: key `sink[0].name`: `a` is already the name of source[0]"),
        ("jitter.toml", "[[sink]]\nname = \"a\"\nurl = \"ws://h/\"\ntopic = \"t\"\nbackoff = { jitter = 2.0 }\n", ":5: key `sink[0].backoff.jitter`: must be from 0 to 1"),
        ("stall.toml", "[[source]]\nname = \"a\"\nurl = \"ws://h/\"\ntopic = \"t\"\nstall_timeout = \"soon\"\n", "key `source[0].stall_timeout`"),
        ("overflow.toml", "[[sink]]\nname = \"a\"\nurl = \"ws://h/\"\ntopic = \"t\"\noverflow = \"drop-all\"\n", "key `sink[0].overflow`: unknown overflow policy `drop-all`"),
        ("header.toml", "[[source]]\nname = \"a\"\nurl = \"ws://h/\"\ntopic = \"t\"\nheaders = { Host = \"x\" }\n", ":5: key `source[0].headers`: header `Host` is set by the handshake"),
        ("send.toml", "[[sink]]\nname = \"a\"\nurl = \"ws://h/\"\ntopic = \"t\"\nsend_from = \"u\"\n", ":5: key `sink[0].send_from`: only a source has `send_from`"),
    ];
    // ca_file: read when the file is checked.
    let no_certs = temp_file("no-certs.pem", "# no certificates here\n");
    let missing = no_certs.with_file_name("missing-ca.pem");
    let ca = |url: &str, path: &std::path::Path| {
        format!("[[source]]\nname = \"a\"\nurl = \"{url}\"\ntopic = \"t\"\nca_file = {:?}\n", path)
    };
    let tls_cases = [
        (
            "ca-ws.toml",
            ca("ws://h/", &no_certs),
            ":5: key `source[0].ca_file`: only a wss:// URL uses a ca_file".to_string(),
        ),
        (
            "ca-missing.toml",
            ca("wss://h/", &missing),
            format!(
                ":5: key `source[0].ca_file`: cannot read PEM certificates from `{}`",
                missing.display()
            ),
        ),
        (
            "ca-empty.toml",
            ca("wss://h/", &no_certs),
            format!(
                ":5: key `source[0].ca_file`: `{}` holds no CERTIFICATE block",
                no_certs.display()
            ),
        ),
        (
            "wss-name.toml",
            "[[sink]]\nname = \"a\"\nurl = \"wss://a..b/\"\ntopic = \"t\"\n".to_string(),
            ":3: key `sink[0].url`: URL `wss://a..b/`: `a..b` is not a valid TLS server name"
                .to_string(),
        ),
    ];
    let tls_cases = tls_cases.iter().map(|(n, t, w)| (*n, t.as_str(), w.as_str()));
    for (name, text, want) in cases.into_iter().chain(tls_cases) {
        let path = temp_file(name, text);
        let (ok, out) = check_config(&path);
        assert!(!ok, "{name} was accepted");
        assert!(out.contains(want), "{name}: {out:?} lacks {want:?}");
        assert!(out.starts_with(path.to_str().unwrap()), "{name}: {out}");
    }
}
