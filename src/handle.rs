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
    Publish { topic: Box<str>, message: Message },
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

    /// Publish a message to a topic, as if a `/pub/<topic>` connection had sent it. Never blocks.
    pub fn publish(&self, topic: &str, message: impl Into<Message>) -> Result<(), HandleError> {
        validate_topic(topic).map_err(HandleError::InvalidTopic)?;
        self.send(Command::Publish { topic: topic.into(), message: message.into() })
    }

    /// A snapshot of the reactor's counters; waits up to `timeout` for the reactor to answer.
    pub fn stats(&self, timeout: Duration) -> Result<Stats, HandleError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Command::Stats(tx))?;
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
        self.send(Command::AddConnector(Box::new(prepared), tx))?;
        recv(&rx, timeout)?.map_err(HandleError::Connector)
    }

    /// Remove the connector named `name`: it stops reconnecting, a sink's connection sends what
    /// is buffered, and the connection is closed. `Ok(false)` if there is no such connector.
    pub fn remove_connector(&self, name: &str, timeout: Duration) -> Result<bool, HandleError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Command::RemoveConnector(name.into(), tx))?;
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

    pub(crate) fn send(&self, cmd: Command) -> Result<(), HandleError> {
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
