//! How `SluiceSink` and `SluiceSource` fail, in real Flink jobs against the real `sluice`
//! binary: a bad URL or topic fails when the job is defined, with a message naming the problem;
//! `wss://` works with the JDK's TLS when the relay's certificate is trusted, and fails clearly
//! when it is not; a record the relay cannot take (over its message size limit, or text that is
//! not UTF-8) fails the job instead of being sent again forever;
//! a relay that refuses the connection (404 wrong path, 401 no valid token, 403 no right to the
//! topic) fails the job at once with the HTTP status and what to do; a relay that is down is
//! retried with backoff, and the job fails with a clear message after `maxReconnectAttempts`,
//! or carries on when the relay comes up. No case hangs: the job of each ends by itself, and
//! the whole run is bounded by a watchdog.
//!
//! One JVM runs every scenario in turn (`tests/flink/SluiceFailuresJob.java`), which keeps the
//! JVM start-up cost to one.

mod util;

use std::collections::BTreeMap;

use std::process::Command;

use util::flink::{flink, http_get, Job, RefusingPort};
use util::tls::make_cert;
use util::{watchdog, Binary};

const ACCESS: &str = r#"
[[access.tokens]]
token = "publisher-token-0123456789"
publish = ["*"]
subscribe = []

[[access.tokens]]
token = "reader-token-0123456789ab"
publish = []
subscribe = ["allowed"]
"#;

