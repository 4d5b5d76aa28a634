//! Configuration: every limit with its documented default, TOML loading and `validate()`.
//!
//! A [`Config`] is plain data. [`Config::default()`] is the relay's embedded default (listen on
//! `127.0.0.1:8080`, the limits below); [`Config::from_toml_file`] reads a TOML file where every
//! key is optional and unknown keys are errors. Errors name the file, the line and the key.
//!
//! Durations are written `500ms`, `10s`, `5m`, `1h` (also `us`, `min`, fractions like `1.5s`; `0`
//! to disable where allowed); byte sizes `512`, `64KiB`, `4MiB`, `1GiB` (also `K`, `M`, `G`) or
//! decimal `64KB`, `4MB`, `1GB`. [`mod@reference`] documents every key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use span::{key_span, line_of, table_key_span};
mod cluster;
mod compression;
mod connector;
pub use crate::access::config::{Access, Secret, StaticToken};
pub use crate::tls::TlsFiles;
mod pipeline;
pub mod reference;
mod span;
mod topic;
mod web;
mod window;
pub use cluster::{ClusterConfig, Storage};
pub use compression::CompressionConfig;
pub use connector::{BackoffConfig, ConnectorConfig, Messages};
pub use pipeline::{
    check_pipelines, PartitionConfig, PipelineConfig, StepConfig, TopicName, Topics, WorkerConfig,
};
pub use topic::{HistoryConfig, SlowPolicy, TopicConfig};
pub use web::{WebConfig, DEFAULT_STATIC_MAX_BYTES, DEFAULT_STATIC_PREFIX};
pub use window::{AggregateConfig, Millis, SignedMillis, TimeConfig, WindowConfig};

/// Everything the reactor needs to run. Build it with [`Config::default()`] and adjust fields, or
/// load it with [`Config::from_toml_file`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the relay listens on. Default `127.0.0.1:8080`; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Per-connection limits and timeouts.
    pub limits: Limits,
    /// Who may connect: allowed origins and authentication (`[access]`). Default: anyone.
    pub access: Access,
    /// Serve `wss://` (TLS) with this certificate and key (`[tls]`). Default: plain `ws://`.
    pub tls: Option<TlsFiles>,
    /// Metrics and the dashboard.
    pub metrics: MetricsConfig,
    /// permessage-deflate on accepted connections (`[compression]`).
    pub compression: CompressionConfig,
    /// The worker pool that runs pipelines (`[workers]`).
    pub workers: WorkerConfig,
    /// Transform pipelines (`[[pipeline]]` tables).
    #[serde(rename = "pipeline")]
    pub pipelines: Vec<PipelineConfig>,
    /// Upstream feeds pulled into topics (`[[source]]` tables).
    #[serde(rename = "source")]
    pub sources: Vec<ConnectorConfig>,
    /// Topics pushed to upstream endpoints (`[[sink]]` tables).
    #[serde(rename = "sink")]
    pub sinks: Vec<ConnectorConfig>,
    /// Delivery settings by topic pattern (`[[topic]]` tables): history, resume, slow consumers.
    #[serde(rename = "topic")]
    pub topics: Vec<TopicConfig>,
    /// The user's own static files, served by the relay (`[web]`). Default: none.
    pub web: WebConfig,
    /// Share topics with other relays through NATS JetStream (`[cluster]`). Default: none (the
    /// relay runs alone).
    pub cluster: Option<ClusterConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            limits: Limits::default(),
            access: Access::default(),
            tls: None,
            metrics: MetricsConfig::default(),
            compression: CompressionConfig::default(),
            workers: WorkerConfig::default(),
            pipelines: Vec::new(),
            sources: Vec::new(),
            sinks: Vec::new(),
            topics: Vec::new(),
            web: WebConfig::default(),
            cluster: None,
        }
    }
}

/// Metrics and dashboard settings (`[metrics]` table).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Topic names that get their own series in `/metrics` and in `Stats::per_topic`. Default
    /// 100. Later names are aggregated under the label value `~other`, so a client that invents
    /// topic names cannot grow the metrics without bound.
    pub max_topic_series: usize,
    /// Serve the dashboard (`GET /`, its assets and the `/_sluice/stats` live feed). Default
    /// true. `/metrics`, `/healthz` and `/readyz` are always served.
    pub dashboard: bool,
    /// Record the delivery-latency and loop-time histograms. Default true. It costs one clock
    /// read and a few histogram updates per loop iteration; `false` saves that and leaves both
    /// histograms (and the dashboard's latency chart) empty. Counters are always kept.
    pub latency_histograms: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            max_topic_series: crate::metrics::DEFAULT_MAX_TOPIC_SERIES,
            dashboard: true,
            latency_histograms: true,
        }
    }
}

