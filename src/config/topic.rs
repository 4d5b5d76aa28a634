//! The `[[topic]]` tables: delivery settings per topic, matched by name pattern.
//!
//! ```toml
//! [[topic]]
//! match = "prices.*"                     # a name, a prefix followed by `*`, or `*`
//! history = { size = 1000, ttl = "5m" }  # recent messages kept for resumes (size 0: none)
//! max_recovery = 1000                    # the largest gap a resume replays
//! slow = "latest"                        # close | skip | latest
//! key = ".sym"                           # latest: the latest value per key (a jq path)
//! max_keys = 10000                       # latest: keys held per subscriber; past it: close
//! compression = true                     # permessage-deflate for its subscribers that agreed
//! ```
//!
//! The first table whose pattern matches a topic's name applies to it; a topic no table
//! matches gets the defaults ([`TopicConfig::default`]). Every topic's history together is
//! bounded by `limits.max_history_bytes`.

use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::de_duration;
use crate::ops::KeyPath;

/// What happens when a subscriber's queue reaches its bound (`limits.max_queued_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowPolicy {
    /// Close the subscriber with `1008` (it reconnects and resumes). The default.
    #[default]
    Close,
    /// Skip messages while it is over its bound; when it drains it gets a `gap`.
    Skip,
    /// Keep only the latest message per key while it is behind; deliver those when it drains.
    Latest,
}

impl<'de> Deserialize<'de> for SlowPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "close" => Ok(SlowPolicy::Close),
            "skip" => Ok(SlowPolicy::Skip),
            "latest" => Ok(SlowPolicy::Latest),
            other => Err(de::Error::custom(format!(
                "unknown slow-consumer policy `{other}`; expected `close`, `skip` or `latest`"
            ))),
        }
    }
}

/// The `history` of a `[[topic]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Messages kept per topic. Default 1000; `0` keeps none (no resume, no `?last`).
    pub size: usize,
    /// How long a message is kept. Default `5m`.
    #[serde(deserialize_with = "de_duration")]
    pub ttl: Duration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig { size: 1000, ttl: Duration::from_secs(300) }
    }
}

/// One `[[topic]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicConfig {
    /// The topics it applies to: a name, a prefix followed by `*` (`prices.*`), or `*`.
    #[serde(rename = "match")]
    pub pattern: String,
    /// The history kept for resumes and `?last=N`.
    pub history: HistoryConfig,
    /// The largest gap (in messages) a resume replays; a larger one is refused
    /// (`recovered:false`, `too_many`). Default 1000.
    pub max_recovery: u64,
    /// The slow-consumer policy. Default `close`.
    pub slow: SlowPolicy,
    /// With `slow = "latest"`: the key whose latest value is kept (a jq path such as `.sym`).
    /// Without it, the latest message of the topic is kept.
    pub key: Option<KeyPath>,
    /// With `slow = "latest"`: keys held per behind subscriber; past it the subscriber is
    /// closed. Default 10000.
    pub max_keys: usize,
    /// Compress its messages for subscribers that negotiated permessage-deflate (when
    /// `[compression]` is enabled; messages below `min_size` go uncompressed anyway). Default
    /// `true`; `false` sends them uncompressed to everyone (payloads that are already
    /// compressed, or tiny ticks where every microsecond counts).
    pub compression: bool,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            pattern: "*".into(),
            history: HistoryConfig::default(),
            max_recovery: 1000,
            slow: SlowPolicy::Close,
            key: None,
            max_keys: 10_000,
            compression: true,
        }
    }
}

impl TopicConfig {
    /// Check the table's fields: (key, what was expected).
    pub(crate) fn check(&self) -> Result<(), (&'static str, String)> {
        crate::topic::TopicPattern::parse(&self.pattern).map_err(|e| ("match", e))?;
        if self.history.size > 1 << 20 {
            return Err(("history.size", "must be at most 1048576 messages".into()));
        }
        if self.history.size > 0 && self.history.ttl.is_zero() {
            return Err(("history.ttl", "must be longer than 0 when size is not 0".into()));
        }
        if self.key.is_some() && self.slow != SlowPolicy::Latest {
            return Err(("key", "is only meaningful with slow = \"latest\"".into()));
        }
        if self.max_keys == 0 {
            return Err(("max_keys", "must be at least 1".into()));
        }
        Ok(())
    }
}
