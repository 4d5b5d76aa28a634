//! The JetStream API requests Sluice makes and the answers it reads
//! (<https://docs.nats.io/reference/jetstream/api>): create a topic's stream, create an ordered
//! push consumer on it, read publish acknowledgements and delivery metadata.
//!
//! One stream per topic, so the stream's sequence *is* the topic's offset: contiguous from 1,
//! assigned by the stream's leader, the same for every node. The stream keeps the topic's
//! history (`max_msgs` = `history.size`, `max_age` = `history.ttl`), so history survives a
//! node's restart. Creating a stream that exists with the same settings succeeds, so every node
//! creates the streams it uses.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

/// Settings of a topic's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamSpec {
    pub(crate) max_msgs: u64,
    pub(crate) max_age: Duration,
    pub(crate) replicas: usize,
    pub(crate) file: bool,
    pub(crate) duplicate_window: Duration,
}

/// The `$JS.API.STREAM.CREATE.<name>` request.
pub(crate) fn stream_create(name: &str, subject: &str, spec: &StreamSpec) -> String {
    json!({
        "name": name,
        "subjects": [subject],
        "retention": "limits",
        // JetStream reads 0 as "no limit"; a topic without history still needs offsets.
        "max_msgs": spec.max_msgs.max(1),
        "max_age": nanos(spec.max_age),
        "discard": "old",
        "storage": if spec.file { "file" } else { "memory" },
        "num_replicas": spec.replicas,
        "duplicate_window": nanos(spec.duplicate_window.min(spec.max_age.max(Duration::from_secs(1)))),
    })
    .to_string()
}

/// Where a consumer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum From {
    /// The oldest message the stream keeps.
    All,
    /// This stream sequence (or the oldest kept, if that is later).
    Seq(u64),
}

/// The `$JS.API.CONSUMER.CREATE.<stream>` request for an ordered push consumer: ephemeral,
/// in memory, no acknowledgements, flow control, idle heartbeats every `heartbeat`.
pub(crate) fn consumer_create(
    stream: &str,
    subject: &str,
    deliver: &str,
    from: From,
    heartbeat: Duration,
) -> String {
    let mut config = json!({
        "deliver_subject": deliver,
        "filter_subject": subject,
        "ack_policy": "none",
        "max_deliver": 1,
        "replay_policy": "instant",
        "flow_control": true,
        "idle_heartbeat": nanos(heartbeat),
        "mem_storage": true,
        "num_replicas": 1,
        "inactive_threshold": nanos(heartbeat * 3),
    });
    match from {
        From::All => config["deliver_policy"] = json!("all"),
        From::Seq(seq) => {
            config["deliver_policy"] = json!("by_start_sequence");
            config["opt_start_seq"] = json!(seq.max(1));
        }
    }
    json!({ "stream_name": stream, "config": config }).to_string()
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// An API error (`{"error":{"code":…,"err_code":…,"description":…}}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    #[serde(default)]
    pub(crate) err_code: u32,
    #[serde(default)]
    pub(crate) description: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {}, err_code {})", self.description, self.code, self.err_code)
    }
}

/// `err_code` of "stream name already in use with a different configuration".
pub(crate) const STREAM_NAME_IN_USE: u32 = 10058;

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    error: Option<ApiError>,
    #[serde(flatten)]
    body: Option<T>,
}

fn parse<T: for<'de> Deserialize<'de>>(json: &[u8]) -> Result<T, ApiError> {
    let bad = |e: serde_json::Error| ApiError {
        code: 0,
        err_code: 0,
        description: format!("unreadable answer: {e}"),
    };
    let e: Envelope<serde_json::Value> = serde_json::from_slice(json).map_err(bad)?;
    if let Some(err) = e.error {
        return Err(err);
    }
    serde_json::from_value(e.body.unwrap_or_default()).map_err(bad)
}

/// What a node needs to know of a topic's stream.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct StreamInfo {
    /// When the stream was created: the same for every node, new if it is deleted and made
    /// again, so it names the stream's epoch.
    pub(crate) created: String,
    pub(crate) state: StreamState,
}

/// A stream's sequence range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) struct StreamState {
    pub(crate) first_seq: u64,
    pub(crate) last_seq: u64,
}

/// Read a `STREAM.CREATE` or `STREAM.INFO` answer.
pub(crate) fn stream_info(json: &[u8]) -> Result<StreamInfo, ApiError> {
    parse(json)
}

/// A consumer just created.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ConsumerInfo {
    pub(crate) name: String,
    /// Messages it will deliver that exist now.
    pub(crate) num_pending: u64,
}

