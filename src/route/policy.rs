//! Delivery settings per topic, resolved once when a topic is created from the `[[topic]]`
//! tables (first match wins) or the defaults.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{SlowPolicy, TopicConfig};
use crate::ops::KeyPath;
use crate::topic::TopicPattern;

/// What a topic keeps and how it treats slow subscribers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TopicPolicy {
    /// Messages kept in history (0: none).
    pub(crate) history_size: usize,
    /// How long a message is kept in history.
    pub(crate) ttl: Duration,
    /// The largest gap a resume replays.
    pub(crate) max_recovery: u64,
    pub(crate) slow: SlowPolicy,
    /// `latest`: the key whose latest value is kept (`None`: the latest of the topic).
    pub(crate) key: Option<KeyPath>,
    /// `latest`: keys held per behind subscriber.
    pub(crate) max_keys: usize,
    /// Its messages are compressed for subscribers that negotiated permessage-deflate.
    pub(crate) compression: bool,
}

impl From<&TopicConfig> for TopicPolicy {
    fn from(c: &TopicConfig) -> TopicPolicy {
        TopicPolicy {
            history_size: c.history.size,
            ttl: c.history.ttl,
            max_recovery: c.max_recovery,
            slow: c.slow,
            key: c.key.clone(),
            max_keys: c.max_keys,
            compression: c.compression,
        }
    }
}

/// The `[[topic]]` tables, in file order, and the defaults.
#[derive(Debug, Clone)]
pub(crate) struct Policies {
    tables: Vec<(TopicPattern, Arc<TopicPolicy>)>,
    default: Arc<TopicPolicy>,
}

impl Default for Policies {
    fn default() -> Self {
        Policies { tables: Vec::new(), default: Arc::new((&TopicConfig::default()).into()) }
    }
}

impl Policies {
    /// From validated `[[topic]]` tables (a pattern that does not parse is skipped).
    pub(crate) fn new(tables: &[TopicConfig]) -> Policies {
        let tables = tables
            .iter()
            .filter_map(|t| Some((TopicPattern::parse(&t.pattern).ok()?, Arc::new(t.into()))))
            .collect();
        Policies { tables, ..Policies::default() }
    }

    /// The settings of topic `name`.
    pub(crate) fn of(&self, name: &str) -> Arc<TopicPolicy> {
        self.tables
            .iter()
            .find(|(p, _)| p.matches(name))
            .map_or_else(|| self.default.clone(), |(_, t)| t.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_table_applies() {
        let prices = TopicConfig {
            pattern: "prices.*".into(),
            slow: SlowPolicy::Skip,
            ..TopicConfig::default()
        };
        let exact = TopicConfig {
            pattern: "prices.eur".into(),
            slow: SlowPolicy::Latest,
            ..TopicConfig::default()
        };
        let p = Policies::new(&[prices, exact]);
        assert_eq!(p.of("prices.eur").slow, SlowPolicy::Skip);
        assert_eq!(p.of("prices").slow, SlowPolicy::Close);
        assert_eq!(p.of("other").history_size, 1000);
    }
}
