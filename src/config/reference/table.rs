//! The documented keys of every table, in the order `sluice config --print-default` prints them.
//! Values come from the parser's defaults; the tests in `tests.rs` hold the table to the parser.

use super::{d, duration, fields_of, size, string, Key, Section, Shape, Value};
use crate::access::config::{Access, StaticToken};
use crate::config::connector::{
    default_buffer, default_connect_timeout, default_ping_interval, default_stall_timeout,
};
use crate::config::{
    BackoffConfig, CompressionConfig, Config, ConnectorConfig, Limits, MetricsConfig,
    PipelineConfig, TlsFiles, TopicConfig, WebConfig, WorkerConfig,
};
use crate::connector::Overflow;

/// Every table of the file, in order.
pub static SECTIONS: &[Section] = &[
    Section {
        name: "",
        shape: Shape::Top,
        doc: "",
        keys: &[Key {
            name: "listen",
            value: Value::Default(|| string(&d().listen.to_string())),
            doc: "The address the relay listens on (host:port; port 0 picks a free port).",
        }],
        fields: fields_of::<Config>,
        same_as: None,
    },
    Section {
        name: "limits",
        shape: Shape::Table,
        doc: "Per-connection limits and timeouts (each also a command-line flag of the same name: \
              --max-queued-bytes 8MiB). They bound memory whatever clients do.",
        keys: LIMITS,
        fields: fields_of::<Limits>,
        same_as: None,
    },
    Section {
        name: "access",
        shape: Shape::Table,
        doc: "Who may open a WebSocket: browser origins and tokens. By default anyone may publish \
              and subscribe to any topic. Plain HTTP (/healthz, /metrics, the dashboard, static \
              files) is not checked.",
        keys: &[
            Key {
                name: "allowed_origins",
                value: Value::Default(|| list(&d().access.allowed_origins)),
                doc: "Browser origins allowed to open WebSockets, exact (\"https://app.example.com\") \
                      or a wildcard subdomain (\"https://*.example.com\"), or \"*\"; others get 403. \
                      Empty: any origin. Requests without an Origin header are not checked.",
            },
            Key {
                name: "jwt_secret",
                value: Value::Optional("\"at-least-32-bytes-of-secret-for-hs256-tokens\""),
                doc: "HS256 secret (at least 32 bytes) for signed tokens (JWT with `exp`; rights \
                      from the `publish` and `subscribe` claims). Turns authentication on.",
            },
            Key {
                name: "jwt_secret_file",
                value: Value::Optional("\"/etc/sluice/jwt.secret\""),
                doc: "A file holding the JWT secret, read at start, instead of jwt_secret.",
            },
            Key {
                name: "token_cookie",
                value: Value::Default(|| string(&d().access.token_cookie)),
                doc: "The cookie a browser may carry its token in (after the Authorization header \
                      and the `token` query parameter).",
            },
        ],
        fields: fields_of::<Access>,
        same_as: None,
    },
    Section {
        name: "access.tokens",
        shape: Shape::Array,
        doc: "Static bearer tokens, each with its rights (topic patterns: a name, a prefix \
              ending in `*`, or `*`). Any token turns authentication on.",
        keys: &[
            Key {
                name: "token",
                value: Value::Required("\"a-long-random-publisher-token\""),
                doc: "At least 16 printable characters, without spaces, `,`, `;` or `\"`.",
            },
            Key {
                name: "publish",
                value: Value::Default(|| "[]".into()),
                doc: "Topic patterns it may publish to.",
            },
            Key {
                name: "subscribe",
                value: Value::Default(|| "[]".into()),
                doc: "Topic patterns it may subscribe to.",
            },
        ],
        fields: fields_of::<StaticToken>,
        same_as: None,
    },
    Section {
        name: "tls",
        shape: Shape::Optional,
        doc: "Serve wss:// (TLS 1.2 and 1.3) instead of ws://; the files are read at start. Same \
              as --tls-cert FILE --tls-key FILE.",
        keys: &[
            Key {
                name: "cert",
                value: Value::Required("\"/etc/sluice/fullchain.pem\""),
                doc: "PEM certificate chain, leaf first.",
            },
            Key {
                name: "key",
                value: Value::Required("\"/etc/sluice/privkey.pem\""),
                doc: "PEM private key: PKCS#8, PKCS#1 or SEC1.",
            },
        ],
        fields: fields_of::<TlsFiles>,
        same_as: None,
    },
    Section {
        name: "metrics",
        shape: Shape::Table,
        doc: "Metrics (/metrics) and the dashboard (/).",
        keys: &[
            Key {
                name: "max_topic_series",
                value: Value::Default(|| d().metrics.max_topic_series.to_string()),
                doc: "Topic names with their own series in /metrics (at most 10000); later names \
                      are counted under topic=\"~other\".",
            },
            Key {
                name: "dashboard",
                value: Value::Default(|| d().metrics.dashboard.to_string()),
                doc: "Serve the dashboard page at / and its live feed at /_sluice/stats.",
            },
            Key {
                name: "latency_histograms",
                value: Value::Default(|| d().metrics.latency_histograms.to_string()),
                doc: "Record the delivery-latency and loop-time histograms (a clock read and a \
                      few histogram updates per loop iteration); false keeps only counters.",
            },
        ],
        fields: fields_of::<MetricsConfig>,
        same_as: None,
    },
    Section {
        name: "web",
        shape: Shape::Table,
        doc: "Your own static files (a page and its scripts), served by the relay from memory \
              on the same origin as its WebSockets. Same as --static DIR --static-prefix PREFIX.",
        keys: &[
            Key {
                name: "static_dir",
                value: Value::Optional("\"examples/web\""),
                doc: "The directory to serve, read once at start (relative to the working \
                      directory). Hidden files and links leading out of it are not served. \
                      Default: none.",
            },
            Key {
                name: "static_prefix",
                value: Value::Default(|| string(&d().web.static_prefix)),
                doc: "The URL prefix: DIR/index.html is served at /app/, DIR/js/a.js at \
                      /app/js/a.js. Starts and ends with `/`.",
            },
            Key {
                name: "static_max_bytes",
                value: Value::Default(|| size(d().web.static_max_bytes)),
                doc: "Bound on the bytes of files loaded (a size; at most 10000 files). A bigger \
                      directory is an error at start that names the file.",
            },
        ],
        fields: fields_of::<WebConfig>,
        same_as: None,
    },
    Section {
        name: "topic",
        shape: Shape::Array,
        doc: "Delivery settings of the topics whose name matches (the first table that matches \
              applies; other topics get these defaults): the history kept for resumes and \
              ?last=N, and what happens to a subscriber that falls behind (docs/delivery.md).",
        keys: &[
            Key {
                name: "match",
                value: Value::Required("\"prices.*\""),
                doc: "A topic name, a prefix ending in `*`, or `*`.",
            },
            Key {
                name: "history",
                value: Value::Default(|| {
                    let h = TopicConfig::default().history;
                    format!("{{ size = {}, ttl = {} }}", h.size, duration(h.ttl))
                }),
                doc: "Messages kept per topic (size 0: none), and for how long. All topics \
                      together are bounded by limits.max_history_bytes.",
            },
            Key {
                name: "max_recovery",
                value: Value::Default(|| TopicConfig::default().max_recovery.to_string()),
                doc: "The largest gap a resume replays; a larger one is answered \
                      recovered:false, too_many.",
            },
            Key {
                name: "slow",
                value: Value::Default(|| string("close")),
                doc: "A subscriber over max_queued_bytes: \"close\" (1008; it resumes), \"skip\" \
                      (a gap when it drains) or \"latest\" (the latest value per key when it drains).",
            },
            Key {
                name: "key",
                value: Value::Optional("\".sym\""),
                doc: "With slow = \"latest\": keep the latest value per key (a jq path); without \
                      it, the latest message of the topic.",
            },
            Key {
                name: "max_keys",
                value: Value::Default(|| TopicConfig::default().max_keys.to_string()),
                doc: "With slow = \"latest\": keys held per subscriber that is behind; past it, \
                      the subscriber is closed.",
            },
            Key {
                name: "compression",
                value: Value::Default(|| TopicConfig::default().compression.to_string()),
                doc: "Compress its messages for subscribers that negotiated permessage-deflate \
                      (see [compression]); false sends them uncompressed to everyone.",
            },
        ],
        fields: fields_of::<TopicConfig>,
        same_as: None,
    },
    Section {
        name: "compression",
        shape: Shape::Table,
        doc: "permessage-deflate (RFC 7692) on accepted WebSockets: a message is compressed once \
              for all its subscribers; nothing is kept per connection by default \
              (docs/compression.md).",
        keys: &[
            Key {
                name: "enabled",
                value: Value::Default(|| d().compression.enabled.to_string()),
                doc: "Accept a client's permessage-deflate offer.",
            },
            Key {
                name: "min_size",
                value: Value::Default(|| size(d().compression.min_size)),
                doc: "Messages shorter than this go uncompressed.",
            },
            Key {
                name: "level",
                value: Value::Default(|| d().compression.level.to_string()),
                doc: "DEFLATE level, 1 (fastest) to 9 (smallest).",
            },
            Key {
                name: "client_context_takeover",
                value: Value::Default(|| d().compression.client_context_takeover.to_string()),
                doc: "Let clients keep their compression context between messages (about 46 KiB \
                      per such connection); false asks every client for no context takeover.",
            },
            Key {
                name: "client_max_window_bits",
                value: Value::Default(|| d().compression.client_max_window_bits.to_string()),
                doc: "With client_context_takeover: the largest client window, 9 to 15 bits.",
            },
        ],
        fields: fields_of::<CompressionConfig>,
        same_as: None,
    },
    Section {
        name: "workers",
        shape: Shape::Table,
        doc: "The worker threads that run pipelines (started only when there is a pipeline). \
              --workers N, --idle STRATEGY and --no-pin override them.",
        keys: WORKERS,
        fields: fields_of::<WorkerConfig>,
        same_as: None,
    },
    Section {
        name: "pipeline",
        shape: Shape::Array,
        doc: "A pipeline reads topics, runs steps on the workers, and publishes the results on \
              another topic; it may end in a keyed window (docs/pipelines.md, docs/windows.md).",
        keys: PIPELINE,
        fields: fields_of::<PipelineConfig>,
        same_as: None,
    },
    Section {
        name: "source",
        shape: Shape::Array,
        doc: "A source connects to an upstream WebSocket feed and publishes what it receives to \
              a topic, reconnecting with backoff (docs/connectors.md).",
        keys: CONNECTOR,
        fields: fields_of::<ConnectorConfig>,
        same_as: None,
    },
    Section {
        name: "cluster",
        shape: Shape::Optional,
        doc: "Share topics with other relays through NATS JetStream: offsets, history and \
              resume on every node, keyed pipelines split by key group (docs/cluster.md).",
        keys: super::cluster::CLUSTER,
        fields: fields_of::<crate::config::ClusterConfig>,
        same_as: None,
    },
    Section {
        name: "sink",
        shape: Shape::Array,
        doc: "A sink sends every message of a topic to an upstream WebSocket endpoint, through \
              a bounded buffer. It takes the keys of [[source]] (but send_from), and these:",
        keys: &[
            Key {
                name: "name",
                value: Value::Required("\"out\""),
                doc: "Unique among sources and sinks.",
            },
            Key {
                name: "url",
                value: Value::Required("\"ws://127.0.0.1:9002/ingest\""),
                doc: "The downstream endpoint.",
            },
            Key {
                name: "topic",
                value: Value::Required("\"words.upper\""),
                doc: "Every message published here is sent.",
            },
        ],
        fields: fields_of::<ConnectorConfig>,
        same_as: Some("source"),
    },
];

