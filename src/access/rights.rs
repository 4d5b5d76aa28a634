//! Per-topic rights: what a credential may publish to and subscribe to, as topic patterns
//! ([`TopicPattern`]).

pub(crate) use crate::topic::TopicPattern;

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
