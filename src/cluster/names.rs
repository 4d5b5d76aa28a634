//! Names on NATS: a topic's subject and JetStream stream, and a node's private inbox subjects.
//!
//! A topic name is 1–128 bytes of `[A-Za-z0-9._:-]`. NATS subjects use `.` as their token
//! separator and stream names may not contain it, so a topic becomes one token with every `.`
//! written as `~` (a byte topic names never contain, so the mapping is one-to-one):
//!
//! | topic | subject | stream |
//! |---|---|---|
//! | `prices.eu` | `<prefix>.t.prices~eu` | `<prefix>_prices~eu` |
//!
//! `<prefix>` (`cluster.prefix`, default `sluice`) lets several deployments share one NATS
//! system. Replies, acknowledgements and consumer deliveries of a node arrive on
//! `_SLUICE.<prefix>.<node>.<boot>.…`, where `<boot>` is random per process, so a restarted node
//! never receives what was meant for its previous life.

/// The token a topic name becomes.
fn token(topic: &str) -> String {
    topic.replace('.', "~")
}

/// The subject messages of `topic` are published on.
pub(crate) fn subject(prefix: &str, topic: &str) -> String {
    format!("{prefix}.t.{}", token(topic))
}

/// The JetStream stream that keeps `topic`.
pub(crate) fn stream(prefix: &str, topic: &str) -> String {
    format!("{prefix}_{}", token(topic))
}

/// The inbox prefix of one node's process (ends with `.`).
pub(crate) fn inbox(prefix: &str, node: &str, boot: u64) -> String {
    format!("_SLUICE.{prefix}.{node}.{boot:x}.")
}

/// Whether `s` may be a node name or a prefix: 1–32 bytes of `[A-Za-z0-9_-]`.
pub(crate) fn valid_name(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_map_to_one_token() {
        assert_eq!(subject("sluice", "prices.eu"), "sluice.t.prices~eu");
        assert_eq!(stream("sluice", "a:b-c_d.e"), "sluice_a:b-c_d~e");
        assert_ne!(stream("s", "a.b"), stream("s", "a_b"));
        assert_eq!(inbox("sluice", "a", 255), "_SLUICE.sluice.a.ff.");
        assert!(valid_name("node-1_a") && !valid_name("") && !valid_name("a.b"));
        assert!(!valid_name(&"x".repeat(33)));
    }
}