/// Per-connection limits and timeouts. Each field documents its default and what happens when
/// a peer reaches it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest WebSocket message (after reassembly of fragments). Default 1 MiB. Over it: close
    /// `1009`, decided from the frame header before any payload is buffered.
    #[serde(deserialize_with = "de_size")]
    pub max_message_size: usize,
    /// Largest single WebSocket frame payload. Default 1 MiB. Over it: close `1009`.
    #[serde(deserialize_with = "de_size")]
    pub max_frame_size: usize,
    /// Bound on bytes queued for sending to one connection (messages for a subscriber, echoes,
    /// pongs). Default 4 MiB. A message that would exceed it closes the connection with `1008`
    /// (the slow-consumer policy); the relay and the other subscribers are unaffected.
    #[serde(deserialize_with = "de_size")]
    pub max_queued_bytes: usize,
    /// Bound on the HTTP request header section. Default 8 KiB. Over it: `431`.
    #[serde(deserialize_with = "de_size")]
    pub max_header_bytes: usize,
    /// Bound on the number of HTTP request headers. Default 32. Over it: `431`.
    pub max_headers: usize,
    /// Bound on topics in one `/sub/a,b,…` request. Default 64. Over it: `400`.
    pub max_topics_per_subscription: usize,
    /// Absolute deadline from accept to a completed upgrade (also the idle timeout of a plain
    /// HTTP keep-alive connection). Default 10 s. Past it the socket is closed.
    #[serde(deserialize_with = "de_duration")]
    pub handshake_timeout: Duration,
    /// Send a ping after this long without any frame from the peer. Default 30 s; `0` disables.
    #[serde(deserialize_with = "de_duration")]
    pub idle_ping: Duration,
    /// After a keepalive ping, the peer must send something (a pong) within this time, else it is
    /// closed with `1001` ("keepalive timeout"). Default 10 s.
    #[serde(deserialize_with = "de_duration")]
    pub pong_timeout: Duration,
    /// How long a closing connection may take to flush its close frame and see the peer's EOF
    /// before the socket is dropped. Default 5 s.
    #[serde(deserialize_with = "de_duration")]
    pub close_timeout: Duration,
    /// On a graceful stop, how long to flush queued messages and close frames before returning.
    /// Default 5 s.
    #[serde(deserialize_with = "de_duration")]
    pub shutdown_timeout: Duration,
    /// Most frames one fragmented message may arrive in. Default 4096. Over it: close `1008`.
    pub max_fragments: usize,
    /// Most empty data frames (no payload) in one fragmented message. Default 8. Over it: close
    /// `1008` (empty fragments cost work and never make progress).
    pub max_empty_fragments: usize,
    /// Most connections held at once (any state). Default `0`: no limit. Past it a new
    /// connection is refused at accept (a plain-HTTP listener writes a `503` first) and counted
    /// in `Stats::refused_max_connections`.
    pub max_connections: usize,
    /// Most connections from one client IP address. Default `0`: no limit. Past it: refused at
    /// accept like `max_connections`, counted in `Stats::refused_per_ip`.
    pub max_connections_per_ip: usize,
    /// Inbound data messages per second allowed on one connection. Default `0`: no limit. Over
    /// it: close `1008` ("message rate limit exceeded"), counted in `Stats::rate_limit_closes`.
    pub max_messages_per_sec: u32,
    /// Messages a connection may send at once before the rate applies. Default `0`: the same as
    /// `max_messages_per_sec` (one second's worth).
    pub message_burst: u32,
    /// Bound on the history of every topic together (`[[topic]]` `history`). Default 64 MiB.
    /// Past it the oldest messages of any topic are evicted first, and counted.
    #[serde(deserialize_with = "de_size")]
    pub max_history_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            max_queued_bytes: 4 << 20,
            max_header_bytes: 8 << 10,
            max_headers: 32,
            max_topics_per_subscription: 64,
            handshake_timeout: Duration::from_secs(10),
            idle_ping: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(5),
            max_fragments: 4096,
            max_empty_fragments: 8,
            max_connections: 0,
            max_connections_per_ip: 0,
            max_messages_per_sec: 0,
            message_burst: 0,
            max_history_bytes: 64 << 20,
        }
    }
}

