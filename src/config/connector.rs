//! The `[[source]]` and `[[sink]]` tables of the configuration file: upstream connectors.
//!
//! ```toml
//! [[source]]
//! name = "feed"                          # unique among sources and sinks
//! url = "wss://feed.example.com/trades"  # ws[s]://host[:port][/path][?query]
//! topic = "raw"                          # every message received is published here
//! subscribe = '{"op":"subscribe","args":["trades"]}'   # or a list; sent after each (re)connect
//! headers = { Authorization = "Bearer …" }
//! subprotocol = "feed.v1"
//! compression = true                     # offer permessage-deflate (compressed feeds)
//! ca_file = "/etc/sluice/feed-ca.pem"     # wss:// only: trust these CAs instead of the platform's
//! status_topic = "raw.status"            # default: "<topic>.status"
//! connect_timeout = "10s"                # TCP connect + handshake
//! ping_interval = "10s"                  # ping when silent this long ("0": never)
//! stall_timeout = "30s"                  # nothing received this long: reconnect ("0": never)
//! backoff = { initial = "100ms", max = "30s", multiplier = 2.0, jitter = 0.5 }
//!
//! [[sink]]
//! name = "out"
//! topic = "results"                      # every message published here is sent upstream
//! url = "ws://127.0.0.1:9002/ingest"
//! buffer = "4MiB"                        # bound on messages held for the upstream
//! overflow = "drop-oldest"               # or "drop-newest"
//! ```
//!
//! Every value is checked when the file is read (a `ca_file` is read then, and again when the
//! connector is added); an error names the file, the line and the key path (`source[0].url`,
//! `sink[1].backoff.max`, `source[0].ca_file`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::{de_duration, de_size, TopicName};
use crate::connector::{Backoff, Connector, ConnectorKind, Overflow, DEFAULT_BUFFER};

/// One `[[source]]` or `[[sink]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// Unique name (topic-name rules), used in statistics, logs and status events.
    pub name: TopicName,
    /// The upstream's `ws://` or `wss://` URL.
    pub url: String,
    /// Source: where received messages are published. Sink: whose messages are sent.
    pub topic: TopicName,
    /// Source only: messages published to this topic are also sent upstream.
    #[serde(default)]
    pub send_from: Option<TopicName>,
    /// Messages sent first on every new connection.
    #[serde(default)]
    pub subscribe: Messages,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A subprotocol to request; the upstream must choose it.
    #[serde(default)]
    pub subprotocol: Option<String>,
    /// Offer permessage-deflate to the upstream (its compressed messages are inflated here).
    /// Default false.
    #[serde(default)]
    pub compression: bool,
    /// `wss://` only: a PEM file of CA certificates trusted instead of the platform's roots
    /// (relative paths from the working directory).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Where status events go (default `<topic>.status`).
    #[serde(default)]
    pub status_topic: Option<TopicName>,
    /// TCP connect and handshake deadline. Default 10 s.
    #[serde(default = "default_connect_timeout", deserialize_with = "de_duration")]
    pub connect_timeout: Duration,
    /// Ping after this long without input. Default 10 s; `"0"`: never.
    #[serde(default = "default_ping_interval", deserialize_with = "de_duration")]
    pub ping_interval: Duration,
    /// Reconnect after this long without any input. Default 30 s; `"0"`: never.
    #[serde(default = "default_stall_timeout", deserialize_with = "de_duration")]
    pub stall_timeout: Duration,
    /// Reconnect delays.
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// Bound on messages held for the upstream, in bytes of frames. Default 4 MiB.
    #[serde(default = "default_buffer", deserialize_with = "de_size")]
    pub buffer: usize,
    /// `drop-oldest` (default) or `drop-newest`.
    #[serde(default, deserialize_with = "de_overflow")]
    pub overflow: Overflow,
}

/// One message or a list of messages.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(untagged, expecting = "a message or a list of messages")]
pub enum Messages {
    /// No message.
    #[default]
    #[serde(skip)]
    None,
    /// `subscribe = "…"`
    One(String),
    /// `subscribe = ["…", "…"]`
    Many(Vec<String>),
}

