//! Host name resolution off the reactor thread.
//!
//! `getaddrinfo` blocks, sometimes for seconds, and the reactor must not. Connectors whose URL
//! names a host (not an IP address) send a request to one resolver thread, started the first
//! time one is needed; it hands each answer to a callback the reactor gives it (which queues the
//! answer on the reactor's command channel and wakes the loop). The request queue holds at most
//! [`QUEUE`] names; a full queue fails the attempt, which retries after its backoff.
//! A request is tagged with the connector's attempt, so a late answer to an abandoned attempt is
//! ignored; the connector's `connect_timeout` bounds the wait. Requests are served one at a time,
//! so a slow name delays the others (they are few: one per connector attempt). The thread ends
//! when the reactor is dropped.

use std::net::{SocketAddr, ToSocketAddrs};

use crossbeam_channel::{Sender, TrySendError};

/// Requests waiting for the resolver thread.
pub(crate) const QUEUE: usize = 1024;

/// A name to resolve for a connector's attempt.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) connector: usize,
    pub(crate) uid: u64,
    pub(crate) generation: u64,
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// The answer, delivered as a reactor command.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) connector: usize,
    pub(crate) uid: u64,
    pub(crate) generation: u64,
    pub(crate) result: Result<Vec<SocketAddr>, String>,
}

/// The resolver thread's request queue.
#[derive(Debug)]
pub(crate) struct Resolver {
    tx: Sender<Request>,
}

impl Resolver {
    /// Start the resolver thread; each answer goes to `answer`, which returns false once nobody
    /// listens any more (the thread then ends).
    pub(crate) fn start(
        answer: impl Fn(Resolved) -> bool + Send + 'static,
    ) -> std::io::Result<Resolver> {
        let (tx, rx) = crossbeam_channel::bounded::<Request>(QUEUE);
        std::thread::Builder::new().name("sluice-resolve".into()).spawn(move || {
            for req in rx {
                let result = (req.host.as_str(), req.port)
                    .to_socket_addrs()
                    .map(|addrs| addrs.collect::<Vec<_>>())
                    .map_err(|e| format!("cannot resolve `{}`: {e}", req.host))
                    .and_then(|addrs| {
                        if addrs.is_empty() {
                            Err(format!("`{}` has no address", req.host))
                        } else {
                            Ok(addrs)
                        }
                    });
                let reply = Resolved {
                    connector: req.connector,
                    uid: req.uid,
                    generation: req.generation,
                    result,
                };
                if !answer(reply) {
                    return;
                }
            }
        })?;
        Ok(Resolver { tx })
    }

    /// Queue a request; false if the queue is full (the attempt then times out and retries).
    pub(crate) fn request(&self, req: Request) -> bool {
        match self.tx.try_send(req) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }
}
