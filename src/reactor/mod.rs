//! The single-threaded `mio` reactor: it owns the listener and every connection.
//!
//! One loop iteration ([`Reactor::poll_once`]):
//!
//! 1. `Poll::poll` with a timeout from the earliest timer (zero if work is left over);
//! 2. read the clock once; every handler of this iteration gets that instant;
//! 3. dispatch events: accept until `WouldBlock` (at most [`ACCEPT_BUDGET`] per iteration), read
//!    each readable connection until `WouldBlock` or a short read (at most [`READS_PER_WAKE`]
//!    reads; a connection with more to read is revisited next iteration, so one busy publisher
//!    cannot starve the others), mark writable connections dirty;
//! 4. drain the handle command channel and the workers' result channel (each bounded per
//!    iteration), fanning results out like published messages;
//! 5. flush every dirty connection once (`writev` of all it was queued this iteration);
//! 6. fire due timers; once a second, tick the metrics (history, dashboard feed); flush again;
//! 7. read the clock once more: record the iteration's busy time, and the delivery latency of
//!    every batch completed in it.
//!
//! Contracts: the reactor never blocks except in `Poll::poll`, never sleeps on a lock, and runs
//! no user operator (custom HTTP handlers excepted: they must be quick). Sockets are registered
//! once for readable and writable, edge-triggered: a handler that queues output marks the
//! connection dirty and the end-of-iteration flush writes it; a `WouldBlock` there is followed by
//! a writable event when the peer drains its socket. Accept errors such as `EMFILE` pause
//! accepting for [`ACCEPT_PAUSE`] instead of spinning on a listener that stays readable.

mod connectors;
mod core;
pub(crate) mod handle;
mod observe;
mod pipes;

pub use pipes::RESULT_BUDGET;
pub(crate) mod stats;
mod timer;
mod token;
mod upstream;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Waker};

use self::core::Core;
use crate::access::{exposed_without_auth, Gate};
use crate::clock::Clock;
use crate::config::{check_pipelines, Config, WorkerConfig};
use crate::conn::frames::{CloseReason, CLOSE_AWAY};
use crate::conn::transport::Transport;
use crate::conn::{Conn, State};
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::ops::Pipeline;
use crate::topic::validate_topic;
use handle::{Command, Handle, Shared};
use stats::Stats;
use token::{conn_key, conn_token, LISTENER, WAKER};

/// Size of the reactor-wide read buffer every connection reads into.
pub const SCRATCH_LEN: usize = 64 * 1024;
/// Reads per connection per loop iteration before yielding to the others.
pub const READS_PER_WAKE: usize = 16;
/// Connections accepted per loop iteration before serving the others.
pub const ACCEPT_BUDGET: usize = 256;
/// Handle commands processed per loop iteration.
pub const COMMAND_BUDGET: usize = 4096;
/// Length of the kernel's queue of connections waiting for `accept` (capped by the system's
/// `net.core.somaxconn`). mio and the standard library use 128, which turns a burst of new
/// clients, or a pause after `EMFILE`, into SYN retransmissions of a second or more.
pub const LISTEN_BACKLOG: i32 = 1024;
/// How long accepting pauses after an `accept` error such as `EMFILE`.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Whether the reactor is still running after a [`Reactor::poll_once`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Serving (or draining after a stop request).
    Running,
    /// Stopped: every connection is closed and `run()` would return.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Draining { until: Instant },
    Stopped,
}

/// The relay: a `mio` event loop owning the listener and every connection.
///
/// ```no_run
/// let mut reactor = sluice::Reactor::bind(sluice::Config::default())?;
/// let handle = reactor.handle();
/// std::thread::spawn(move || handle.publish("news", "hello"));
/// reactor.run()?;
/// # Ok::<(), sluice::Error>(())
/// ```
pub struct Reactor {
    poll: Poll,
    events: Events,
    /// (connection, readable, peer closed its side, writable) of this iteration's events.
    ready: Vec<(usize, bool, bool, bool)>,
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    scratch: Box<[u8]>,
    core: Core,
    commands: Receiver<Command>,
    shared: Arc<Shared>,
    handle: Handle,
    phase: Phase,
    next_id: u64,
    /// Accepting is paused until this instant (after `EMFILE` and the like).
    accept_resume: Option<Instant>,
    /// The accept budget ran out with connections possibly still pending.
    accept_more: bool,
    /// Connections whose read budget ran out with data possibly still pending.
    read_more: Vec<usize>,
    /// The command budget ran out with commands possibly still pending.
    commands_more: bool,
    /// TLS settings when serving `wss://`.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// When the next metrics tick is due.
    next_tick: Instant,
    /// Pipelines to start with the worker pool at the first loop iteration.
    pipelines: Vec<Pipeline>,
    workers: WorkerConfig,
    clock: Clock,
    /// The first loop iteration has run (pipelines can no longer be added).
    started: bool,
    /// Event-time pipelines need the loop back this soon (owed watermarks, idle publishers).
    pipeline_wake: Option<Duration>,
}