const LIMITS: &[Key] = &[
    Key {
        name: "max_message_size",
        value: Value::Default(|| size(d().limits.max_message_size)),
        doc: "Largest message after reassembly; over it: close 1009, decided from the frame \
              header before any payload is buffered.",
    },
    Key {
        name: "max_frame_size",
        value: Value::Default(|| size(d().limits.max_frame_size)),
        doc: "Largest frame payload (at most max_message_size); over it: close 1009.",
    },
    Key {
        name: "max_queued_bytes",
        value: Value::Default(|| size(d().limits.max_queued_bytes)),
        doc: "Bytes queued for one connection (messages, echoes, pongs); a message past it \
              closes the slow consumer with 1008.",
    },
    Key {
        name: "max_header_bytes",
        value: Value::Default(|| size(d().limits.max_header_bytes)),
        doc: "HTTP request header section (256 bytes to 1MiB); over it: 431.",
    },
    Key {
        name: "max_headers",
        value: Value::Default(|| d().limits.max_headers.to_string()),
        doc: "HTTP request headers (1 to 1024); more: 431.",
    },
    Key {
        name: "max_history_bytes",
        value: Value::Default(|| size(d().limits.max_history_bytes)),
        doc: "Bytes of every topic's history together; past it the oldest messages of any \
              topic are evicted first, and counted.",
    },
    Key {
        name: "max_topics_per_subscription",
        value: Value::Default(|| d().limits.max_topics_per_subscription.to_string()),
        doc: "Topics in one /sub/a,b,… request; more: 400.",
    },
    Key {
        name: "handshake_timeout",
        value: Value::Default(|| duration(d().limits.handshake_timeout)),
        doc: "From accept to a completed upgrade (also the idle timeout of plain HTTP \
              keep-alive); past it the socket is closed.",
    },
    Key {
        name: "idle_ping",
        value: Value::Default(|| duration(d().limits.idle_ping)),
        doc: "Ping a connection after this long without input; \"0\" turns keepalive off.",
    },
    Key {
        name: "pong_timeout",
        value: Value::Default(|| duration(d().limits.pong_timeout)),
        doc: "Nothing received this long after a keepalive ping: close 1001.",
    },
    Key {
        name: "close_timeout",
        value: Value::Default(|| duration(d().limits.close_timeout)),
        doc: "A closing connection that has not flushed its close frame and seen EOF by then \
              is dropped.",
    },
    Key {
        name: "shutdown_timeout",
        value: Value::Default(|| duration(d().limits.shutdown_timeout)),
        doc: "The longest a graceful stop (SIGINT, SIGTERM) waits for clients to be flushed.",
    },
    Key {
        name: "max_fragments",
        value: Value::Default(|| d().limits.max_fragments.to_string()),
        doc: "Frames one fragmented message may arrive in; more: close 1008.",
    },
    Key {
        name: "max_empty_fragments",
        value: Value::Default(|| d().limits.max_empty_fragments.to_string()),
        doc: "Empty data frames in one fragmented message; more: close 1008.",
    },
    Key {
        name: "max_connections",
        value: Value::Default(|| d().limits.max_connections.to_string()),
        doc: "Connections held at once (0: no limit); past it new ones are refused at accept.",
    },
    Key {
        name: "max_connections_per_ip",
        value: Value::Default(|| d().limits.max_connections_per_ip.to_string()),
        doc: "Connections from one client IP address (0: no limit).",
    },
    Key {
        name: "max_messages_per_sec",
        value: Value::Default(|| d().limits.max_messages_per_sec.to_string()),
        doc: "Messages a connection may send per second (0: no limit); over it: close 1008.",
    },
    Key {
        name: "message_burst",
        value: Value::Default(|| d().limits.message_burst.to_string()),
        doc: "Messages a connection may send at once before the rate applies (0: one second's \
              worth).",
    },
];

