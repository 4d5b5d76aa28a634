//! The relay binary with a configuration file: the shipped `examples/relay.toml` end to end,
//! `--check-config` and its error messages, and `sluice replay`.

mod util;

use std::process::Command;

use tungstenite::Message;
use util::{connect, next_data, watchdog, Binary};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/relay.toml");

fn sluice(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice")).args(args).output().expect("run sluice");
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn the_shipped_example_upper_cases_words_end_to_end() {
    watchdog(120, || {
        let relay = Binary::start(&["--config", EXAMPLE, "--no-pin", "--workers", "2"]);
        let base = format!("ws://{}", relay.addr);
        let mut upper = connect(&format!("{base}/sub/words.upper"));
        let mut clean = connect(&format!("{base}/sub/trades.clean"));
        let mut words = connect(&format!("{base}/pub/words"));
        let mut trades = connect(&format!("{base}/pub/trades"));
        for w in ["hello", "Sluice streams", "ünïcödé"] {
            words.send(Message::text(w)).unwrap();
        }
        assert_eq!(next_data(&mut upper), Message::text("HELLO"));
        assert_eq!(next_data(&mut upper), Message::text("SLUICE STREAMS"));
        assert_eq!(next_data(&mut upper), Message::text("ÜNÏCÖDÉ"));
        trades.send(Message::text(r#"{"symbol":"BTC","price":2,"qty":0}"#)).unwrap();
        trades.send(Message::text(r#"{"symbol":"BTC","price":2,"qty":3}"#)).unwrap();
        assert_eq!(next_data(&mut clean), Message::text(r#"{"sym":"BTC","px":2,"notional":6}"#));
    });
}

#[test]
fn check_config_accepts_the_example_and_names_file_line_and_key() {
    let (ok, stdout, _) = sluice(&["--check-config", EXAMPLE]);
    assert!(ok && stdout.ends_with(": ok\n"), "{stdout}");
    let cases = [
        (
            "unknown.toml",
            "[[pipeline]]\nname = \"a\"\nfrom = \"x\"\nto = \"y\"\nkye = \".a\"\n",
            ":5: key `pipeline[0].kye`: unknown field `kye`",
        ),
        (
            "expr.toml",
            "[[pipeline]]\nname = \"a\"\nfrom = \"x\"\nto = \"y\"\nsteps = [{ map = \"{a: .b\" }]\n",
            ":5: key `pipeline[0].steps[0].map`: invalid jq expression `{a: .b`",
        ),
        ("duration.toml", "[workers]\nidle = \"park\"\nspin = \"fast\"\n", ":3: key `workers.spin`"),
        (
            "idle.toml",
            "[workers]\nidle = \"snooze\"\n",
            ":2: key `workers.idle`: unknown idle strategy `snooze`",
        ),
        (
            "step.toml",
            "[[pipeline]]\nname = \"a\"\nfrom = \"x\"\nto = \"y\"\nsteps = [{ text = \"shout\" }]\n",
            "unknown text operation `shout`",
        ),
        (
            "key.toml",
            "[[pipeline]]\nname = \"a\"\nfrom = \"x\"\nto = \"y\"\nkey = \"symbol\"\n",
            ":5: key `pipeline[0].key`: key `symbol` must be a jq path",
        ),
        (
            "cycle.toml",
            "[[pipeline]]\nname = \"a\"\nfrom = \"x\"\nto = \"y\"\n\n[[pipeline]]\nname = \"b\"\nfrom = \"y\"\nto = \"x\"\n",
            "key `pipeline[0].to`",
        ),
        ("topic.toml", "[[pipeline]]\nname = \"a\"\nfrom = \"x y\"\nto = \"z\"\n", ":3: key `pipeline[0].from`"),
    ];
    for (name, text, expected) in cases {
        let path = temp_file(name, text);
        let (ok, _, stderr) = sluice(&["--check-config", path.to_str().unwrap()]);
        assert!(!ok, "{name} should be refused");
        assert!(stderr.starts_with(path.to_str().unwrap()), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: expected {expected:?} in {stderr}");
    }
}

#[test]
fn replay_runs_a_pipeline_over_json_lines() {
    let input = temp_file(
        "events.jsonl",
        "{\"symbol\":\"BTC\",\"price\":2,\"qty\":3}\nnot json\n\n{\"symbol\":\"ETH\",\"price\":1,\"qty\":0}\n{\"symbol\":\"SOL\",\"price\":0.5,\"qty\":2}\n",
    );
    let output = input.with_file_name("out.jsonl");
    let errors = input.with_file_name("errors.jsonl");
    let (ok, _, stderr) = sluice(&[
        "replay",
        "--config",
        EXAMPLE,
        "--pipeline",
        "clean-trades",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--errors",
        errors.to_str().unwrap(),
        "--workers",
        "4",
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "{\"sym\":\"BTC\",\"px\":2,\"notional\":6}\n{\"sym\":\"SOL\",\"px\":0.5,\"notional\":1.0}\n"
    );
    let errs = std::fs::read_to_string(&errors).unwrap();
    assert_eq!(errs.lines().count(), 1, "{errs}");
    assert!(errs.contains("\"payload\":\"not json\""), "{errs}");
    assert!(stderr.contains("4 in, 2 out, 1 filtered, 1 invalid JSON"), "{stderr}");

    let (ok, _, stderr) =
        sluice(&["replay", "--config", EXAMPLE, "--pipeline", "nope", "--input", "x"]);
    assert!(!ok && stderr.contains("no pipeline named `nope`"), "{stderr}");
}