impl Config {
    /// Read and validate a TOML configuration file.
    pub fn from_toml_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: Some(path.to_path_buf()),
            line: None,
            key: None,
            message: format!("cannot read the file: {e}"),
        })?;
        Config::from_toml_str(&text, Some(path))
    }

    /// Parse and validate TOML text; `file` is only used to name the source in errors.
    pub fn from_toml_str(text: &str, file: Option<&Path>) -> Result<Config, ConfigError> {
        let located =
            |key: Option<String>, span: Option<std::ops::Range<usize>>, message| ConfigError {
                file: file.map(Path::to_path_buf),
                line: span.map(|s| line_of(text, s.start)),
                key,
                message,
            };
        let de = toml::de::Deserializer::parse(text)
            .map_err(|e| located(None, e.span(), e.message().to_string()))?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let key = (key != ".").then_some(key);
            located(key, inner.span(), inner.message().to_string())
        })?;
        config.validate().map_err(|(key, message)| {
            let span = key_span(text, key);
            located(Some(key.to_string()), span, message)
        })?;
        for (i, p) in config.pipelines.iter().enumerate() {
            p.check().map_err(|(key, message)| {
                let span = table_key_span(text, "pipeline", i, key);
                located(Some(format!("pipeline[{i}].{key}")), span, message)
            })?;
        }
        let pipelines: Vec<_> = config.pipelines.iter().map(|p| p.to_pipeline()).collect();
        check_pipelines(&pipelines).map_err(|(i, key, message)| {
            let span = table_key_span(text, "pipeline", i, key);
            located(Some(format!("pipeline[{i}].{key}")), span, message)
        })?;
        for (i, t) in config.topics.iter().enumerate() {
            t.check().map_err(|(key, message)| {
                let span = table_key_span(text, "topic", i, key);
                located(Some(format!("topic[{i}].{key}")), span, message)
            })?;
        }
        connector::check_connectors(&config.sources, &config.sinks).map_err(
            |(table, i, key, message)| {
                let span = table_key_span(text, table, i, &key);
                located(Some(format!("{table}[{i}].{key}")), span, message)
            },
        )?;
        Ok(config)
    }

    /// The connectors of the `[[source]]` and `[[sink]]` tables, in file order (sources first).
    pub fn connectors(&self) -> Vec<crate::connector::Connector> {
        use crate::connector::ConnectorKind;
        let sources = self.sources.iter().map(|c| c.to_connector(ConnectorKind::Source));
        sources.chain(self.sinks.iter().map(|c| c.to_connector(ConnectorKind::Sink))).collect()
    }

    /// Check relations between fields. Returns the offending key and what was expected.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let l = &self.limits;
        if l.max_message_size == 0 {
            return Err(("limits.max_message_size", "must be at least 1 byte".into()));
        }
        if l.max_frame_size == 0 || l.max_frame_size > l.max_message_size {
            return Err((
                "limits.max_frame_size",
                format!("must be between 1 and max_message_size ({})", l.max_message_size),
            ));
        }
        if l.max_queued_bytes < 1024 {
            return Err(("limits.max_queued_bytes", "must be at least 1KiB".into()));
        }
        if l.max_header_bytes < 256 || l.max_header_bytes > 1 << 20 {
            return Err(("limits.max_header_bytes", "must be between 256B and 1MiB".into()));
        }
        if l.max_headers == 0 || l.max_headers > 1024 {
            return Err(("limits.max_headers", "must be between 1 and 1024".into()));
        }
        if l.max_topics_per_subscription == 0 {
            return Err(("limits.max_topics_per_subscription", "must be at least 1".into()));
        }
        if self.metrics.max_topic_series > 10_000 {
            return Err(("metrics.max_topic_series", "must be at most 10000".into()));
        }
        for (key, d) in [
            ("limits.handshake_timeout", l.handshake_timeout),
            ("limits.pong_timeout", l.pong_timeout),
            ("limits.close_timeout", l.close_timeout),
        ] {
            if d.is_zero() {
                return Err((key, "must be longer than 0".into()));
            }
        }
        if l.max_fragments == 0 {
            return Err(("limits.max_fragments", "must be at least 1".into()));
        }
        if l.max_connections_per_ip > 0
            && l.max_connections > 0
            && l.max_connections_per_ip > l.max_connections
        {
            return Err((
                "limits.max_connections_per_ip",
                format!("must not exceed max_connections ({})", l.max_connections),
            ));
        }
        if l.message_burst > 0 && l.max_messages_per_sec == 0 {
            return Err((
                "limits.message_burst",
                "is only meaningful with max_messages_per_sec".into(),
            ));
        }
        self.access.validate()?;
        self.compression.validate()?;
        if let Some(tls) = &self.tls {
            tls.validate()?;
        }
        let w = &self.workers;
        if w.count > 1024 {
            return Err(("workers.count", "must be at most 1024 (0 means cores - 1)".into()));
        }
        if w.queue == 0 || w.queue > 1 << 20 {
            return Err(("workers.queue", "must be between 1 and 1048576 batches".into()));
        }
        if w.spin > Duration::from_secs(1) {
            return Err(("workers.spin", "must be at most 1s".into()));
        }
        if let Some(c) = &self.cluster {
            c.validate()?;
        }
        self.web.validate()
    }
}