impl Reactor {
    /// Validate the configuration, bind the listener and set up the poller. Nothing is served
    /// until [`Reactor::run`] or [`Reactor::poll_once`] is called.
    ///
    /// This is also where the TLS certificate and key and the JWT secret file are read. A relay
    /// that listens on a non-loopback address without authentication logs a warning.
    pub fn bind(config: Config) -> Result<Reactor, Error> {
        let config_error = |(key, message): (&str, String)| crate::config::ConfigError {
            file: None,
            line: None,
            key: Some(key.into()),
            message,
        };
        config.validate().map_err(config_error)?;
        let gate = Gate::new(&config.access).map_err(config_error)?;
        let tls =
            config.tls.as_ref().map(|t| t.server_config()).transpose().map_err(config_error)?;
        let pipelines: Vec<Pipeline> = config.pipelines.iter().map(|p| p.to_pipeline()).collect();
        check_pipelines(&pipelines).map_err(|(i, key, message)| crate::config::ConfigError {
            file: None,
            line: None,
            key: Some(format!("pipeline[{i}].{key}")),
            message,
        })?;
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(config.listen)
            .map_err(|source| Error::Bind { addr: config.listen, source })?;
        let local_addr = listener.local_addr()?;
        set_backlog(&listener, LISTEN_BACKLOG)?;
        if exposed_without_auth(local_addr, &config.access) {
            log::warn!(
                "listening on {local_addr}, which is not a loopback address, WITHOUT AUTHENTICATION: \
                 anyone who can reach it may publish and subscribe to any topic; set [access] \
                 tokens or jwt_secret (see the README's \"Security and limits\")"
            );
        }
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let (handle, commands, shared) = Handle::new(waker);
        let registry = poll.registry().try_clone()?;
        let now = Instant::now();
        let connectors = config.connectors();
        let mut core = Core::new(config.limits, &config.metrics, registry, now, gate);
        core.routes.set_static(crate::web::StaticFiles::load(&config.web)?);
        for c in connectors {
            core.add_connector(c.prepare().map_err(Error::Connector)?, now)
                .map_err(Error::Connector)?;
        }
        Ok(Reactor {
            poll,
            events: Events::with_capacity(1024),
            ready: Vec::with_capacity(1024),
            listener: Some(listener),
            local_addr,
            scratch: vec![0; SCRATCH_LEN].into_boxed_slice(),
            core,
            commands,
            shared,
            handle,
            phase: Phase::Running,
            next_id: 1,
            accept_resume: None,
            accept_more: false,
            read_more: Vec::new(),
            commands_more: false,
            tls,
            next_tick: now + observe::TICK,
            pipelines,
            workers: config.workers,
            clock: Clock::System,
            started: false,
            pipeline_wake: None,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A cloneable, `Send` handle to publish from other threads and to stop the reactor.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// A snapshot of the counters (from the reactor's own thread; other threads use
    /// [`Handle::stats`]).
    pub fn stats(&self) -> Stats {
        self.core.snapshot()
    }

    /// Serve `path` (exact match, before the built-in routes) with a custom endpoint.
    pub fn add_endpoint(&mut self, path: &str, endpoint: Endpoint) -> Result<(), Error> {
        if !path.starts_with('/') || path.contains('?') {
            return Err(Error::Endpoint(format!(
                "path `{path}` must start with `/` and have no query"
            )));
        }
        match &endpoint {
            Endpoint::Publish(t) => check_topic(t)?,
            Endpoint::Subscribe(ts) if ts.is_empty() => {
                return Err(Error::Endpoint(format!("`{path}` subscribes to no topic")))
            }
            Endpoint::Subscribe(ts) => ts.iter().try_for_each(|t| check_topic(t))?,
            Endpoint::Http(_) => {}
        }
        self.core.routes.add(path, endpoint);
        Ok(())
    }

    /// Run until stopped by [`Handle::stop`]; returns after the graceful drain.
    pub fn run(&mut self) -> Result<(), Error> {
        while self.poll_once(None)? == Status::Running {}
        Ok(())
    }

    /// Run one loop iteration, waiting at most `timeout` (`None`: until an event or a timer) —
    /// for a host that drives the reactor from its own loop.
    pub fn poll_once(&mut self, timeout: Option<Duration>) -> Result<Status, Error> {
        if self.phase == Phase::Stopped {
            return Ok(Status::Stopped);
        }
        if !self.started {
            self.start()?;
            self.start_connectors();
        }
        let timeout = self.poll_timeout(Instant::now(), timeout);
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io(e)),
        }
        let now = Instant::now();
        if self.core.metrics.latency {
            self.core.metrics.begin_iteration(now);
        }

        let mut woken = false;
        self.ready.clear();
        for event in self.events.iter() {
            match event.token() {
                LISTENER => self.accept_more = true,
                WAKER => woken = true,
                token => {
                    if let Some(key) = conn_key(token) {
                        let hup = event.is_read_closed() || event.is_error();
                        let readable = event.is_readable() || hup;
                        self.ready.push((key, readable, hup, event.is_writable()));
                    }
                }
            }
        }
        if self.accept_more && self.accept_resume.is_none_or(|t| now >= t) {
            self.accept_resume = None;
            self.accept(now);
        }
        for i in 0..self.ready.len() {
            let (key, readable, hup, writable) = self.ready[i];
            if readable {
                self.read(key, hup, now);
            }
            if writable {
                self.core.on_writable(key);
            }
        }
        for key in std::mem::take(&mut self.read_more) {
            self.read(key, true, now);
        }
        if woken || self.commands_more {
            self.drain_commands(now);
        }
        if woken || self.core.results_more {
            self.core.drain_results(now);
        }
        self.pipeline_wake = self.core.tick_pipelines();
        if self.phase == Phase::Running && self.shared.stop.load(Ordering::Acquire) {
            self.begin_shutdown(now);
        }
        self.core.flush_dirty();
        self.core.expire_timers(now);
        if now >= self.next_tick {
            self.core.tick(now);
            self.next_tick = now + observe::TICK;
        }
        self.core.flush_dirty();
        // One clock read for both: this iteration's busy time, and the delivery latency of
        // every batch whose last byte was written in it.
        if self.core.metrics.latency {
            self.core.metrics.end_iteration(Instant::now());
        }

        if let Phase::Draining { until } = self.phase {
            // Done when nothing is left to send: every connection is gone or lingering.
            let flushed = self.core.conns.iter().all(|(_, c)| c.state() == State::Linger);
            if flushed || now >= until {
                self.finish_shutdown();
                return Ok(Status::Stopped);
            }
        }
        Ok(Status::Running)
    }

    fn poll_timeout(&self, now: Instant, user: Option<Duration>) -> Option<Duration> {
        let busy = !self.read_more.is_empty()
            || self.commands_more
            || self.core.results_more
            || (self.accept_more && self.accept_resume.is_none());
        if busy {
            return Some(Duration::ZERO);
        }
        let mut deadline = self.core.timers.next();
        for other in [
            Some(self.next_tick),
            self.accept_resume,
            match self.phase {
                Phase::Draining { until } => Some(until),
                _ => None,
            },
        ]
        .into_iter()
        .flatten()
        {
            deadline = Some(deadline.map_or(other, |d| d.min(other)));
        }
        // Round up so a timer is never fired a hair early and polled again with a zero timeout.
        let mut timer =
            deadline.map(|d| d.saturating_duration_since(now) + Duration::from_micros(500));
        if let Some(wake) = self.pipeline_wake {
            timer = Some(timer.map_or(wake, |t| t.min(wake)));
        }
        match (timer, user) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Accept until `WouldBlock`, the budget, or an error that calls for a pause.
    fn accept(&mut self, now: Instant) {
        let Some(listener) = &self.listener else {
            self.accept_more = false;
            return;
        };
        for _ in 0..ACCEPT_BUDGET {
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    if let Err(why) = self.core.admit(peer.ip()) {
                        refuse(stream, peer, why, self.tls.is_none(), &self.core.stats);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let key = self.core.conns.vacant_key();
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Err(e) =
                        self.core.registry().register(&mut stream, conn_token(key), interest)
                    {
                        log::warn!("cannot register a connection from {peer}: {e}");
                        self.core.unadmit(peer.ip());
                        continue;
                    }
                    let stream = match &self.tls {
                        None => Transport::Plain(stream),
                        Some(config) => match Transport::tls_server(stream, config.clone()) {
                            Ok(t) => t,
                            Err(e) => {
                                log::warn!("cannot start TLS with {peer}: {e}");
                                self.core.unadmit(peer.ip());
                                continue;
                            }
                        },
                    };
                    let id = self.next_id;
                    self.next_id += 1;
                    self.core.stats.connections_accepted += 1;
                    self.core.insert(Conn::new(stream, peer, id, now, &self.core.limits));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_more = false;
                    return;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM: the listener stays readable, so retrying
                    // now would spin. Pause, keep serving the open connections, then retry.
                    self.core.stats.accept_errors += 1;
                    if self.core.stats.accept_errors.is_power_of_two() {
                        log::warn!(
                            "accept failed: {e}; pausing accepts for {ACCEPT_PAUSE:?} ({} such errors so far)",
                            self.core.stats.accept_errors
                        );
                    }
                    self.accept_resume = Some(now + ACCEPT_PAUSE);
                    return;
                }
            }
        }
        // Budget spent: more may be waiting; come back next iteration.
    }

    /// Read from a connection until `WouldBlock`, a short read (unless the peer's EOF is pending:
    /// `hup`), or the per-wake budget.
    ///
    /// Bytes left over from the previous read (a partial frame or request head) are copied to the
    /// front of the shared scratch buffer and the socket reads after them, so frames are parsed
    /// in place. Only a frame larger than half the scratch buffer is assembled in the
    /// connection's own buffer.
    fn read(&mut self, key: usize, hup: bool, now: Instant) {
        for _ in 0..READS_PER_WAKE {
            let Some(conn) = self.core.conns.get_mut(key) else { return };
            if matches!(conn.state(), State::Closing | State::Linger) {
                // Discard whatever arrives; only EOF matters now.
                match conn.stream.read(&mut self.scratch) {
                    Ok(0) => return self.core.on_eof(key),
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return self.core.drop_conn(key),
                }
            }
            let mut held = std::mem::take(&mut conn.inbuf);
            let in_scratch = held.len() <= SCRATCH_LEN / 2;
            let room = if in_scratch {
                self.scratch[..held.len()].copy_from_slice(&held);
                &mut self.scratch[held.len()..]
            } else {
                &mut self.scratch[..]
            };
            let room_len = room.len();
            let n = match conn.stream.read(room) {
                Ok(0) => {
                    conn.inbuf = held;
                    return self.core.on_eof(key);
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.inbuf = held;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    conn.inbuf = held;
                    continue;
                }
                Err(e) => {
                    log::debug!("conn {} {}: read failed: {e}", conn.id, conn.peer);
                    conn.note_io("read", &e);
                    if conn.stream.is_tls() && e.kind() == io::ErrorKind::InvalidData {
                        self.core.stats.tls_errors += 1;
                    }
                    return self.core.drop_conn(key);
                }
            };
            conn.last_rx = now;
            if in_scratch {
                let len = held.len() + n;
                let consumed = self.core.on_bytes(key, &mut self.scratch[..len], now);
                held.clear();
                held.extend_from_slice(&self.scratch[consumed..len]);
            } else {
                held.extend_from_slice(&self.scratch[..n]);
                let consumed = self.core.on_bytes(key, &mut held, now);
                held.drain(..consumed);
            }
            let Some(conn) = self.core.conns.get_mut(key) else { return };
            if matches!(conn.state(), State::Http | State::Open | State::Handshaking)
                && !held.is_empty()
            {
                conn.inbuf = held;
            }
            if n < room_len && !hup && conn.stream.short_read_drains() {
                // A short read drained the socket; edge-triggered polling reports whatever
                // arrives next. (An EOF already reported with this event would not be reported
                // again, hence `hup`.)
                return;
            }
        }
        self.read_more.push(key);
    }

    fn drain_commands(&mut self, now: Instant) {
        self.shared.wake_pending.store(false, Ordering::Release);
        self.commands_more = false;
        for _ in 0..COMMAND_BUDGET {
            match self.commands.try_recv() {
                Ok(cmd) => self.run_command(cmd, now),
                Err(_) => {
                    self.core.flush_pipelines(now);
                    return;
                }
            }
        }
        self.core.flush_pipelines(now);
        self.commands_more = true;
    }

    fn run_command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::Publish { topic, message } => {
                let (text, payload) = message.parts();
                self.core.publish(&topic, text, payload, now);
            }
            Command::Stats(reply) => {
                let _ = reply.try_send(self.core.snapshot());
            }
            cmd @ (Command::AddConnector(..)
            | Command::RemoveConnector(..)
            | Command::Resolved(_)) => self.connector_command(cmd, now),
        }
    }

    /// Stop accepting, deliver pending commands, close every client with `1001`.
    fn begin_shutdown(&mut self, now: Instant) {
        log::info!("stopping: closing {} connections", self.core.conns.len());
        self.core.listening = false;
        if let Some(mut listener) = self.listener.take() {
            let _ = self.core.registry().deregister(&mut listener);
        }
        self.accept_more = false;
        // Deliver what was sent before the stop; a producer that keeps sending cannot hold the
        // stop back, because only the commands queued at this instant are taken.
        let queued = self.commands.len();
        self.shared.wake_pending.store(false, Ordering::Release);
        for _ in 0..queued {
            let Ok(cmd) = self.commands.try_recv() else { break };
            self.run_command(cmd, now);
        }
        self.core.flush_pipelines(now);
        self.commands_more = false;
        self.core.stop_connectors(now);
        let reason = CloseReason::new(CLOSE_AWAY, "server shutting down");
        let keys: Vec<usize> = self.core.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            match self.core.conns[key].state() {
                State::Http | State::Connecting | State::Handshaking => self.core.drop_conn(key),
                State::Open => self.core.close(key, Some(&reason), false, now),
                State::Closing | State::Linger => {}
            }
        }
        self.phase = Phase::Draining { until: now + self.core.limits.shutdown_timeout };
    }

    fn finish_shutdown(&mut self) {
        let keys: Vec<usize> = self.core.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            // Consume what the peer sent (its close reply) so closing sends FIN, not a RST
            // that could make the peer's kernel discard our close frame before it is read.
            let stream = &mut self.core.conns[key].stream;
            while matches!(stream.read(&mut self.scratch), Ok(n) if n > 0) {}
            self.core.drop_conn(key);
        }
        if let Some(mut pool) = self.core.pool.take() {
            pool.shutdown();
        }
        self.phase = Phase::Stopped;
        self.shared.stopped.store(true, Ordering::Release);
        let s = self.core.snapshot();
        log::info!(
            "stopped after {:.1}s: {} connections accepted, {} messages in, {} out, {} dropped, {} slow-consumer closes",
            s.uptime.as_secs_f64(),
            s.connections_accepted,
            s.messages_in,
            s.messages_out,
            s.drops.total(),
            s.slow_consumer_closes
        );
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
    }
}

/// Set the accept queue length of a listening socket. Linux applies a second `listen(2)` on a
/// listening socket as a new backlog.
fn set_backlog(listener: &TcpListener, backlog: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: listen(2) on a descriptor the listener owns and keeps open for the call.
    if unsafe { libc::listen(listener.as_raw_fd(), backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Refuse an accepted connection over a connection limit: a best-effort `503` on a plain
/// listener (one `write` on a fresh socket, which has room), then close.
fn refuse(
    mut stream: mio::net::TcpStream,
    peer: SocketAddr,
    why: &str,
    plain: bool,
    stats: &Stats,
) {
    let refused = stats.refused_max_connections + stats.refused_per_ip;
    if refused.is_power_of_two() {
        log::warn!("refused a connection from {peer}: {why} ({refused} refused so far)");
    }
    if plain {
        let body = format!("503 Service Unavailable: {why}\n");
        let resp = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write(resp.as_bytes());
    }
}

fn check_topic(topic: &str) -> Result<(), Error> {
    validate_topic(topic).map_err(|e| Error::Endpoint(format!("topic `{topic}`: {e}")))
}
