//! The reference is held to the parser: keys, defaults and examples.

use std::collections::BTreeSet;

use super::{default_file, Section, Shape, Value, SECTIONS};
use crate::config::Config;

fn section(name: &str) -> &'static Section {
    SECTIONS.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no section {name}"))
}

/// The names a section documents: its keys, its sub-tables, and the keys it shares.
fn documented(s: &Section) -> BTreeSet<&'static str> {
    let mut names: BTreeSet<&str> = s.keys.iter().map(|k| k.name).collect();
    for sub in SECTIONS {
        let parent = sub.name.rsplit_once('.').map_or("", |(p, _)| p);
        if sub.name != s.name && parent == s.name {
            names.insert(sub.name.rsplit('.').next().unwrap());
        }
    }
    if let Some(other) = s.same_as {
        names.extend(section(other).keys.iter().map(|k| k.name));
    }
    names
}

#[test]
fn every_key_the_parser_accepts_is_documented_and_no_other() {
    for s in SECTIONS {
        let fields: BTreeSet<&str> = (s.fields)().iter().copied().collect();
        assert!(!fields.is_empty(), "[{}]: its fields() is not a derived table", s.name);
        let docs = documented(s);
        let missing: Vec<_> = fields.difference(&docs).collect();
        let extra: Vec<_> = docs.difference(&fields).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "[{}]: keys the parser takes but the reference does not document: {missing:?}; \
             documented keys the parser does not take: {extra:?} (src/config/reference/table.rs)",
            s.name
        );
    }
}

#[test]
fn the_printed_file_parses_to_the_default() {
    let text = default_file();
    assert_eq!(Config::from_toml_str(&text, None), Ok(Config::default()), "{text}");
}

#[test]
fn lines_fit_in_100_columns() {
    for line in default_file().lines() {
        assert!(line.chars().count() <= 100, "too long: {line}");
    }
}

/// Keys that only make sense with others (pipeline windows, a topic's latest-value key).
fn companions(section: &str, key: &str) -> &'static [&'static str] {
    match (section, key) {
        ("topic", "key") => &["slow = \"latest\""],
        ("cluster", "user") => &["password = \"s3cret\""],
        ("cluster", "password") => &["user = \"sluice\""],
        ("pipeline", "window" | "aggregate" | "late" | "time") => &[
            "time = { event = \".ts\" }",
            "window = { tumbling = \"1s\" }",
            "aggregate = { n = \"count\" }",
        ],
        _ => &[],
    }
}

fn parse(text: &str) -> Config {
    Config::from_toml_str(text, None).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
}

#[test]
fn every_example_and_table_default_parses() {
    for s in SECTIONS.iter().filter(|s| s.shape != Shape::Top) {
        let mut base = match s.shape {
            Shape::Array => format!("[[{}]]\n", s.name),
            _ => format!("[{}]\n", s.name),
        };
        for k in s.keys {
            if let Value::Required(v) = k.value {
                base.push_str(&format!("{} = {v}\n", k.name));
            }
        }
        let without = parse(&base);
        for k in s.keys {
            let mut text = base.clone();
            for c in companions(s.name, k.name) {
                if !c.starts_with(&format!("{} =", k.name)) {
                    text.push_str(&format!("{c}\n"));
                }
            }
            if k.name == "ca_file" {
                // Read when the file is checked: parsed, then refused for the missing file.
                let text = format!(
                    "{}ca_file = \"/nonexistent/ca.pem\"\n",
                    base.replace("ws://", "wss://")
                );
                let e = Config::from_toml_str(&text, None).unwrap_err();
                let key = match s.shape {
                    Shape::Array => format!("{}[0].ca_file", s.name),
                    _ => format!("{}.ca_file", s.name),
                };
                assert_eq!(e.key.as_deref(), Some(&*key), "{e}");
                assert!(e.message.contains("cannot read"), "{e}");
                continue;
            }
            match &k.value {
                Value::Required(_) => continue,
                Value::Optional(v) => text.push_str(&format!("{} = {v}\n", k.name)),
                Value::Default(f) => {
                    text.push_str(&format!("{} = {}\n", k.name, f()));
                    assert_eq!(parse(&text), without, "[{}] {}: not the default", s.name, k.name);
                }
            }
            parse(&text);
        }
    }
}
