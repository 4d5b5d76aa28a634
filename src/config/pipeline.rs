//! The `[workers]` table and the `[[pipeline]]` tables of the configuration file.
//!
//! ```toml
//! [workers]
//! count = 3                 # default: cores - 1, at least 1
//! idle = "spin-then-park"   # or "spin", "park"
//! spin = "50us"             # how long spin-then-park spins before backing off
//! pin = true                # pin each worker to its own core
//! queue = 1024              # batches queued per worker before drop-newest
//!
//! [[pipeline]]
//! name = "clean-trades"
//! from = "trades"           # or ["trades.a", "trades.b"]
//! to = "trades.clean"
//! key = ".symbol"           # optional: partition key (a jq path)
//! errors = "trades.errors"  # optional: error records go here
//! steps = [
//!   { filter = ".qty > 0" },
//!   { map = "{sym: .symbol, px: .price}" },
//!   { text = "upper" },
//! ]
//! ```
//!
//! Values are checked while the file is read (a jq expression is compiled, a topic name
//! checked), so an error carries the line and the key path, e.g. `pipeline[0].steps[1].map`.
//! Relations between pipelines (unique names, no output feeding back into its own input) are
//! checked by [`check_pipelines`].

use std::collections::HashMap;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::ops::{Expr, KeyPath, Pipeline, TextOp};
use crate::topic::validate_topic;
use crate::worker::IdleStrategy;

use super::de_duration;
use super::window::{AggregateConfig, TimeConfig, WindowConfig};
use crate::ops::TimeMode;

/// Worker pool settings (`[workers]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Worker threads. Default `0`: one per core but one (at least 1).
    pub count: usize,
    /// What an idle worker does: `spin`, `spin-then-park` (default) or `park`.
    #[serde(deserialize_with = "de_idle")]
    pub idle: IdleStrategy,
    /// How long `spin-then-park` spins after the last work before yielding, then parking.
    /// Default `50us`.
    #[serde(deserialize_with = "de_duration")]
    pub spin: Duration,
    /// Pin each worker to its own core (default true). A failure is logged once, not fatal.
    pub pin: bool,
    /// Batches (one per read of a publisher) queued per worker. Default 1024. When full, the
    /// newest batch is dropped and counted (`dropped_full`).
    pub queue: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            count: 0,
            idle: IdleStrategy::default(),
            spin: crate::worker::idle::DEFAULT_SPIN,
            pin: true,
            queue: 1024,
        }
    }
}

impl WorkerConfig {
    /// The number of worker threads to start.
    pub fn threads(&self) -> usize {
        if self.count > 0 {
            return self.count;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores.saturating_sub(1).max(1)
    }

    /// The idle strategy with its spin time.
    pub fn strategy(&self) -> IdleStrategy {
        match self.idle {
            IdleStrategy::SpinThenPark { .. } => IdleStrategy::SpinThenPark { spin: self.spin },
            other => other,
        }
    }
}

fn de_idle<'de, D: Deserializer<'de>>(d: D) -> Result<IdleStrategy, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(de::Error::custom)
}

/// A topic name, checked when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicName(pub String);

impl<'de> Deserialize<'de> for TopicName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        validate_topic(&s).map_err(|e| de::Error::custom(format!("`{s}`: {e}")))?;
        Ok(TopicName(s))
    }
}

/// One topic or a list of topics.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged, expecting = "a topic name or a list of topic names")]
pub enum Topics {
    /// `from = "a"`
    One(TopicName),
    /// `from = ["a", "b"]`
    Many(Vec<TopicName>),
}

impl Topics {
    /// The names.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Topics::One(t) => vec![t.0.as_str()],
            Topics::Many(ts) => ts.iter().map(|t| t.0.as_str()).collect(),
        }
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Expr::new(&s).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for KeyPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyPath::parse(&s).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for TextOp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TextOp::parse(&s).map_err(de::Error::custom)
    }
}

/// One step of a `[[pipeline]]`: a table with exactly one of these keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StepConfig {
    /// `{ filter = "<jq>" }`: keep messages whose first output is truthy.
    Filter(Expr),
    /// `{ map = "<jq>" }`: replace each message by the first output.
    Map(Expr),
    /// `{ flat_map = "<jq>" }`: replace each message by every output.
    FlatMap(Expr),
    /// `{ text = "upper" | "lower" | "trim" }`.
    Text(TextOp),
}

/// How an unkeyed pipeline spreads messages (`partition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionConfig {
    /// One worker per publisher connection: per-publisher order (default).
    Publisher,
    /// Any worker: no order.
    RoundRobin,
}

/// A `[[pipeline]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Unique name (topic-name rules), used in statistics, logs and `sluice replay`.
    pub name: TopicName,
    /// Input topic(s).
    pub from: Topics,
    /// Output topic.
    pub to: TopicName,
    /// Partition key, a jq path read from each message as published.
    #[serde(default)]
    pub key: Option<KeyPath>,
    /// For pipelines without `key`: `publisher` (default) or `round-robin`.
    #[serde(default)]
    pub partition: Option<PartitionConfig>,
    /// Topic that receives an error record for every message that fails.
    #[serde(default)]
    pub errors: Option<TopicName>,
    /// The steps, in order (before the window, if any).
    #[serde(default)]
    pub steps: Vec<StepConfig>,
    /// `"processing"` or `{ event = ".ts", out_of_orderness, allowed_lateness, idle, sources }`.
    #[serde(default)]
    pub time: Option<TimeConfig>,
    /// The window: `{ tumbling = "1s" }`, `{ sliding = "5s", slide = "1s" }`,
    /// `{ session = "500ms" }`, `{ count = 100 }` (with `offset` for the first two).
    #[serde(default)]
    pub window: Option<WindowConfig>,
    /// The window's aggregates: `{ name = "sum(.qty)", … }`.
    #[serde(default)]
    pub aggregate: Option<AggregateConfig>,
    /// Topic for events past the allowed lateness (event-time windows).
    #[serde(default)]
    pub late: Option<TopicName>,
    /// Bound on open windows over all workers (default 100000).
    #[serde(default)]
    pub max_windows: Option<usize>,
}