const WORKERS: &[Key] = &[
    Key {
        name: "count",
        value: Value::Default(|| d().workers.count.to_string()),
        doc: "Worker threads; 0: one per core but one, at least 1.",
    },
    Key {
        name: "idle",
        value: Value::Default(|| string(&d().workers.idle.to_string())),
        doc: "What an idle worker does: \"spin\" (lowest latency, a core per worker), \
              \"spin-then-park\" or \"park\" (least CPU).",
    },
    Key {
        name: "spin",
        value: Value::Default(|| duration(d().workers.spin)),
        doc: "How long spin-then-park spins before backing off (at most 1s).",
    },
    Key {
        name: "pin",
        value: Value::Default(|| d().workers.pin.to_string()),
        doc: "Pin each worker to its own core (a failure is logged once, not fatal).",
    },
    Key {
        name: "queue",
        value: Value::Default(|| d().workers.queue.to_string()),
        doc: "Batches queued per worker; when full the newest batch is dropped and counted.",
    },
];

const PIPELINE: &[Key] = &[
    Key {
        name: "name",
        value: Value::Required("\"clean-trades\""),
        doc: "Unique; used in statistics, logs and `sluice replay`.",
    },
    Key {
        name: "from",
        value: Value::Required("\"trades\""),
        doc: "The input topic, or a list of topics: [\"a\", \"b\"].",
    },
    Key { name: "to", value: Value::Required("\"trades.clean\""), doc: "The output topic." },
    Key {
        name: "key",
        value: Value::Optional("\".symbol\""),
        doc: "A jq path read from each message as published: messages with the same key go \
              through one worker, in order. Default: none.",
    },
    Key {
        name: "partition",
        value: Value::Optional("\"round-robin\""),
        doc: "Without key: \"publisher\" (the default; each publisher's messages on one worker, \
              in order) or \"round-robin\" (any worker, no order).",
    },
    Key {
        name: "errors",
        value: Value::Optional("\"trades.errors\""),
        doc: "A topic that receives a JSON record for every message that fails. Default: none \
              (failures are only counted).",
    },
    Key {
        name: "steps",
        value: Value::Optional(
            "[{ filter = \".qty > 0\" }, { map = \"{sym: .symbol, px: .price}\" }, \
             { text = \"upper\" }]",
        ),
        doc: "The steps, in order: { filter = \"<jq>\" }, { map = \"<jq>\" }, \
              { flat_map = \"<jq>\" }, { text = \"upper\" | \"lower\" | \"trim\" }. Default: none.",
    },
    Key {
        name: "time",
        value: Value::Optional(
            "{ event = \".ts\", out_of_orderness = \"200ms\", allowed_lateness = \"2s\" }",
        ),
        doc: "Window time: \"processing\", or event time read from the message (`event`, epoch \
              ms or RFC 3339) with a watermark `out_of_orderness` behind the latest (default \
              0), `allowed_lateness` (default 0), `idle` publishers ignored after a while \
              (default never) and `sources` \"one\" or \"per-publisher\" watermarks.",
    },
    Key {
        name: "window",
        value: Value::Optional("{ tumbling = \"1s\" }"),
        doc: "{ tumbling = \"1s\" }, { sliding = \"5s\", slide = \"1s\" } (both with an \
              optional `offset`, which may be negative), { session = \"500ms\" } or \
              { count = 100 }. Needs aggregate.",
    },
    Key {
        name: "aggregate",
        value: Value::Optional(
            "{ close = \"last(.price)\", volume = \"sum(.qty)\", trades = \"count\" }",
        ),
        doc: "Named aggregates of each window: count, count(e), sum(e), avg(e), min(e), \
              max(e), first(e), last(e), with e a jq expression.",
    },
    Key {
        name: "late",
        value: Value::Optional("\"trades.late\""),
        doc: "A topic for events past the allowed lateness. Default: none (dropped, counted).",
    },
    Key {
        name: "max_windows",
        value: Value::Optional("100000"),
        doc: "Bound on open windows over all workers; events that would open more are dropped \
              and counted. Default: 100000.",
    },
];

