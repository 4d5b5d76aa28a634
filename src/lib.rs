//! # Sluice
//!
//! A low-latency WebSocket stream relay. Producers publish on `/pub/<topic>`, subscribers
//! receive on `/sub/<topic>[,<topic>…]`; a single-threaded, hand-written `mio` reactor owns every
//! socket, parses HTTP with `httparse` and frames with `tungstenite`'s codec on its own buffers,
//! and writes each message to all its subscribers from one shared, once-encoded buffer.
//!
//! The public face is small:
//!
//! - [`Config`]: every limit with its documented default, loadable from TOML;
//! - [`Reactor`]: bind, add custom endpoints, then [`Reactor::run`] (or drive it with
//!   [`Reactor::poll_once`] from a host loop);
//! - [`Handle`]: `Clone + Send`; publish from any thread, read statistics, stop gracefully;
//! - [`Pipeline`]: transform topics on pinned worker threads (jq steps, text steps, Rust
//!   closures and [`Operator`]s), added with [`Reactor::add_pipeline`] or from the
//!   configuration's `[[pipeline]]` tables;
//! - [`Connector`]: pull an upstream WebSocket feed into a topic (a source) or push a topic to an
//!   upstream endpoint (a sink), with reconnects, added with [`Reactor::add_connector`] or from
//!   the configuration's `[[source]]` and `[[sink]]` tables;
//! - [`WebConfig`] (`Config::web`): a directory of the user's own static files, served from
//!   memory under a URL prefix (see [`web`]);
//! - [`Error`] and the per-layer error types it wraps.
//!
//! ```no_run
//! use sluice::{Config, Endpoint, Reactor, Response};
//!
//! let mut reactor = Reactor::bind(Config::default())?;
//! reactor.add_endpoint("/version", Endpoint::http(|_| Response::text(200, "1.0\n")))?;
//! let handle = reactor.handle();
//! std::thread::spawn(move || {
//!     let _ = handle.publish("ticks", "tick");
//! });
//! reactor.run()?;
//! # Ok::<(), sluice::Error>(())
//! ```

#![warn(missing_docs)]

mod access;
pub mod clock;
mod cluster;
pub mod config;
mod conn;
pub mod connector;
mod dashboard;
mod deflate;
mod endpoint;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handle;
pub mod logging;
pub mod metrics;
pub mod ops;
mod reactor;
mod route;
mod tls;
mod topic;
mod wake;
pub mod web;
pub mod worker;

pub use clock::Clock;
pub use config::{Config, Limits, MetricsConfig, WebConfig, WorkerConfig};
pub use conn::http::{Request, Response};
pub use connector::{
    Backoff, Connector, ConnectorError, ConnectorKind, ConnectorState, ConnectorStats, Overflow,
};
pub use dashboard::FEED_PATH;
pub use endpoint::{Endpoint, HttpHandler};
pub use error::{ConfigError, Error, HandleError, StaticError, TopicError};
pub use handle::{Handle, HistoryEntry, Message, TopicHistory, PUBLISH_TIMEOUT};
pub use metrics::{ClusterStats, CompressionStats, PipelineStats, QueueStats, Stats};
pub use ops::{
    Aggregate, Aggregates, Emitter, EventTime, Operator, Pipeline, PipelineCounters, PipelineError,
    Record, Sources, TextOp, TimeMode, Window,
};
pub use reactor::{Reactor, Status};
pub use topic::{validate_topic, MAX_TOPIC_LEN};
pub use worker::IdleStrategy;
