//! The Flink source's `sluice.v1` scanner (`EnvelopeScanner`, connectors/flink) reads exactly
//! the payload the relay wrapped: its unit cases in Java (tests/flink/EnvelopeScannerTest.java:
//! nested objects, strings with escapes and `}` inside, unicode, base64, every way to be
//! malformed, every truncation), and envelopes the real relay wrote for tricky payloads, read
//! back byte for byte.

mod util;

use std::io::Write;
use std::path::Path;

use tungstenite::Message;
use util::flink::flink;
use util::{connect, envelope, watchdog, Relay};

/// Text payloads that test the scanner where a JSON scanner goes wrong.
fn texts() -> Vec<String> {
    let mut t: Vec<String> = [
        r#"{"a":{"b":[1,{"c":"}"},"]",[[]],{}],"d":"\"}\\","e":"\u007d"},"f":-0.5e+10}"#,
        "  {\"x\": 1}\n\t ",
        "{\n  \"multi\": \"line\",\r\n  \"n\": [1,\n2]\n}",
        r#"{"s":"héllo ☃ 😀","e":"\u00e9\ud83d\ude00","z":"\u0000"}"#,
        "not json: \"quoted\" \\ back } { \t tab \u{1} ctrl \u{7f} ☃ 😀 \u{10ffff}",
        r#"{"a": "\q"}"#,
        "{\"unterminated\": [1, 2}",
        "42",
        "-1.5e3",
        "true",
        "null",
        "[]",
        "}",
        "{",
        "",
        "\"a JSON string with \\\"escapes\\\" and \\u00e9\"",
    ]
    .map(String::from)
    .to_vec();
    t.push("[".repeat(100) + &"]".repeat(100));
    // Deeper than the relay takes as JSON: it is sent as a string.
    t.push("[".repeat(200) + &"]".repeat(200));
    let big: Vec<String> = (0..20_000).map(|i| format!("{{\"i\":{i},\"s\":\"}}\\\"\"}}")).collect();
    t.push(format!("[{}]", big.join(",")));
    t
}

fn binaries() -> Vec<Vec<u8>> {
    vec![
        (0..=255u8).collect(),
        Vec::new(),
        b"{\"looks\":\"like json\"}".to_vec(),
        vec![0xff; 70_000],
    ]
}

/// What the scanner must hand on for a text payload: a JSON text without the whitespace around
/// it, except a JSON string, which is indistinguishable from other text in `sluice.v1` and so
/// arrives as its content; other text as it is.
fn expected_text(p: &str) -> Vec<u8> {
    match serde_json::from_str::<serde_json::Value>(p) {
        Ok(serde_json::Value::String(s)) => s.into_bytes(),
        Ok(_) => p.trim().as_bytes().to_vec(),
        Err(_) => p.as_bytes().to_vec(),
    }
}

fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "-".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn the_scanner_reads_exactly_what_the_relay_wrapped() {
    watchdog(300, || {
        let Some(f) = flink() else { return };

        // The unit cases.
        let out = f.java("io.sluice.flink.EnvelopeScannerTest").output().expect("run java");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "EnvelopeScannerTest failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cases: u32 = stdout.trim().strip_prefix("PASSED ").expect("PASSED n").parse().unwrap();
        assert!(cases > 400, "only {cases} cases ran");

        // Envelopes of the real relay.
        let relay = Relay::start();
        let mut sub = envelope::connect(&relay.url("/sub/tricky"));
        assert_eq!(envelope::next(&mut sub)["type"], "subscribed");
        let mut publisher = connect(&relay.url("/pub/tricky"));
        let mut want = Vec::new();
        for t in texts() {
            want.push((false, expected_text(&t)));
            publisher.send(Message::text(t)).unwrap();
        }
        for b in binaries() {
            want.push((true, b.clone()));
            publisher.send(Message::binary(b)).unwrap();
        }
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flink-envelope");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("envelopes.bin");
        let mut w = std::fs::File::create(&file).unwrap();
        for _ in 0..want.len() {
            let Message::Text(text) = util::next_data(&mut sub) else {
                panic!("envelopes are text")
            };
            w.write_all(&(text.len() as u32).to_be_bytes()).unwrap();
            w.write_all(text.as_bytes()).unwrap();
        }
        drop(w);

        let out =
            f.java("io.sluice.flink.EnvelopeScannerTest").arg(&file).output().expect("run java");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the scanner refused an envelope of the relay:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), want.len(), "one line per envelope");
        let mut epoch = None;
        for (i, (line, (binary, bytes))) in lines.iter().zip(&want).enumerate() {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(&f[..3], ["PUBLICATION", "tricky", &(i + 1).to_string()], "{line}");
            assert_eq!(*epoch.get_or_insert(f[3]), f[3], "one epoch");
            assert_eq!(f[4], binary.to_string(), "binary flag of message {}", i + 1);
            assert!(
                f[5] == hex(bytes),
                "payload {} differs:\n got {}\nwant {}",
                i + 1,
                f[5],
                hex(bytes)
            );
        }
        eprintln!("{cases} unit cases; {} envelopes of the relay read back exactly", want.len());
    });
}
