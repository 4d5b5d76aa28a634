//! Errors of the public API. Each variant says what the caller should do.

use std::fmt;
use std::io;
use std::net::SocketAddr;

pub use crate::config::ConfigError;
pub use crate::handle::HandleError;
pub use crate::topic::TopicError;
pub use crate::web::StaticError;

/// An error starting or running a [`crate::Reactor`].
#[derive(Debug)]
pub enum Error {
    /// The configuration is invalid; fix the named key.
    Config(ConfigError),
    /// The listen address could not be bound (in use, not permitted); pick another address.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// A custom endpoint path is not usable (must start with `/`; topics must be valid).
    Endpoint(String),
    /// A pipeline definition is unusable (see the message); fix the pipeline.
    Pipeline(crate::ops::PipelineError),
    /// An upstream connector definition is unusable, or its name is taken; fix the named setting.
    Connector(crate::connector::ConnectorError),
    /// The static files directory (`[web] static_dir`) could not be loaded; fix the named file
    /// or the `[web]` settings.
    Static(StaticError),
    /// An I/O error from the poller itself (or starting a worker thread); the reactor cannot
    /// continue.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "configuration error: {e}"),
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::Endpoint(why) => write!(f, "invalid endpoint: {why}"),
            Error::Pipeline(e) => write!(f, "invalid {e}"),
            Error::Connector(e) => write!(f, "invalid {e}"),
            Error::Static(e) => write!(f, "{e}"),
            Error::Io(e) => write!(f, "reactor I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(e) => Some(e),
            Error::Bind { source, .. } => Some(source),
            Error::Io(e) => Some(e),
            Error::Pipeline(e) => Some(e),
            Error::Connector(e) => Some(e),
            Error::Static(e) => Some(e),
            Error::Endpoint(_) => None,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<StaticError> for Error {
    fn from(e: StaticError) -> Self {
        Error::Static(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}