/// The `backoff` table of a connector.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackoffConfig {
    /// First delay. Default 100 ms.
    #[serde(deserialize_with = "de_duration")]
    pub initial: Duration,
    /// Longest delay. Default 30 s.
    #[serde(deserialize_with = "de_duration")]
    pub max: Duration,
    /// Growth per failure. Default 2.
    pub multiplier: f64,
    /// Largest random fraction removed from a delay, 0 to 1. Default 0.5.
    pub jitter: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        let b = Backoff::default();
        BackoffConfig { initial: b.initial, max: b.max, multiplier: b.multiplier, jitter: b.jitter }
    }
}

pub(super) fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
pub(super) fn default_ping_interval() -> Duration {
    Duration::from_secs(10)
}
pub(super) fn default_stall_timeout() -> Duration {
    Duration::from_secs(30)
}
pub(super) fn default_buffer() -> usize {
    DEFAULT_BUFFER
}

fn de_overflow<'de, D: Deserializer<'de>>(d: D) -> Result<Overflow, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(de::Error::custom)
}

impl ConnectorConfig {
    /// The library connector this table describes.
    pub fn to_connector(&self, kind: ConnectorKind) -> Connector {
        let mut c = match kind {
            ConnectorKind::Source => Connector::source(&self.name.0, &self.url, &self.topic.0),
            ConnectorKind::Sink => Connector::sink(&self.name.0, &self.url, &self.topic.0),
        };
        c.send_from = self.send_from.as_ref().map(|t| t.0.clone());
        c.subscribe = match &self.subscribe {
            Messages::None => Vec::new(),
            Messages::One(m) => vec![m.clone()],
            Messages::Many(ms) => ms.clone(),
        };
        c.headers = self.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        c.subprotocol = self.subprotocol.clone();
        c.compression = self.compression;
        c.ca_file = self.ca_file.clone();
        c.status_topic = self.status_topic.as_ref().map(|t| t.0.clone());
        c.connect_timeout = self.connect_timeout;
        c.ping_interval = self.ping_interval;
        c.stall_timeout = self.stall_timeout;
        let b = &self.backoff;
        c.backoff =
            Backoff { initial: b.initial, max: b.max, multiplier: b.multiplier, jitter: b.jitter };
        c.buffer = self.buffer;
        c.overflow = self.overflow;
        c
    }
}

/// Check every connector of a configuration and that names are unique. Returns (table name,
/// index, key, message) of the first problem.
pub(super) fn check_connectors(
    sources: &[ConnectorConfig],
    sinks: &[ConnectorConfig],
) -> Result<(), (&'static str, usize, String, String)> {
    let mut seen = std::collections::HashMap::new();
    let all = sources
        .iter()
        .enumerate()
        .map(|(i, c)| ("source", i, c.to_connector(ConnectorKind::Source)))
        .chain(
            sinks.iter().enumerate().map(|(i, c)| ("sink", i, c.to_connector(ConnectorKind::Sink))),
        );
    for (table, i, c) in all {
        let url = c.validate().map_err(|e| (table, i, e.key.clone(), e.message.clone()))?;
        c.tls_config(&url).map_err(|e| (table, i, e.key, e.message))?;
        if let Some((t, j)) = seen.insert(c.name.clone(), (table, i)) {
            return Err((
                table,
                i,
                "name".into(),
                format!("`{}` is already the name of {t}[{j}]", c.name),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn compression_is_off_unless_asked() {
        let text = "[[source]]\nname = \"a\"\nurl = \"ws://127.0.0.1:1/\"\ntopic = \"t\"\n\n\
                    [[sink]]\nname = \"b\"\nurl = \"ws://127.0.0.1:1/\"\ntopic = \"u\"\ncompression = true\n";
        let c = Config::from_toml_str(text, None).unwrap();
        let connectors = c.connectors();
        assert!(!connectors[0].compression && connectors[1].compression);
        let e = Config::from_toml_str(&text.replace("= true", "= \"yes\""), None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("sink[0].compression"), "{e}");
    }
}
