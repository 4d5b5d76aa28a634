//! The configuration reference: every key of the file, its default and what it does, printed by
//! `sluice config --print-default` ([`default_file`]) and shown in `docs/configuration.md`.
//!
//! Contract, held by this module's tests:
//!
//! - **Every key the parser accepts is documented, and nothing else is.** Each [`Section`]
//!   names the parser's own field list of its table ([`fields_of`] reads it from the serde
//!   derive that parses the table), and its documented keys plus its sub-sections must be
//!   exactly that list.
//! - **The defaults printed are the defaults.** A key's printed value is computed from
//!   [`Config::default()`] (or, in tables that have no default instance, from the parser's
//!   default functions), the printed file parses back to exactly `Config::default()`, and in
//!   `[[…]]` tables each printed default parses to the same value as leaving the key out.
//! - **Every example parses.** Each commented-out key, uncommented with its table's required
//!   keys, is accepted by the parser.
//!
//! Adding a key to a table's struct therefore fails the tests until it is documented in
//! [`table::SECTIONS`]; adding a table means adding its struct's field to [`Config`] and one
//! [`Section`] entry (with `fields: fields_of::<TheStruct>`).

mod cluster;
mod table;

use std::fmt::Write as _;
use std::time::Duration;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use super::Config;
pub use table::SECTIONS;

/// How a table appears in the printed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The top-level keys (no header).
    Top,
    /// `[name]`: present, with every key's default.
    Table,
    /// `[name]`: absent unless set; printed commented out.
    Optional,
    /// `[[name]]`: none by default, any number; printed commented out, as an example.
    Array,
}

/// One table of the configuration file.
#[derive(Debug)]
pub struct Section {
    /// The table's name as written in its header (`limits`, `access.tokens`); empty for the
    /// top-level keys.
    pub name: &'static str,
    /// How it appears.
    pub shape: Shape,
    /// What the table is for.
    pub doc: &'static str,
    /// Its keys, in the order printed.
    pub keys: &'static [Key],
    /// The keys the parser accepts in this table: `fields_of::<TheStruct>`.
    pub fields: fn() -> &'static [&'static str],
    /// Another section whose keys this table also takes (documented there).
    pub same_as: Option<&'static str>,
}

/// One key of a table.
#[derive(Debug)]
pub struct Key {
    /// The key as written.
    pub name: &'static str,
    /// Its default, or an example when it has none.
    pub value: Value,
    /// What it does.
    pub doc: &'static str,
}

/// A key's value in the printed file.
#[derive(Debug)]
pub enum Value {
    /// The default, as TOML (computed from the parser's defaults).
    Default(fn() -> String),
    /// No default (absent means off or none); an example value, printed commented out.
    Optional(&'static str),
    /// Must be given in its table; an example value.
    Required(&'static str),
}

/// The header of the printed file: how sizes and durations are written.
pub const PREAMBLE: &str = "\
Sluice configuration file: every key, with its default and what it does.
Printed by `sluice config --print-default`; run with `sluice --config FILE`, check with
`sluice --check-config FILE`. Every key is optional unless marked required, a table left out
keeps its defaults, and an unknown key is an error that names its line.

Sizes are a number of bytes (`512`) or a string with a unit: binary `KiB`, `MiB`, `GiB` (or
`K`/`k`, `M`, `G`), decimal `KB` (or `kB`), `MB`, `GB`, or `B`. A fraction is allowed when it
makes a whole number of bytes (`\"1.5KiB\"`).
Durations are a string with a unit: `us` (or `µs`), `ms`, `s`, `m` (or `min`), `h`, with an
optional fraction (`\"1.5s\"`); `\"0\"` alone is zero. Window durations must be whole
milliseconds.";

/// The complete default configuration file.
pub fn default_file() -> String {
    let mut out = String::new();
    comment(&mut out, PREAMBLE);
    for s in SECTIONS {
        let off = matches!(s.shape, Shape::Optional | Shape::Array);
        let hide = if off { "# " } else { "" };
        out.push('\n');
        comment(&mut out, s.doc);
        match s.shape {
            Shape::Top => {}
            Shape::Table | Shape::Optional => {
                let _ = writeln!(out, "{hide}[{}]", s.name);
            }
            Shape::Array => {
                let _ = writeln!(out, "{hide}[[{}]]", s.name);
            }
        }
        for k in s.keys {
            let (value, hash) = match &k.value {
                Value::Default(f) => (f(), hide),
                Value::Optional(example) => (example.to_string(), "# "),
                Value::Required(example) => (example.to_string(), hide),
            };
            match k.value {
                Value::Required(_) => comment(&mut out, &format!("Required. {}", k.doc)),
                _ => comment(&mut out, k.doc),
            }
            let _ = writeln!(out, "{hash}{} = {value}", k.name);
        }
    }
    out
}

/// Write `text` as `# ` comment lines wrapped at 100 columns (line breaks kept).
fn comment(out: &mut String, text: &str) {
    const WIDTH: usize = 100;
    if text.is_empty() {
        return;
    }
    for para in text.split('\n') {
        let mut line = String::from("#");
        for word in para.split(' ').filter(|w| !w.is_empty()) {
            if line.len() + 1 + word.len() > WIDTH && line.len() > 1 {
                let _ = writeln!(out, "{line}");
                line = String::from("#");
            }
            line.push(' ');
            line.push_str(word);
        }
        let _ = writeln!(out, "{line}");
    }
}

/// A duration as the parser reads it, in the largest unit that keeps it whole.
pub fn duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "\"0\"".into();
    }
    for (unit, scale) in [("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000)] {
        if ns % scale == 0 {
            return format!("\"{}{unit}\"", ns / scale);
        }
    }
    if ns % 1_000_000 == 0 {
        return format!("\"{}ms\"", ns / 1_000_000);
    }
    format!("\"{}us\"", d.as_micros())
}

/// A byte size as the parser reads it, in the largest binary unit that keeps it whole.
pub fn size(n: usize) -> String {
    for (unit, scale) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n > 0 && n % scale == 0 {
            return format!("\"{}{unit}\"", n / scale);
        }
    }
    n.to_string()
}

/// A TOML string literal.
pub fn string(s: &str) -> String {
    toml::Value::String(s.into()).to_string()
}

/// The field names the parser accepts in `T`'s table, from its serde derive.
pub fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// A deserializer that records the field list a derived `Deserialize` asks for, then stops.
struct Probe<'a>(&'a mut &'static [&'static str]);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("probe")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        *self.0 = fields;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// `Config::default()`, for the value functions of [`table::SECTIONS`].
fn d() -> Config {
    Config::default()
}

#[cfg(test)]
mod tests;