/// Read a `CONSUMER.CREATE` answer.
pub(crate) fn consumer_info(json: &[u8]) -> Result<ConsumerInfo, ApiError> {
    parse(json)
}

/// A publish acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct PubAck {
    pub(crate) seq: u64,
    #[serde(default)]
    pub(crate) duplicate: bool,
}

/// Read a publish acknowledgement.
pub(crate) fn pub_ack(json: &[u8]) -> Result<PubAck, ApiError> {
    parse(json)
}

/// The metadata JetStream puts in a delivered message's reply subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delivery {
    pub(crate) stream_seq: u64,
    pub(crate) consumer_seq: u64,
    /// Messages still to deliver after this one.
    pub(crate) pending: u64,
}

/// Parse `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (9 tokens) or
/// the newer form with a domain and an account hash first (12 or more tokens).
pub(crate) fn delivery(reply: &[u8]) -> Option<Delivery> {
    let s = std::str::from_utf8(reply).ok()?;
    let tokens: Vec<&str> = s.split('.').collect();
    if tokens.len() < 9 || tokens[0] != "$JS" || tokens[1] != "ACK" {
        return None;
    }
    // Fields counted from the stream name: delivered, sseq, cseq, ts, pending.
    let base = if tokens.len() == 9 { 2 } else { 4 };
    let n = |i: usize| tokens.get(base + i)?.parse::<u64>().ok();
    Some(Delivery { stream_seq: n(3)?, consumer_seq: n(4)?, pending: n(6)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse() {
        let created = br#"{"type":"io.nats.jetstream.api.v1.stream_create_response","config":{"name":"s"},"created":"2026-12-06T12:56:40.566060011Z","state":{"messages":0,"bytes":0,"first_seq":0,"last_seq":0},"did_create":true}"#;
        let info = stream_info(created).unwrap();
        assert_eq!(info.created, "2026-12-06T12:56:40.566060011Z");
        assert_eq!((info.state.first_seq, info.state.last_seq), (0, 0));
        let err = br#"{"type":"x","error":{"code":400,"err_code":10058,"description":"stream name already in use with a different configuration"}}"#;
        assert_eq!(stream_info(err).unwrap_err().err_code, STREAM_NAME_IN_USE);
        assert_eq!(
            pub_ack(br#"{"stream":"s","seq":1}"#).unwrap(),
            PubAck { seq: 1, duplicate: false }
        );
        assert!(pub_ack(br#"{"stream":"s","seq":1,"duplicate": true}"#).unwrap().duplicate);
        assert_eq!(pub_ack(br#"{"error":{"code":503,"description":"no"}}"#).unwrap_err().code, 503);
        assert!(pub_ack(b"not json").is_err());
        let c = consumer_info(br#"{"name":"7WU5","num_pending":3,"delivered":{}}"#).unwrap();
        assert_eq!((c.name.as_str(), c.num_pending), ("7WU5", 3));
    }

    #[test]
    fn delivery_metadata_parses_both_forms() {
        let v1 = b"$JS.ACK.sluice_prices.7WU5neRU.1.40.12.1796561801171438705.3";
        assert_eq!(delivery(v1), Some(Delivery { stream_seq: 40, consumer_seq: 12, pending: 3 }));
        let v2 = b"$JS.ACK.hub.ACCHASH.sluice_prices.7WU5neRU.1.40.12.1796561801171438705.3.rand";
        assert_eq!(delivery(v2).map(|d| d.stream_seq), Some(40));
        assert_eq!(delivery(b"$JS.ACK.a.b"), None);
        assert_eq!(delivery(b"_INBOX.x.y.z.1.2.3.4.5"), None);
    }

    #[test]
    fn requests_carry_the_settings() {
        let spec = StreamSpec {
            max_msgs: 0,
            max_age: Duration::from_secs(300),
            replicas: 3,
            file: true,
            duplicate_window: Duration::from_secs(10),
        };
        let v: serde_json::Value =
            serde_json::from_str(&stream_create("s", "p.t.s", &spec)).unwrap();
        assert_eq!(v["max_msgs"], 1);
        assert_eq!(v["max_age"], 300_000_000_000u64);
        assert_eq!(v["num_replicas"], 3);
        assert_eq!(v["duplicate_window"], 10_000_000_000u64);
        let c = consumer_create("s", "p.t.s", "_D.1", From::Seq(41), Duration::from_secs(2));
        let v: serde_json::Value = serde_json::from_str(&c).unwrap();
        assert_eq!(v["config"]["deliver_policy"], "by_start_sequence");
        assert_eq!(v["config"]["opt_start_seq"], 41);
        assert_eq!(v["config"]["idle_heartbeat"], 2_000_000_000u64);
    }
}
