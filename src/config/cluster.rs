//! The `[cluster]` table: several relays share their topics through a NATS system with
//! JetStream. Without the table the relay runs alone.
//!
//! ```toml
//! [cluster]
//! nats = ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]  # tried in order, then again
//! node = "a"                       # unique per relay: 1–32 of [A-Za-z0-9_-]
//! nodes = ["a", "b", "c"]          # every node, the same list on each: keyed pipelines split by it
//! replicas = 3                     # copies JetStream keeps of each topic's stream
//! ```
//!
//! The user's page is `docs/cluster.md`.

use std::time::Duration;

use serde::Deserialize;

use super::{de_duration, de_size, BackoffConfig, Secret};

/// Where a topic's stream is stored by JetStream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// On disk: survives NATS restarts. The default.
    #[default]
    File,
    /// In memory: faster, lost when the NATS servers holding it stop.
    Memory,
}

/// The `[cluster]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// NATS server URLs (`nats://host:port`, or `tls://host:port` to require TLS). Tried in
    /// order; after the last, the first again, with backoff.
    pub nats: Vec<String>,
    /// This relay's name, unique in the cluster: 1–32 bytes of `[A-Za-z0-9_-]`.
    pub node: String,
    /// Every node of the cluster, the same list in the same order on each. A keyed pipeline's
    /// key groups are split between them; a node not listed runs no keyed group. Default: this
    /// node alone (it runs every group).
    pub nodes: Vec<String>,
    /// Key groups of keyed pipelines (as Flink's maximum parallelism): fixed for the life of
    /// the cluster's state. Default 128.
    pub key_groups: u32,
    /// Names on NATS start with this (subjects `<prefix>.t.<topic>`, streams `<prefix>_<topic>`).
    /// Default `sluice`.
    pub prefix: String,
    /// Copies JetStream keeps of each topic's stream (1 to 5; at most the number of NATS
    /// servers). Default 1; 3 lets the topics survive the loss of a NATS server.
    pub replicas: usize,
    /// Where JetStream stores the streams: `file` (default) or `memory`.
    pub storage: Storage,
    /// A token for NATS (`authorization { token }` on the server).
    pub token: Option<Secret>,
    /// A user name for NATS (with `password`).
    pub user: Option<String>,
    /// The user's password.
    pub password: Option<Secret>,
    /// For `tls://` servers (or servers that require TLS): trust these CA certificates (PEM)
    /// instead of the platform's.
    pub ca_file: Option<std::path::PathBuf>,
    /// How long a connection attempt (TCP, TLS and the NATS handshake) may take. Default 5 s.
    #[serde(deserialize_with = "de_duration")]
    pub connect_timeout: Duration,
    /// A `PING` to the server this often; two unanswered close the connection. Default 5 s.
    #[serde(deserialize_with = "de_duration")]
    pub ping_interval: Duration,
    /// Idle heartbeat of the relay's JetStream consumers; three missed restart the consumer.
    /// Default 2 s.
    #[serde(deserialize_with = "de_duration")]
    pub heartbeat: Duration,
    /// How long a publish or an API request may wait for its answer before the connection is
    /// considered broken (and made again). Default 5 s.
    #[serde(deserialize_with = "de_duration")]
    pub request_timeout: Duration,
    /// Messages sent again after a reconnect are dropped by JetStream if they arrived within
    /// this window (exactly once into the stream). Longer costs NATS memory: one entry per
    /// message published in the window. Default 30 s.
    #[serde(deserialize_with = "de_duration")]
    pub duplicate_window: Duration,
    /// Bytes of messages waiting for NATS (not yet sent, or sent and not acknowledged). Past
    /// it, new messages are not sent to the cluster: they are counted and the topic gets a gap.
    /// Default 16 MiB.
    #[serde(deserialize_with = "de_size")]
    pub max_pending_bytes: usize,
    /// Reconnect delays to NATS.
    pub backoff: BackoffConfig,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats: Vec::new(),
            node: String::new(),
            nodes: Vec::new(),
            key_groups: 128,
            prefix: "sluice".into(),
            replicas: 1,
            storage: Storage::File,
            token: None,
            user: None,
            password: None,
            ca_file: None,
            connect_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(5),
            heartbeat: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            duplicate_window: Duration::from_secs(30),
            max_pending_bytes: 16 << 20,
            backoff: BackoffConfig {
                initial: Duration::from_millis(50),
                max: Duration::from_secs(5),
                ..BackoffConfig::default()
            },
        }
    }
}

impl ClusterConfig {
    /// The nodes keyed groups are split between (`nodes`, or this node alone).
    pub fn members(&self) -> Vec<String> {
        if self.nodes.is_empty() {
            vec![self.node.clone()]
        } else {
            self.nodes.clone()
        }
    }

