//! Status events: one JSON text message per connector state change, published on the
//! connector's status topic (`<topic>.status` unless configured), so subscribers of a feed learn
//! about a gap in it.
//!
//! Every event has `connector` (its name), `kind` (`"source"` or `"sink"`), `event`, `url` and
//! `ts` (milliseconds since the Unix epoch). By event:
//!
//! | `event` | more fields |
//! |---|---|
//! | `connected` | `attempt` (attempts since the last connection ended, 1 = at once), `reconnect` (a previous connection existed), `down_ms` (only when `reconnect`: time since it ended) |
//! | `disconnected` | `reason`, `next_attempt` (1), `retry_in_ms` |
//! | `connect_failed` | `reason`, `attempt` (the one that failed), `next_attempt`, `retry_in_ms` |
//! | `stopped` | (none): the relay is stopping or the connector was removed |
//!
//! A sink's events also carry `buffered` (messages waiting in its buffer) and `dropped` (messages
//! dropped by its buffer so far, all reasons).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::ConnectorKind;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StatusEvent<'a> {
    Connected { attempt: u32, down_ms: Option<u64> },
    Disconnected { reason: &'a str, retry_in_ms: u64 },
    ConnectFailed { reason: &'a str, attempt: u32, retry_in_ms: u64 },
    Stopped,
}

/// Who it happened to.
pub(crate) struct Subject<'a> {
    pub(crate) name: &'a str,
    pub(crate) kind: ConnectorKind,
    pub(crate) url: &'a str,
    /// For sinks: (buffered messages, dropped messages).
    pub(crate) buffer: Option<(usize, u64)>,
}

/// The event as one line of JSON, fields in the documented order.
pub(crate) fn encode(who: &Subject<'_>, event: &StatusEvent<'_>, ts_ms: u64) -> String {
    let mut out = String::with_capacity(192);
    let mut put = |key: &str, value: Value| {
        out.push(if out.is_empty() { '{' } else { ',' });
        out.push_str(&json!(key).to_string());
        out.push(':');
        out.push_str(&value.to_string());
    };
    put("connector", json!(who.name));
    put("kind", json!(who.kind.as_str()));
    let name = match event {
        StatusEvent::Connected { .. } => "connected",
        StatusEvent::Disconnected { .. } => "disconnected",
        StatusEvent::ConnectFailed { .. } => "connect_failed",
        StatusEvent::Stopped => "stopped",
    };
    put("event", json!(name));
    put("url", json!(who.url));
    match event {
        StatusEvent::Connected { attempt, down_ms } => {
            put("attempt", json!(attempt));
            put("reconnect", json!(down_ms.is_some()));
            if let Some(d) = down_ms {
                put("down_ms", json!(d));
            }
        }
        StatusEvent::Disconnected { reason, retry_in_ms } => {
            put("reason", json!(reason));
            put("next_attempt", json!(1));
            put("retry_in_ms", json!(retry_in_ms));
        }
        StatusEvent::ConnectFailed { reason, attempt, retry_in_ms } => {
            put("reason", json!(reason));
            put("attempt", json!(attempt));
            put("next_attempt", json!(attempt + 1));
            put("retry_in_ms", json!(retry_in_ms));
        }
        StatusEvent::Stopped => {}
    }
    if let Some((buffered, dropped)) = who.buffer {
        put("buffered", json!(buffered));
        put("dropped", json!(dropped));
    }
    put("ts", json!(ts_ms));
    out.push('}');
    out
}

/// Wall-clock milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_follow_the_documented_schema() {
        let source =
            Subject { name: "feed", kind: ConnectorKind::Source, url: "ws://a/", buffer: None };
        let e = encode(
            &source,
            &StatusEvent::Disconnected { reason: "upstream closed (1001)", retry_in_ms: 180 },
            7,
        );
        assert_eq!(
            e,
            r#"{"connector":"feed","kind":"source","event":"disconnected","url":"ws://a/","reason":"upstream closed (1001)","next_attempt":1,"retry_in_ms":180,"ts":7}"#
        );
        let e = encode(&source, &StatusEvent::Connected { attempt: 3, down_ms: Some(1200) }, 8);
        assert_eq!(
            e,
            r#"{"connector":"feed","kind":"source","event":"connected","url":"ws://a/","attempt":3,"reconnect":true,"down_ms":1200,"ts":8}"#
        );
        let sink = Subject {
            name: "out",
            kind: ConnectorKind::Sink,
            url: "ws://b/",
            buffer: Some((4, 2)),
        };
        let e: Value = serde_json::from_str(&encode(
            &sink,
            &StatusEvent::ConnectFailed { reason: "refused \"x\"", attempt: 2, retry_in_ms: 400 },
            9,
        ))
        .unwrap();
        assert_eq!(e["event"], "connect_failed");
        assert_eq!(e["reason"], "refused \"x\"");
        assert_eq!((e["attempt"].as_u64(), e["next_attempt"].as_u64()), (Some(2), Some(3)));
        assert_eq!((e["buffered"].as_u64(), e["dropped"].as_u64()), (Some(4), Some(2)));
        let e = encode(&source, &StatusEvent::Connected { attempt: 1, down_ms: None }, 1);
        assert!(e.contains(r#""reconnect":false"#) && !e.contains("down_ms"), "{e}");
        assert!(now_ms() > 1_600_000_000_000);
    }
}
