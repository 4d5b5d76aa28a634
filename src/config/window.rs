//! The time and window keys of a `[[pipeline]]` table.
//!
//! ```toml
//! [[pipeline]]
//! name = "ohlc"
//! from = "trades"
//! to = "trades.1s"
//! key = ".symbol"
//! time = { event = ".ts", out_of_orderness = "200ms", allowed_lateness = "0s", idle = "5s" }
//! # or: time = "processing"
//! window = { tumbling = "1s" }            # or { tumbling = "1s", offset = "250ms" },
//!                                         # { sliding = "5s", slide = "1s" }, { session = "500ms" },
//!                                         # { count = 100 }
//! aggregate = { volume = "sum(.qty)", trades = "count", high = "max(.price)" }
//! late = "trades.late"                    # optional: events past the allowed lateness
//! max_windows = 100000                    # optional: bound on open windows (all workers)
//! ```
//!
//! Durations are written with a unit: `ms`, `s`, `m`, `h` (`"1.5s"` is allowed); they must be
//! whole milliseconds. An offset may be negative (`"-8h"`). Every value is checked while the file
//! is read, so an error names the line and the key (`pipeline[0].window`).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::config::parse_duration;
use crate::ops::time::{EventTime, Sources, TimeMode};
use crate::ops::window::{Aggregates, Window};
use crate::ops::KeyPath;

/// Milliseconds from a duration string; `signed` allows a leading `-`.
fn millis(s: &str, signed: bool) -> Result<i64, String> {
    let t = s.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) if signed => (true, rest),
        Some(_) => return Err(format!("`{t}`: must not be negative")),
        None => (false, t),
    };
    let d = parse_duration(body)?;
    if d.subsec_nanos() % 1_000_000 != 0 {
        return Err(format!("`{t}`: must be a whole number of milliseconds"));
    }
    let ms = i64::try_from(d.as_millis()).map_err(|_| format!("`{t}` is too long"))?;
    Ok(if neg { -ms } else { ms })
}

/// A duration in milliseconds (`"200ms"`, `"1s"`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub i64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        millis(&s, false).map(Millis).map_err(de::Error::custom)
    }
}

/// A duration in milliseconds that may be negative (`"-250ms"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedMillis(pub i64);

impl<'de> Deserialize<'de> for SignedMillis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        millis(&s, true).map(SignedMillis).map_err(de::Error::custom)
    }
}

/// How several publishers combine (`sources`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum SourcesConfig {
    One,
    PerPublisher,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventTable {
    event: KeyPath,
    #[serde(default)]
    out_of_orderness: Option<Millis>,
    #[serde(default)]
    allowed_lateness: Option<Millis>,
    #[serde(default)]
    idle: Option<Millis>,
    #[serde(default)]
    sources: Option<SourcesConfig>,
}

/// `time = "processing"` or `time = { event = ".ts", … }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeConfig(pub TimeMode);