    /// Check every value; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.nats.is_empty() {
            return Err(("cluster.nats", "needs at least one NATS URL".into()));
        }
        for url in &self.nats {
            crate::cluster::NatsUrl::parse(url).map_err(|e| ("cluster.nats", e))?;
        }
        let name_rule = "must be 1 to 32 characters of A-Z, a-z, 0-9, `_` and `-`";
        if !crate::cluster::valid_name(&self.node) {
            return Err(("cluster.node", name_rule.into()));
        }
        if !crate::cluster::valid_name(&self.prefix) {
            return Err(("cluster.prefix", name_rule.into()));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if !crate::cluster::valid_name(n) {
                return Err(("cluster.nodes", format!("`{n}`: {name_rule}")));
            }
            if self.nodes[..i].contains(n) {
                return Err(("cluster.nodes", format!("`{n}` is listed twice")));
            }
        }
        if !self.nodes.is_empty() && !self.nodes.contains(&self.node) {
            return Err(("cluster.nodes", format!("does not list this node `{}`", self.node)));
        }
        if !(1..=65_536).contains(&self.key_groups) {
            return Err(("cluster.key_groups", "must be between 1 and 65536".into()));
        }
        if (self.key_groups as usize) < self.members().len() {
            return Err(("cluster.key_groups", "must be at least the number of nodes".into()));
        }
        if !(1..=5).contains(&self.replicas) {
            return Err(("cluster.replicas", "must be between 1 and 5".into()));
        }
        if self.user.is_some() != self.password.is_some() {
            return Err(("cluster.password", "`user` and `password` go together".into()));
        }
        if self.token.is_some() && self.user.is_some() {
            return Err(("cluster.token", "use a token or a user and password, not both".into()));
        }
        for (key, d) in [
            ("cluster.connect_timeout", self.connect_timeout),
            ("cluster.ping_interval", self.ping_interval),
            ("cluster.heartbeat", self.heartbeat),
            ("cluster.request_timeout", self.request_timeout),
            ("cluster.duplicate_window", self.duplicate_window),
        ] {
            if d < Duration::from_millis(10) {
                return Err((key, "must be at least 10ms".into()));
            }
        }
        if self.max_pending_bytes < 64 << 10 {
            return Err(("cluster.max_pending_bytes", "must be at least 64KiB".into()));
        }
        if let Some(path) = &self.ca_file {
            crate::connector::tls::client_config(Some(path)).map_err(|e| ("cluster.ca_file", e))?;
        }
        let b = &self.backoff;
        crate::connector::Backoff {
            initial: b.initial,
            max: b.max,
            multiplier: b.multiplier,
            jitter: b.jitter,
        }
        .validate()
        .map_err(|(field, why)| match field {
            "initial" => ("cluster.backoff.initial", why),
            "max" => ("cluster.backoff.max", why),
            "multiplier" => ("cluster.backoff.multiplier", why),
            _ => ("cluster.backoff.jitter", why),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn a_cluster_table_reads_and_checks() {
        let c = Config::from_toml_str(
            "[cluster]\nnats = [\"nats://127.0.0.1:4222\", \"tls://n2:4222\"]\nnode = \"a\"\n\
             nodes = [\"a\", \"b\"]\nreplicas = 3\nstorage = \"memory\"\n",
            None,
        )
        .unwrap();
        let cl = c.cluster.unwrap();
        assert_eq!(cl.members(), ["a", "b"]);
        assert_eq!((cl.replicas, cl.key_groups), (3, 128));
        assert_eq!(cl.storage, super::Storage::Memory);
        assert!(Config::from_toml_str("", None).unwrap().cluster.is_none());
    }

    #[test]
    fn bad_values_name_their_key_and_line() {
        for (text, key, line) in [
            ("[cluster]\nnode = \"a\"\n", "cluster.nats", None),
            ("[cluster]\nnats = [\"http://x:1\"]\nnode = \"a\"\n", "cluster.nats", Some(2)),
            ("[cluster]\nnats = [\"nats://x:1\"]\nnode = \"a.b\"\n", "cluster.node", Some(3)),
            (
                "[cluster]\nnats = [\"nats://x:1\"]\nnode = \"a\"\nnodes = [\"b\"]\n",
                "cluster.nodes",
                Some(4),
            ),
            (
                "[cluster]\nnats = [\"nats://x:1\"]\nnode = \"a\"\nreplicas = 7\n",
                "cluster.replicas",
                Some(4),
            ),
            (
                "[cluster]\nnats = [\"nats://x:1\"]\nnode = \"a\"\nuser = \"u\"\n",
                "cluster.password",
                None,
            ),
        ] {
            let e = Config::from_toml_str(text, None).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            if line.is_some() {
                assert_eq!(e.line, line, "{e}");
            }
        }
    }
}