impl PipelineConfig {
    /// The library pipeline this table describes.
    pub fn to_pipeline(&self) -> Pipeline {
        let mut p =
            Pipeline::from_topics(&self.from.names()).name(&self.name.0).to_topic(&self.to.0);
        if let Some(k) = &self.key {
            p = p.key_by(k.source());
        } else if self.partition == Some(PartitionConfig::RoundRobin) {
            p = p.round_robin();
        }
        if let Some(e) = &self.errors {
            p = p.errors_to(&e.0);
        }
        for s in &self.steps {
            p = match s {
                StepConfig::Filter(e) => p.filter_jq(e.source()),
                StepConfig::Map(e) => p.map_jq(e.source()),
                StepConfig::FlatMap(e) => p.flat_map_jq(e.source()),
                StepConfig::Text(op) => p.text(*op),
            };
        }
        match &self.time {
            Some(TimeConfig(TimeMode::Event(t))) => p = p.event_time(t.clone()),
            Some(TimeConfig(TimeMode::Processing)) => p = p.processing_time(),
            None => {}
        }
        if let (Some(w), Some(a)) = (&self.window, &self.aggregate) {
            p = p.window(w.0).aggregate(a.0.clone());
        }
        if let Some(late) = &self.late {
            p = p.late_to(&late.0);
        }
        if let Some(n) = self.max_windows {
            p = p.max_windows(n);
        }
        p
    }

    /// Problems between this table's keys: (key, message).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        match (&self.window, &self.aggregate) {
            (Some(_), None) => {
                return Err((
                    "window",
                    "a window needs `aggregate = { name = \"count\", … }`".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(("aggregate", "aggregates need a `window = { … }`".into()))
            }
            _ => {}
        }
        match self.to_pipeline().time_problem() {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }
}

/// Check relations between pipelines: returns (pipeline index, key, message).
pub fn check_pipelines(pipelines: &[Pipeline]) -> Result<(), (usize, &'static str, String)> {
    let mut names = HashMap::new();
    for (i, p) in pipelines.iter().enumerate() {
        p.validate().map_err(|e| (i, "name", e.to_string()))?;
        if p.name.is_some() {
            if let Some(first) = names.insert(p.get_name(), i) {
                return Err((
                    i,
                    "name",
                    format!("pipeline name `{}` is already used by pipeline {first}", p.get_name()),
                ));
            }
        }
    }
    // Topic graph: an edge from each input to the output (and error and late topics). A cycle
    // would feed results back forever.
    let mut edges: HashMap<&str, Vec<(usize, &str)>> = HashMap::new();
    for (i, p) in pipelines.iter().enumerate() {
        for f in &p.from {
            for out in p.to.iter().chain(p.errors.iter()).chain(p.late.iter()) {
                edges.entry(f.as_str()).or_default().push((i, out.as_str()));
            }
        }
    }
    for (i, p) in pipelines.iter().enumerate() {
        let Some(to) = p.to.as_deref() else { continue };
        let mut stack = vec![to];
        let mut seen = std::collections::HashSet::new();
        while let Some(t) = stack.pop() {
            if p.from.iter().any(|f| f == t) {
                return Err((
                    i,
                    "to",
                    format!(
                        "pipeline `{}` feeds topic `{t}`, which leads back into its own input: \
                         pipelines must not form a cycle",
                        p.get_name()
                    ),
                ));
            }
            if seen.insert(t) {
                stack.extend(edges.get(t).into_iter().flatten().map(|&(_, o)| o));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_and_duplicates_are_refused() {
        let a = Pipeline::from_topic("a").name("p1").to_topic("b");
        let b = Pipeline::from_topic("b").name("p2").to_topic("c");
        let c = Pipeline::from_topic("c").name("p3").to_topic("a");
        assert!(check_pipelines(&[a.clone(), b.clone()]).is_ok());
        let (i, key, msg) = check_pipelines(&[a.clone(), b.clone(), c]).unwrap_err();
        assert_eq!((i, key), (0, "to"));
        assert!(msg.contains("cycle"), "{msg}");
        let dup = Pipeline::from_topic("x").name("p1").to_topic("y");
        let (i, _, msg) = check_pipelines(&[a, dup]).unwrap_err();
        assert_eq!(i, 1);
        assert!(msg.contains("already used"), "{msg}");
    }

    #[test]
    fn worker_defaults() {
        let w = WorkerConfig::default();
        assert!(w.threads() >= 1);
        assert_eq!(w.strategy(), IdleStrategy::default());
        let w = WorkerConfig { count: 3, idle: IdleStrategy::Park, ..w };
        assert_eq!((w.threads(), w.strategy()), (3, IdleStrategy::Park));
    }
}