const CONNECTOR: &[Key] = &[
    Key {
        name: "name",
        value: Value::Required("\"feed\""),
        doc: "Unique among sources and sinks; used in logs, counters and status events.",
    },
    Key {
        name: "url",
        value: Value::Required("\"ws://127.0.0.1:9001/words\""),
        doc: "ws://host[:port][/path][?query] or wss://… (TLS, certificate verified).",
    },
    Key {
        name: "topic",
        value: Value::Required("\"words\""),
        doc: "Every message received is published here.",
    },
    Key {
        name: "subscribe",
        value: Value::Optional("'{\"op\":\"subscribe\",\"args\":[\"words\"]}'"),
        doc: "A message, or a list of them, sent first on every new connection. Default: none.",
    },
    Key {
        name: "send_from",
        value: Value::Optional("\"words.requests\""),
        doc: "Source only: messages published to this topic are also sent upstream on the same \
              connection. Default: none.",
    },
    Key {
        name: "headers",
        value: Value::Optional("{ Authorization = \"Bearer secret-token\" }"),
        doc: "Extra handshake headers. Default: none.",
    },
    Key {
        name: "subprotocol",
        value: Value::Optional("\"feed.v1\""),
        doc: "Request this subprotocol; the upstream must choose it. Default: none.",
    },
    Key {
        name: "compression",
        value: Value::Default(|| "false".into()),
        doc: "Offer permessage-deflate to the upstream, so a compressed feed is accepted.",
    },
    Key {
        name: "ca_file",
        value: Value::Optional("\"/etc/sluice/feed-ca.pem\""),
        doc: "wss:// only: PEM CA certificates trusted instead of the platform's roots. \
              Default: the platform's roots.",
    },
    Key {
        name: "status_topic",
        value: Value::Optional("\"words.status\""),
        doc: "Where status events (connected, disconnected, …) go. Default: <topic>.status.",
    },
    Key {
        name: "connect_timeout",
        value: Value::Default(|| duration(default_connect_timeout())),
        doc: "Name resolution, TCP connect, TLS and WebSocket handshakes.",
    },
    Key {
        name: "ping_interval",
        value: Value::Default(|| duration(default_ping_interval())),
        doc: "Ping the upstream after this long without input (\"0\": never).",
    },
    Key {
        name: "stall_timeout",
        value: Value::Default(|| duration(default_stall_timeout())),
        doc: "Nothing received for this long: reconnect (\"0\": never).",
    },
    Key {
        name: "backoff",
        value: Value::Default(|| backoff(&BackoffConfig::default())),
        doc: "Reconnect delays: initial × multiplier^(n-1) up to max, minus a random fraction \
              of at most jitter (0 to 1).",
    },
    Key {
        name: "buffer",
        value: Value::Default(|| size(default_buffer())),
        doc: "Bound on the messages held for the upstream (sinks, and sources with send_from).",
    },
    Key {
        name: "overflow",
        value: Value::Default(|| {
            string(match Overflow::default() {
                Overflow::DropOldest => "drop-oldest",
                Overflow::DropNewest => "drop-newest",
            })
        }),
        doc: "When the buffer is full: \"drop-oldest\" or \"drop-newest\"; counted either way.",
    },
];

/// A list of strings as TOML.
fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| string(s)).collect();
    format!("[{}]", items.join(", "))
}

/// A backoff table as its default is written.
pub(super) fn backoff(b: &BackoffConfig) -> String {
    format!(
        "{{ initial = {}, max = {}, multiplier = {:?}, jitter = {:?} }}",
        duration(b.initial),
        duration(b.max),
        b.multiplier,
        b.jitter
    )
}
