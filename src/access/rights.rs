//! Per-topic rights: what a credential may publish to and subscribe to.
//!
//! A pattern is a topic name (exact), a prefix followed by `*` (`prices.*` matches
//! `prices.eur`), or `*` alone (every topic).

use crate::topic::validate_topic;

/// One topic pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TopicPattern {
    Exact(String),
    Prefix(String),
    Any,
}

impl TopicPattern {
    pub(crate) fn parse(p: &str) -> Result<TopicPattern, String> {
        if p == "*" {
            return Ok(TopicPattern::Any);
        }
        if let Some(prefix) = p.strip_suffix('*') {
            validate_topic(prefix).map_err(|e| format!("bad topic prefix: {e}"))?;
            return Ok(TopicPattern::Prefix(prefix.to_string()));
        }
        validate_topic(p).map_err(|e| format!("bad topic pattern: {e}"))?;
        Ok(TopicPattern::Exact(p.to_string()))
    }

    fn matches(&self, topic: &str) -> bool {
        match self {
            TopicPattern::Exact(t) => t == topic,
            TopicPattern::Prefix(p) => topic.starts_with(p.as_str()),
            TopicPattern::Any => true,
        }
    }
}

/// The rights of one credential.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Rights {
    pub(crate) publish: Vec<TopicPattern>,
    pub(crate) subscribe: Vec<TopicPattern>,
}

impl Rights {
    /// Parse the pattern lists of a credential.
    pub(crate) fn parse(publish: &[String], subscribe: &[String]) -> Result<Rights, String> {
        let parse = |l: &[String]| -> Result<Vec<_>, String> {
            l.iter().map(|p| TopicPattern::parse(p)).collect()
        };
        Ok(Rights { publish: parse(publish)?, subscribe: parse(subscribe)? })
    }

    pub(crate) fn may_publish(&self, topic: &str) -> bool {
        self.publish.iter().any(|p| p.matches(topic))
    }

    pub(crate) fn may_subscribe(&self, topic: &str) -> bool {
        self.subscribe.iter().any(|p| p.matches(topic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match() {
        let r = Rights::parse(&["news".into(), "prices.*".into()], &["*".into()]).unwrap();
        assert!(r.may_publish("news"));
        assert!(!r.may_publish("news2"));
        assert!(r.may_publish("prices.eur"));
        assert!(!r.may_publish("prices"));
        assert!(r.may_subscribe("anything"));
        assert!(!Rights::default().may_subscribe("x"));
        assert!(TopicPattern::parse("a b").is_err());
        assert!(TopicPattern::parse("**").is_err());
        assert!(TopicPattern::parse("").is_err());
    }
}
