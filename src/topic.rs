//! Topic names: what a valid name is, patterns of names, and the id a live topic has in the
//! router's registry.

use std::fmt;

/// The longest topic name, in bytes.
pub const MAX_TOPIC_LEN: usize = 128;

/// Why a topic name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_TOPIC_LEN`] bytes.
    TooLong(usize),
    /// The name contains a byte outside `[A-Za-z0-9._:-]`.
    BadByte(u8),
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicError::Empty => f.write_str("topic name is empty"),
            TopicError::TooLong(n) => {
                write!(f, "topic name is {n} bytes, the limit is {MAX_TOPIC_LEN}")
            }
            TopicError::BadByte(b) => {
                write!(f, "topic name contains byte 0x{b:02x}; allowed are A-Z a-z 0-9 and . _ : -")
            }
        }
    }
}

impl std::error::Error for TopicError {}

/// Check a topic name: 1–128 bytes of `[A-Za-z0-9._:-]`.
pub fn validate_topic(name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::Empty);
    }
    if name.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong(name.len()));
    }
    match name.bytes().find(|b| !(b.is_ascii_alphanumeric() || b"._:-".contains(b))) {
        Some(b) => Err(TopicError::BadByte(b)),
        None => Ok(()),
    }
}

/// A topic pattern: a topic name (exact), a prefix followed by `*` (`prices.*` matches
/// `prices.eur`), or `*` alone (every topic). Rights and `[[topic]]` tables use them.
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

    pub(crate) fn matches(&self, topic: &str) -> bool {
        match self {
            TopicPattern::Exact(t) => t == topic,
            TopicPattern::Prefix(p) => topic.starts_with(p.as_str()),
            TopicPattern::Any => true,
        }
    }
}

/// Index of a topic in the registry; stable while the topic exists.
pub(crate) type TopicId = usize;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate_topic("trades.BTC-USD:1_x"), Ok(()));
        assert_eq!(validate_topic(""), Err(TopicError::Empty));
        assert_eq!(validate_topic(&"a".repeat(128)), Ok(()));
        assert_eq!(validate_topic(&"a".repeat(129)), Err(TopicError::TooLong(129)));
        assert_eq!(validate_topic("a/b"), Err(TopicError::BadByte(b'/')));
        assert_eq!(validate_topic("a b"), Err(TopicError::BadByte(b' ')));
        assert_eq!(validate_topic("é"), Err(TopicError::BadByte(0xc3)));
    }
}
