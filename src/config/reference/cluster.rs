//! The documented keys of `[cluster]` (`docs/cluster.md` explains them).

use super::{duration, size, string, Key, Value};
use crate::config::ClusterConfig;

fn c() -> ClusterConfig {
    ClusterConfig::default()
}

/// The keys of `[cluster]`, in the order printed.
pub(super) const CLUSTER: &[Key] = &[
    Key {
        name: "nats",
        value: Value::Required("[\"nats://127.0.0.1:4222\", \"nats://127.0.0.1:4223\"]"),
        doc: "NATS servers (nats:// or tls://), tried in order; JetStream must be enabled.",
    },
    Key {
        name: "node",
        value: Value::Required("\"a\""),
        doc: "This relay's name, unique in the cluster: 1 to 32 of A-Z a-z 0-9 _ -.",
    },
    Key {
        name: "nodes",
        value: Value::Optional("[\"a\", \"b\", \"c\"]"),
        doc: "Every node, the same list on each: keyed pipelines split their key groups between \
              them in this order. Default: this node alone.",
    },
    Key {
        name: "key_groups",
        value: Value::Default(|| c().key_groups.to_string()),
        doc: "Key groups of keyed pipelines (Flink's maximum parallelism); at least the nodes.",
    },
    Key {
        name: "prefix",
        value: Value::Default(|| string(&c().prefix)),
        doc: "Start of every subject and stream name on NATS.",
    },
    Key {
        name: "replicas",
        value: Value::Default(|| c().replicas.to_string()),
        doc: "Copies JetStream keeps of each topic's stream, 1 to 5 (3 survives a lost server).",
    },
    Key {
        name: "storage",
        value: Value::Default(|| string("file")),
        doc: "Where JetStream keeps the streams: \"file\" or \"memory\".",
    },
    Key {
        name: "token",
        value: Value::Optional("\"s3cret\""),
        doc: "A NATS authorization token. Default: none.",
    },
    Key {
        name: "user",
        value: Value::Optional("\"sluice\""),
        doc: "A NATS user (with password). Default: none.",
    },
    Key { name: "password", value: Value::Optional("\"s3cret\""), doc: "The user's password." },
    Key {
        name: "ca_file",
        value: Value::Optional("\"/etc/sluice/nats-ca.pem\""),
        doc: "TLS: PEM CA certificates trusted instead of the platform's roots.",
    },
    Key {
        name: "connect_timeout",
        value: Value::Default(|| duration(c().connect_timeout)),
        doc: "A connection attempt (TCP, TLS, NATS handshake) may take this long.",
    },
    Key {
        name: "ping_interval",
        value: Value::Default(|| duration(c().ping_interval)),
        doc: "PING the server this often; two unanswered close the connection.",
    },
    Key {
        name: "heartbeat",
        value: Value::Default(|| duration(c().heartbeat)),
        doc: "Idle heartbeat of the node's consumers; three missed restart one.",
    },
    Key {
        name: "request_timeout",
        value: Value::Default(|| duration(c().request_timeout)),
        doc: "A JetStream answer later than this: the request is asked again, the publish sent again.",
    },
    Key {
        name: "duplicate_window",
        value: Value::Default(|| duration(c().duplicate_window)),
        doc: "Messages sent again after a reconnect within this window are stored once.",
    },
    Key {
        name: "max_pending_bytes",
        value: Value::Default(|| size(c().max_pending_bytes)),
        doc: "Bytes waiting for NATS; past it, messages are not sent (counted, owed as a gap).",
    },
    Key {
        name: "backoff",
        value: Value::Default(|| super::table::backoff(&c().backoff)),
        doc: "Delays between rounds of connection attempts.",
    },
];