impl<'de> Deserialize<'de> for TimeConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TimeConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"processing\" or a table like { event = \".ts\", out_of_orderness = \"200ms\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TimeConfig, E> {
                match v {
                    "processing" => Ok(TimeConfig(TimeMode::Processing)),
                    other => Err(E::custom(format!(
                        "`{other}`: expected \"processing\" or a table like {{ event = \".ts\" }}"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TimeConfig, A::Error> {
                let t = EventTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let mut e = EventTime::new(t.event.source()).map_err(de::Error::custom)?;
                e.out_of_orderness = t.out_of_orderness.map_or(0, |m| m.0);
                e.allowed_lateness = t.allowed_lateness.map_or(0, |m| m.0);
                e.idle = t.idle.map(|m| m.0.max(1));
                e.sources = match t.sources {
                    Some(SourcesConfig::PerPublisher) => Sources::PerPublisher,
                    _ => Sources::One,
                };
                Ok(TimeConfig(TimeMode::Event(e)))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowTable {
    #[serde(default)]
    tumbling: Option<Millis>,
    #[serde(default)]
    sliding: Option<Millis>,
    #[serde(default)]
    slide: Option<Millis>,
    #[serde(default)]
    session: Option<Millis>,
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    offset: Option<SignedMillis>,
}

/// `window = { tumbling = "1s" }` and the other kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowConfig(pub Window);

impl<'de> Deserialize<'de> for WindowConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = WindowTable::deserialize(d)?;
        let kinds =
            [t.tumbling.is_some(), t.sliding.is_some(), t.session.is_some(), t.count.is_some()];
        if kinds.iter().filter(|&&k| k).count() != 1 {
            return Err(de::Error::custom(
                "expected exactly one of `tumbling`, `sliding`, `session`, `count`",
            ));
        }
        if t.slide.is_some() != t.sliding.is_some() {
            return Err(de::Error::custom("`slide` goes with `sliding`, and `sliding` needs it"));
        }
        let offset = t.offset.map_or(0, |o| o.0);
        if t.offset.is_some() && (t.session.is_some() || t.count.is_some()) {
            return Err(de::Error::custom("`offset` applies to tumbling and sliding windows"));
        }
        let w = if let Some(size) = t.tumbling {
            Window::Tumbling { size: size.0, offset }
        } else if let (Some(size), Some(slide)) = (t.sliding, t.slide) {
            Window::Sliding { size: size.0, slide: slide.0, offset }
        } else if let Some(gap) = t.session {
            Window::Session { gap: gap.0 }
        } else {
            Window::Count { size: t.count.unwrap_or(0) }
        };
        w.check().map_err(de::Error::custom)?;
        Ok(WindowConfig(w))
    }
}

/// `aggregate = { name = "sum(.qty)", … }`, in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateConfig(pub Aggregates);

impl<'de> Deserialize<'de> for AggregateConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AggregateConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of named aggregates like { volume = \"sum(.qty)\", trades = \"count\" }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AggregateConfig, A::Error> {
                let mut a = Aggregates::new();
                while let Some((name, spec)) = map.next_entry::<String, String>()? {
                    a = a.parse(&name, &spec);
                }
                a.check().map_err(de::Error::custom)?;
                Ok(AggregateConfig(a))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn load(table: &str) -> Result<Config, crate::ConfigError> {
        let text = format!(
            "[[pipeline]]\nname = \"w\"\nfrom = \"in\"\nto = \"out\"\nkey = \".k\"\n{table}\n"
        );
        Config::from_toml_str(&text, None)
    }

    #[test]
    fn durations() {
        assert_eq!(millis("200ms", false), Ok(200));
        assert_eq!(millis("1.5s", false), Ok(1500));
        assert_eq!(millis("2h", false), Ok(7_200_000));
        assert_eq!(millis("-8h", true), Ok(-28_800_000));
        assert!(millis("-1s", false).unwrap_err().contains("negative"));
        assert!(millis("500us", false).unwrap_err().contains("whole number"));
        assert!(millis("5", false).is_err());
    }

    #[test]
    fn the_issue_examples_load() {
        let c = load(
            "time = { event = \".ts\", out_of_orderness = \"200ms\", allowed_lateness = \"0s\", idle = \"5s\" }\n\
             window = { tumbling = \"1s\" }\n\
             aggregate = { volume = \"sum(.qty)\", trades = \"count\", high = \"max(.price)\" }\n\
             late = \"late\"",
        )
        .unwrap();
        let p = c.pipelines[0].to_pipeline();
        assert_eq!(p.validate(), Ok(()));
        let t = p.event_time_spec().unwrap();
        assert_eq!((t.out_of_orderness, t.allowed_lateness, t.idle), (200, 0, Some(5000)));
        let a = c.pipelines[0].aggregate.as_ref().unwrap();
        let names: Vec<&str> = a.0.list.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(names, ["volume", "trades", "high"], "in the order written");
        for w in [
            "{ tumbling = \"1s\", offset = \"250ms\" }",
            "{ sliding = \"5s\", slide = \"1s\" }",
            "{ session = \"500ms\" }",
            "{ count = 10 }",
            "{ tumbling = \"1d\" }",
        ] {
            let r = load(&format!(
                "time = \"processing\"\nwindow = {w}\naggregate = {{ n = \"count\" }}"
            ));
            assert_eq!(r.is_ok(), !w.contains("1d"), "{w}: {r:?}");
        }
    }

    #[test]
    fn mistakes_name_the_line_and_key() {
        let e = load("time = \"processing\"\nwindow = { tumbling = \"1s\", slide = \"1s\" }\naggregate = { n = \"count\" }").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(7), Some("pipeline[0].window")), "{e}");
        let e = load("time = \"processing\"\nwindow = { session = \"1s\" }\naggregate = { n = \"median(.x)\" }").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("pipeline[0].aggregate"), "{e}");
        assert!(e.message.contains("unknown aggregate `median`"), "{e}");
        let e = load("time = { event = \"ts\" }").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("pipeline[0].time.event"), "{e}");
        let e = load("time = \"wallclock\"").unwrap_err();
        assert!(e.message.contains("processing"), "{e}");
        let e = load("time = { event = \".ts\", lateness = \"1s\" }").unwrap_err();
        assert!(e.message.contains("unknown field `lateness`"), "{e}");
        let e = load("window = { tumbling = \"1s\" }\naggregate = { n = \"count\" }").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("pipeline[0].window"), "{e}");
        assert!(e.message.contains("needs event time"), "{e}");
        let e = load("time = \"processing\"\nwindow = { tumbling = \"1s\" }").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("pipeline[0].window"), "{e}");
        let e = load("time = \"processing\"\naggregate = { n = \"count\" }").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("pipeline[0].aggregate"), "{e}");
        let e = load("time = \"processing\"\nwindow = { tumbling = \"1s\" }\naggregate = { n = \"count\" }\nlate = \"x\"").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("pipeline[0].late"), "{e}");
        let e = load("time = { event = \".ts\" }\nwindow = { tumbling = \"1s\", offset = \"1s\" }\naggregate = { n = \"count\" }").unwrap_err();
        assert!(e.message.contains("offset"), "{e}");
    }
}
