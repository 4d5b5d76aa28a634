//! The cross-thread [`Handle`]: publish from any thread, ask for statistics, stop the reactor.
//!
//! Commands travel over a bounded `crossbeam-channel` of [`COMMAND_CAPACITY`] commands (a full
//! channel is [`HandleError::Full`], never a block); the reactor is woken through its
//! `mio::Waker`, coalesced by [`Wake`], and takes at most a budget of commands per loop
//! iteration.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::connector::resolve::Resolved;
use crate::connector::{Connector, ConnectorError, Prepared};
use crate::metrics::Stats;
use crate::topic::{validate_topic, TopicError};
use crate::wake::Wake;

/// Capacity of the command channel from handles to the reactor.
pub(crate) const COMMAND_CAPACITY: usize = 64 * 1024;
/// How long [`Handle::publish`] waits for the reactor to give the message its offset.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// A topic's history, read with [`Handle::history`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicHistory {
    /// The stream's epoch (16 hex digits).
    pub epoch: String,
    /// The offset of the last message (0: none yet).
    pub top: u64,
    /// The oldest offset kept (`top + 1` when nothing is kept).
    pub oldest: u64,
    /// The entries asked for, in offset order.
    pub entries: Vec<HistoryEntry>,
}

/// One offset of a topic's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryEntry {
    /// A message.
    Message {
        /// Its offset.
        offset: u64,
        /// Its payload, text or binary as published.
        message: Message,
    },
    /// A gap marker: messages were lost here (`pipeline_queue_full`, `operator_failed`,
    /// `upstream_reconnect`).
    Gap {
        /// Its offset.
        offset: u64,
        /// Why.
        reason: &'static str,
    },
}

/// A message to publish: text stays text, binary stays binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A UTF-8 text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.to_string())
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b)
    }
}

impl Message {
    pub(crate) fn parts(&self) -> (bool, &[u8]) {
        match self {
            Message::Text(s) => (true, s.as_bytes()),
            Message::Binary(b) => (false, b),
        }
    }
}

/// Why a [`Handle`] call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandleError {
    /// The topic name is invalid; fix the name.
    InvalidTopic(TopicError),
    /// The command queue is full: the reactor is behind. Retry later or drop the message.
    Full,
    /// The reactor has stopped; nothing more will be delivered.
    Stopped,
    /// The reactor did not answer in time (it is overloaded or stuck).
    Timeout,
    /// The connector definition is unusable, or its name is taken; fix the named setting.
    Connector(ConnectorError),
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandleError::InvalidTopic(e) => write!(f, "invalid topic: {e}"),
            HandleError::Full => f.write_str("the reactor's command queue is full"),
            HandleError::Stopped => f.write_str("the reactor has stopped"),
            HandleError::Timeout => f.write_str("the reactor did not answer in time"),
            HandleError::Connector(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for HandleError {}

pub(crate) enum Command {
    Publish { topic: Box<str>, message: Message, offset: Option<Sender<u64>> },
    History { topic: Box<str>, from: u64, max: usize, reply: Sender<TopicHistory> },
    Stats(Sender<Stats>),
    AddConnector(Box<Prepared>, Sender<Result<(), ConnectorError>>),
    RemoveConnector(String, Sender<bool>),
    Resolved(Resolved),
}

/// A cloneable, `Send` handle to a running reactor.
#[derive(Clone)]
pub struct Handle {
    tx: Sender<Command>,
    wake: Arc<Wake>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("queued", &self.tx.len()).finish()
    }
}

impl Handle {
    pub(crate) fn new(wake: Arc<Wake>) -> (Handle, Receiver<Command>) {
        let (tx, rx) = crossbeam_channel::bounded(COMMAND_CAPACITY);
        (Handle { tx, wake }, rx)
    }