#[test]
fn bad_urls_refusals_and_a_relay_that_is_down_end_clearly() {
    watchdog(600, || {
        let Some(f) = flink() else { return };
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("flink-failures");
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("access.toml");
        std::fs::write(&config, ACCESS).unwrap();
        let open = Binary::start(&[]);
        let small = Binary::start(&["--max-message-size", "1KiB", "--max-frame-size", "1KiB"]);
        // Two TLS relays: the JVM trusts the first one's certificate only.
        let (trusted, untrusted) = (make_cert(), make_cert());
        let tls = |c: &util::tls::TestCert| {
            Binary::start(&[
                "--tls-cert",
                c.cert.to_str().unwrap(),
                "--tls-key",
                c.key.to_str().unwrap(),
            ])
        };
        let (tls_ok, tls_bad) = (tls(&trusted), tls(&untrusted));
        let store = dir.join("trust.p12");
        let _ = std::fs::remove_file(&store);
        let keytool = Command::new("keytool")
            .args(["-importcert", "-noprompt", "-alias", "relay", "-storetype", "PKCS12"])
            .args(["-storepass", "changeit", "-file", trusted.cert.to_str().unwrap()])
            .args(["-keystore", store.to_str().unwrap()])
            .output()
            .expect("keytool (part of the JDK)");
        assert!(keytool.status.success(), "keytool: {}", String::from_utf8_lossy(&keytool.stderr));
        let guarded = Binary::start(&["--config", config.to_str().unwrap()]);
        // Ports held bound but not listening: connecting is refused, and nothing else (such as
        // the Flink mini cluster's own ports) can take them meanwhile.
        let (down_port, late_port) = (RefusingPort::new(), RefusingPort::new());
        let (down, late) = (down_port.port, late_port.port);
        let o = format!("ws://{}", open.addr);
        let g = format!("ws://{}", guarded.addr);

        // (name, scenario, what the RESULT line must contain)
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "http_url",
                "build-sink|url=http://127.0.0.1:8080;topic=t".into(),
                "must start with ws:// or wss://",
            ),
            ("no_host", "build-sink|url=ws://:8080;topic=t".into(), "has no host"),
            ("not_a_url", "build-source|url=ws://exa mple;topics=t".into(), "is not a valid URL"),
            (
                "endpoint_in_url",
                format!("build-sink|url={o}/pub/results;topic=t"),
                "without /pub or /sub",
            ),
            ("bad_topic", format!("build-sink|url={o};topic=bad topic"), "has the character ' '"),
            ("no_topic", format!("build-source|url={o};topics="), "must not be empty"),
            (
                "wss_trusted",
                format!("sink|url=wss://127.0.0.1:{};topic=t", tls_ok.addr.port()),
                "ok",
            ),
            (
                "wss_untrusted",
                format!("sink|url=wss://127.0.0.1:{};topic=t", tls_bad.addr.port()),
                "TLS failed",
            ),
            ("wrong_path", format!("sink|url={o}/nope;topic=t"), "HTTP 404"),
            (
                "record_too_big",
                format!("sink|url=ws://{};topic=t;records=3;size=2000", small.addr),
                "(1009",
            ),
            (
                "invalid_text",
                format!("sink|url={o};topic=t;schema=invalid-utf8"),
                "not valid UTF-8",
            ),
            (
                "binary_bytes",
                format!("sink|url={o};topic=t;schema=invalid-utf8;message_type=binary"),
                "ok",
            ),
            ("sink_no_token", format!("sink|url={g};topic=t"), "HTTP 401"),
            (
                "sink_bad_token",
                format!("sink|url={g};topic=t;token=not-a-token-at-all"),
                "HTTP 401",
            ),
            (
                "sink_no_right",
                format!("sink|url={g};topic=t;token=reader-token-0123456789ab"),
                "HTTP 403",
            ),
            ("source_no_token", format!("source|url={g};topics=allowed"), "HTTP 401"),
            (
                "sink_down",
                format!("sink|url=ws://127.0.0.1:{down};topic=t;max_attempts=3;backoff_ms=50"),
                "gave up connecting to ws://127.0.0.1",
            ),
            (
                "source_down",
                format!("source|url=ws://127.0.0.1:{down};topics=t;max_attempts=3;backoff_ms=50"),
                "gave up connecting to ws://127.0.0.1",
            ),
            (
                "sink_late_relay",
                format!("sink|url=ws://127.0.0.1:{late};topic=late;records=1000;backoff_ms=50"),
                "ok",
            ),
        ];
        let args: Vec<String> = cases.iter().map(|(n, s, _)| format!("{n}|{s}")).collect();
        let mut cmd = f.java_with(
            "SluiceFailuresJob",
            &[
                format!("-Djavax.net.ssl.trustStore={}", store.display()),
                "-Djavax.net.ssl.trustStorePassword=changeit".into(),
                "-Djavax.net.ssl.trustStoreType=PKCS12".into(),
            ],
        );
        cmd.args(&args);
        let mut job = Job::spawn(cmd);

        // The last scenario: the relay comes up after the sink has retried twice.
        job.wait_line("START sink_late_relay");
        job.wait_stderr("two retries", |log| {
            log.iter()
                .filter(|l| {
                    l.contains(&format!("127.0.0.1:{late}/pub/late")) && l.contains("retrying")
                })
                .count()
                >= 2
        });
        drop(late_port);
        let relay = Binary::start(&["--listen", &format!("127.0.0.1:{late}")]);

        let end = job.wait(300);
        assert!(end.status.success(), "the scenario runner failed:\n{}", end.stderr_tail(40));
        let results: BTreeMap<&str, &str> = end
            .stdout
            .iter()
            .filter_map(|l| l.strip_prefix("RESULT "))
            .filter_map(|l| l.split_once(' '))
            .collect();
        let elapsed: BTreeMap<&str, &str> = end
            .stdout
            .iter()
            .filter_map(|l| l.strip_prefix("ELAPSED_MS "))
            .filter_map(|l| l.split_once(' '))
            .collect();
        for (name, _, want) in &cases {
            let got = results.get(name).unwrap_or_else(|| panic!("no result for {name}"));
            assert!(got.contains(want), "{name}: expected {want:?} in {got:?}");
            if *want != "ok" {
                assert!(got.starts_with("failed: "), "{name}: {got}");
            }
            eprintln!("{name} ({} ms): {got}", elapsed[name]);
        }
        let late_in = http_get(relay.addr, "/metrics")
            .lines()
            .find_map(|l| {
                l.strip_prefix("sluice_topic_messages_in_total{topic=\"late\"} ")
                    .map(str::to_string)
            })
            .expect("the late relay's counter");
        assert_eq!(late_in.trim(), "1000", "every record reached the relay that came up late");
    });
}