/// A configuration problem: which file, which line, which key, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file being read, if any.
    pub file: Option<PathBuf>,
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `limits.max_message_size`, when known.
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(p) => write!(f, "{}", p.display())?,
            None => f.write_str("<config>")?,
        }
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Parse a duration written as `<number><unit>` with unit `ms`, `s`, `m` or `h` (`0` alone is
/// zero). Used by the config file and the command line.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("expected a duration like `500ms`, `10s`, `5m`, found `{s}`"))?;
    let scale = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "" => return Err(format!("duration `{s}` needs a unit: `ms`, `s`, `m` or `h`")),
        other => {
            return Err(format!("unknown duration unit `{other}` in `{s}` (use us, ms, s, m, h)"))
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("duration `{s}` is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parse a byte size: a plain number of bytes, or a number with `B`, `KiB`, `MiB`, `GiB`
/// (binary) or `KB`, `MB`, `GB` (decimal).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 =
        num.parse().map_err(|_| format!("expected a size like `64KiB` or `4MiB`, found `{s}`"))?;
    let scale: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KiB" | "K" | "k" => 1024.0,
        "MiB" | "M" => 1024.0 * 1024.0,
        "GiB" | "G" => 1024.0 * 1024.0 * 1024.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{s}` (use B, KiB, MiB, GiB, or KB, MB, GB)"
            ))
        }
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 0.0 || bytes > (1u64 << 48) as f64 || bytes.fract() != 0.0 {
        return Err(format!("size `{s}` is out of range or not a whole number of bytes"));
    }
    Ok(bytes as usize)
}

struct StrOrInt<F>(F, &'static str);

impl<'de, T, F: Fn(&str) -> Result<T, String>> Visitor<'de> for StrOrInt<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.0)(v).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        (self.0)(&v.to_string()).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        (self.0)(&v.to_string()).map_err(E::custom)
    }
}

/// Serde helper: a duration from a string such as `"10s"` (see [`parse_duration`]).
pub fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(StrOrInt(parse_duration, "a duration like \"500ms\", \"10s\", \"5m\""))
}

/// Serde helper: a byte size from a string such as `"4MiB"` or an integer (see [`parse_size`]).
pub fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    d.deserialize_any(StrOrInt(parse_size, "a byte size like 1024, \"64KiB\" or \"4MiB\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("ten s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("8KiB"), Ok(8192));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert!(parse_size("1.5B").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("4 furlongs").is_err());
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::from_toml_str("", None), Ok(Config::default()));
    }

    #[test]
    fn values_are_read() {
        let c = Config::from_toml_str(
            "listen = \"0.0.0.0:9000\"\n[limits]\nmax_message_size = \"2MiB\"\nidle_ping = \"0\"\n",
            None,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.limits.max_message_size, 2 << 20);
        assert_eq!(c.limits.idle_ping, Duration::ZERO);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = Config::from_toml_str(
            "listen = \"127.0.0.1:1\"\n[limits]\nmax_mesage_size = 5\n",
            Some(Path::new("relay.toml")),
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let shown = e.to_string();
        assert!(shown.starts_with("relay.toml:3: key `limits"), "{shown}");
        assert!(shown.contains("max_mesage_size"), "{shown}");
    }

    #[test]
    fn bad_duration_names_its_key() {
        let e =
            Config::from_toml_str("[limits]\n\nhandshake_timeout = \"ten\"\n", None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("limits.handshake_timeout"));
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("duration"), "{e}");
    }

    #[test]
    fn validation_names_key_and_line() {
        let e = Config::from_toml_str(
            "[limits]\nmax_message_size = \"1KiB\"\nmax_frame_size = \"2KiB\"\n",
            None,
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("limits.max_frame_size"));
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = Config::from_toml_str("listen = \n", None).unwrap_err();
        assert_eq!(e.line, Some(1));
    }
}