    /// Publish a message to a topic, as if a `/pub/<topic>` connection had sent it, and return
    /// the offset it got in the topic's stream. Waits for the reactor (one loop iteration,
    /// bounded by [`PUBLISH_TIMEOUT`]); do not call it on the reactor's own thread (a custom
    /// HTTP handler): use [`Handle::send`] there, or to publish fast without waiting.
    pub fn publish(&self, topic: &str, message: impl Into<Message>) -> Result<u64, HandleError> {
        validate_topic(topic).map_err(HandleError::InvalidTopic)?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.command(Command::Publish {
            topic: topic.into(),
            message: message.into(),
            offset: Some(tx),
        })?;
        recv(&rx, PUBLISH_TIMEOUT)
    }

    /// Publish a message without waiting for its offset. Never blocks: a full command queue is
    /// [`HandleError::Full`].
    pub fn send(&self, topic: &str, message: impl Into<Message>) -> Result<(), HandleError> {
        validate_topic(topic).map_err(HandleError::InvalidTopic)?;
        self.command(Command::Publish {
            topic: topic.into(),
            message: message.into(),
            offset: None,
        })
    }

    /// Read a topic's history: its epoch, the offsets it keeps, and up to `max` of the entries
    /// from offset `from` (messages, and the gap markers that name a loss). A topic that does
    /// not exist has an empty history. Waits up to `timeout` for the reactor.
    pub fn history(
        &self,
        topic: &str,
        from: u64,
        max: usize,
        timeout: Duration,
    ) -> Result<TopicHistory, HandleError> {
        validate_topic(topic).map_err(HandleError::InvalidTopic)?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.command(Command::History { topic: topic.into(), from, max, reply: tx })?;
        recv(&rx, timeout)
    }

    /// A snapshot of the reactor's counters; waits up to `timeout` for the reactor to answer.
    pub fn stats(&self, timeout: Duration) -> Result<Stats, HandleError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.command(Command::Stats(tx))?;
        recv(&rx, timeout)
    }

    /// Add an upstream connector to the running reactor (it starts connecting at once); waits
    /// up to `timeout` for the reactor to accept it. A definition that does not validate, or a
    /// name already in use, is a [`HandleError::Connector`]. A `wss://` connector's `ca_file`
    /// (or the platform's root certificates) is read here, on the calling thread.
    pub fn add_connector(
        &self,
        connector: Connector,
        timeout: Duration,
    ) -> Result<(), HandleError> {
        let prepared = connector.prepare().map_err(HandleError::Connector)?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.command(Command::AddConnector(Box::new(prepared), tx))?;
        recv(&rx, timeout)?.map_err(HandleError::Connector)
    }

    /// Remove the connector named `name`: it stops reconnecting, a sink's connection sends what
    /// is buffered, and the connection is closed. `Ok(false)` if there is no such connector.
    pub fn remove_connector(&self, name: &str, timeout: Duration) -> Result<bool, HandleError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.command(Command::RemoveConnector(name.into(), tx))?;
        recv(&rx, timeout)
    }

    /// Ask the reactor to stop gracefully: it stops accepting, closes every client with `1001`,
    /// flushes what is queued (bounded by `shutdown_timeout`) and returns from `run()`.
    pub fn stop(&self) {
        self.wake.request_stop();
    }

    /// True once the reactor has returned from `run()`.
    pub fn is_stopped(&self) -> bool {
        self.wake.is_stopped()
    }

    pub(crate) fn command(&self, cmd: Command) -> Result<(), HandleError> {
        if self.is_stopped() {
            return Err(HandleError::Stopped);
        }
        match self.tx.try_send(cmd) {
            Ok(()) => {
                self.wake.wake();
                Ok(())
            }
            Err(TrySendError::Full(_)) => Err(HandleError::Full),
            Err(TrySendError::Disconnected(_)) => Err(HandleError::Stopped),
        }
    }
}

/// Wait for the reactor's answer to a command.
fn recv<T>(rx: &Receiver<T>, timeout: Duration) -> Result<T, HandleError> {
    rx.recv_timeout(timeout).map_err(|e| match e {
        crossbeam_channel::RecvTimeoutError::Timeout => HandleError::Timeout,
        crossbeam_channel::RecvTimeoutError::Disconnected => HandleError::Stopped,
    })
}
