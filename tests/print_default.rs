//! `sluice config --print-default` prints a complete configuration file that the relay reads back
//! as exactly its defaults, and `docs/configuration.md` shows that output verbatim.
//!
//! After a change to the configuration (a new key, a new table, a new default), refresh the
//! page with `UPDATE_DOCS=1 cargo test --test print_default`.

mod util;

use std::path::Path;
use std::process::Command;

use sluice::Config;
use util::watchdog;

const START: &str = "<!-- print-default:";
const END: &str = "<!-- /print-default -->";

fn print_default() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["config", "--print-default"])
        .output()
        .expect("run sluice");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn the_printed_file_is_the_default_configuration() {
    watchdog(60, || {
        let text = print_default();
        assert_eq!(Config::from_toml_str(&text, None), Ok(Config::default()));
        for key in ["listen", "max_queued_bytes", "token_cookie", "static_prefix", "queue"] {
            assert!(text.lines().any(|l| l.starts_with(&format!("{key} = "))), "{key}");
        }
        for table in ["[limits]", "[access]", "[metrics]", "[web]", "[workers]"] {
            assert!(text.lines().any(|l| l == table), "{table}");
        }
        for example in ["# [tls]", "# [[access.tokens]]", "# [[pipeline]]", "# [[source]]"] {
            assert!(text.lines().any(|l| l == example), "{example}");
        }
        // `sluice config` alone is a usage error.
        let bare = Command::new(env!("CARGO_BIN_EXE_sluice")).arg("config").output().unwrap();
        assert_eq!(bare.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&bare.stderr).contains("--print-default"));
    });
}

#[test]
fn docs_configuration_md_shows_the_printed_file() {
    watchdog(60, || {
        let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
        let doc = std::fs::read_to_string(&page).unwrap();
        let start = doc.find(START).expect("the start marker");
        let body = start + doc[start..].find('\n').unwrap() + 1;
        let end = doc.find(END).expect("the end marker");
        let expected = format!("```toml\n{}```\n", print_default());
        if doc[body..end] == expected {
            return;
        }
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&page, format!("{}{expected}{}", &doc[..body], &doc[end..])).unwrap();
            eprintln!("updated {}", page.display());
            return;
        }
        panic!(
            "docs/configuration.md does not show the output of `sluice config --print-default`; \
             refresh it with UPDATE_DOCS=1 cargo test --test print_default"
        );
    });
}
