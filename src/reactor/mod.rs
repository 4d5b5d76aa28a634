//! The single-threaded `mio` reactor: it owns the listener and every connection.
//!
//! One loop iteration ([`Reactor::poll_once`]) reads top to bottom:
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
//! no user operator (custom HTTP handlers excepted: they must be quick). Handlers return a
//! [`Verdict`]; only the loop frees a connection ([`Reactor::free`], in `lifecycle.rs`), so no
//! slot is ever freed or refilled while a handler runs. Sockets are registered once for
//! readable and writable, edge-triggered: a handler that queues output marks the connection
//! dirty and the end-of-iteration flush writes it; a `WouldBlock` there is followed by a
//! writable event when the peer drains its socket. Accept errors such as `EMFILE` pause
//! accepting for [`ACCEPT_PAUSE`] instead of spinning on a listener that stays readable. Time
//! comes from the reactor's [`Clock`] ([`Reactor::set_clock`]), read once per iteration.

mod accept;
mod cluster;
mod commands;
mod connectors;
mod flush;
mod lifecycle;
mod observe;
mod pipes;
mod policy;
mod read;
mod serve;
mod shutdown;
mod subscribe;
mod timers;
mod token;
mod upstream;
mod ws;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Waker};
use slab::Slab;

use self::policy::Policy;
use self::timers::Timers;
use crate::access::{exposed_without_auth, Gate};
use crate::clock::Clock;
use crate::config::{check_pipelines, Config, WorkerConfig};
use crate::conn::Conns;
use crate::connector::table::Connectors;
use crate::deflate::Inflate;
use crate::endpoint::{Endpoint, Routes};
use crate::error::Error;
use crate::handle::{Command, Handle};
use crate::metrics::{Registry, Stats};
use crate::ops::Pipeline;
use crate::route::{Batch, Policies, Router};
use crate::topic::validate_topic;
use crate::wake::Wake;
use token::{conn_key, CLUSTER, LISTENER, WAKER};

/// Size of the reactor-wide read buffer every connection reads into.
pub(crate) const SCRATCH_LEN: usize = 64 * 1024;
/// Reads per connection per loop iteration before yielding to the others.
pub(crate) const READS_PER_WAKE: usize = 16;
/// Connections accepted per loop iteration before serving the others.
pub(crate) const ACCEPT_BUDGET: usize = 256;
/// Handle commands processed per loop iteration.
pub(crate) const COMMAND_BUDGET: usize = 4096;
/// Length of the kernel's queue of connections waiting for `accept` (capped by the system's
/// `net.core.somaxconn`). mio and the standard library use 128, which turns a burst of new
/// clients, or a pause after `EMFILE`, into SYN retransmissions of a second or more.
pub(crate) const LISTEN_BACKLOG: i32 = 1024;
/// How long accepting pauses after an `accept` error such as `EMFILE`.
pub(crate) const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

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

/// Reusable buffers lent to handlers: the read buffer, the batch being published, the frames
/// for the connection being read (echoes, pongs), the subscribers found slow, and the shared
/// inflater of permessage-deflate (with its output buffer and counters).
struct Scratch {
    read: Box<[u8]>,
    batch: Batch,
    reply: Vec<u8>,
    slow: Vec<usize>,
    inflate: Inflate,
}

/// Work left over for the next loop iteration (each makes the next poll not wait).
#[derive(Default)]
struct Pending {
    /// The accept budget ran out with connections possibly still pending.
    accept_more: bool,
    /// Accepting is paused until this instant (after `EMFILE` and the like).
    accept_resume: Option<Instant>,
    /// Connections whose read budget ran out with data possibly still pending.
    read_more: Vec<usize>,
    /// Plain-HTTP connections whose answers drained after backpressure paused them.
    resume: Vec<usize>,
    /// Subscribers behind a slow-consumer policy whose queues drained: owed a gap or values.
    owed: Vec<usize>,
    /// The command budget ran out with commands possibly still pending.
    commands_more: bool,
    /// The result budget ran out with results possibly still pending.
    results_more: bool,
    /// Event-time pipelines need the loop back this soon (owed watermarks, idle publishers).
    pipeline_wake: Option<Duration>,
    /// (readable, writable) of the cluster connection's event this iteration.
    cluster: Option<(bool, bool)>,
}

/// What the reactor tells about itself: counters, latency recorders, dashboard feeds.
struct Observe {
    stats: Stats,
    metrics: Registry,
    /// Dashboard live-feed connections (connection keys).
    feed: Slab<usize>,
    /// The listener is registered and accepting (for `/readyz`).
    listening: bool,
    /// When the next metrics tick is due.
    next_tick: Instant,
}

/// The control side: commands from handles, lifecycle, pipelines to start.
struct Control {
    commands: Receiver<Command>,
    wake: Arc<Wake>,
    handle: Handle,
    phase: Phase,
    next_id: u64,
    clock: Clock,
    /// Pipelines to start with the worker pool at the first loop iteration.
    pipelines: Vec<Pipeline>,
    workers: WorkerConfig,
    /// The first loop iteration has run (pipelines can no longer be added).
    started: bool,
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
    registry: mio::Registry,
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    conns: Conns,
    router: Router,
    timers: Timers,
    connectors: Connectors,
    policy: Policy,
    scratch: Scratch,
    pending: Pending,
    observe: Observe,
    control: Control,
    /// The NATS connection, in a cluster.
    link: Option<Box<cluster::Link>>,
}

impl Reactor {
    /// Validate the configuration, bind the listener and set up the poller. Nothing is served
    /// until [`Reactor::run`] or [`Reactor::poll_once`] is called.
    ///
    /// This is also where the TLS certificate and key and the JWT secret file are read. A relay
    /// that listens on a non-loopback address without authentication logs a warning.
    pub fn bind(config: Config) -> Result<Reactor, Error> {
        let (gate, tls, pipelines) = checked(&config)?;
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(config.listen)
            .map_err(|source| Error::Bind { addr: config.listen, source })?;
        let local_addr = listener.local_addr()?;
        accept::set_backlog(&listener, LISTEN_BACKLOG)?;
        if exposed_without_auth(local_addr, &config.access) {
            log::warn!(
                "listening on {local_addr}, which is not a loopback address, WITHOUT AUTHENTICATION: \
                 anyone who can reach it may publish and subscribe to any topic; set [access] \
                 tokens or jwt_secret (see docs/security.md)"
            );
        }
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let wake = Arc::new(Wake::new(Waker::new(poll.registry(), WAKER)?));
        let (handle, commands) = Handle::new(wake.clone());
        let registry = poll.registry().try_clone()?;
        let clock = Clock::System;
        let now = clock.instant();
        let link = match &config.cluster {
            Some(c) => Some(Box::new(cluster::Link::new(c, now).map_err(config_error)?)),
            None => None,
        };
        let mut routes = Routes::default();
        routes.set_dashboard(config.metrics.dashboard);
        routes.set_static(crate::web::StaticFiles::load(&config.web)?);
        let mut reactor = Reactor {
            poll,
            events: Events::with_capacity(1024),
            ready: Vec::with_capacity(1024),
            registry,
            listener: Some(listener),
            local_addr,
            conns: Conns::default(),
            router: Router::new(
                config.metrics.max_topic_series,
                Policies::new(&config.topics),
                config.limits.max_history_bytes,
                &config.compression,
            ),
            timers: Timers::default(),
            connectors: Connectors::default(),
            policy: Policy::new(config.limits.clone(), routes, gate, tls, &config.compression),
            scratch: Scratch {
                read: vec![0; SCRATCH_LEN].into_boxed_slice(),
                batch: Batch::new(),
                reply: Vec::new(),
                slow: Vec::new(),
                inflate: Inflate::new(),
            },
            pending: Pending::default(),
            observe: Observe {
                stats: Stats::default(),
                metrics: Registry::new(config.metrics.latency_histograms, now),
                feed: Slab::new(),
                listening: true,
                next_tick: now + observe::TICK,
            },
            control: Control {
                commands,
                wake,
                handle,
                phase: Phase::Running,
                next_id: 1,
                clock,
                pipelines,
                workers: config.workers.clone(),
                started: false,
            },
            link,
        };
        if let Some(c) = &config.cluster {
            reactor.router.cluster = Some(Box::new(crate::cluster::Cluster::new(c.clone())));
        }
        for c in config.connectors() {
            reactor.add_connector(c)?;
        }
        Ok(reactor)
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A cloneable, `Send` handle to publish from other threads and to stop the reactor.
    pub fn handle(&self) -> Handle {
        self.control.handle.clone()
    }

    /// A snapshot of the counters (from the reactor's own thread; other threads use
    /// [`Handle::stats`]).
    pub fn stats(&self) -> Stats {
        self.snapshot()
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
        self.policy.routes.add(path, endpoint);
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
        if self.control.phase == Phase::Stopped {
            return Ok(Status::Stopped);
        }
        if !self.control.started {
            self.start()?;
        }
        let timeout = self.poll_timeout(self.control.clock.instant(), timeout);
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io(e)),
        }
        // One clock read: the handlers' instant, and the start of the iteration's busy time.
        let real = Instant::now();
        let now = self.control.clock.instant_at(real);
        if self.observe.metrics.latency {
            self.observe.metrics.begin_iteration(real);
        }
        let woken = self.collect_events();
        if self.pending.accept_more && self.pending.accept_resume.is_none_or(|t| now >= t) {
            self.pending.accept_resume = None;
            self.accept(now);
        }
        for i in 0..self.ready.len() {
            let (key, readable, hup, writable) = self.ready[i];
            if readable {
                self.read_and_apply(key, hup, now);
            }
            if writable {
                self.on_writable(key, now);
            }
        }
        if let Some((readable, writable)) = self.pending.cluster.take() {
            self.cluster_event(readable, writable, now);
        }
        for key in std::mem::take(&mut self.pending.resume) {
            self.resume_http(key, now);
        }
        for key in std::mem::take(&mut self.pending.read_more) {
            self.read_and_apply(key, true, now);
        }
        if woken || self.pending.commands_more {
            self.drain_commands(now);
        }
        if woken || self.pending.results_more {
            self.drain_results(now);
        }
        self.pending.pipeline_wake = self.router.tick_pipelines();
        if self.control.phase == Phase::Running && self.control.wake.stop_requested() {
            self.begin_shutdown(now);
        }
        self.flush_dirty(now);
        for key in std::mem::take(&mut self.pending.owed) {
            self.catch_up(key, now);
        }
        self.expire_timers(now);
        if now >= self.observe.next_tick {
            self.tick(now);
            self.observe.next_tick = now + observe::TICK;
        }
        self.flush_dirty(now);
        self.cluster_service(now);
        // One clock read for both: this iteration's busy time, and the delivery latency of
        // every batch whose last byte was written in it.
        if self.observe.metrics.latency {
            self.observe.metrics.end_iteration(Instant::now());
        }
        if let Phase::Draining { until } = self.control.phase {
            if self.drained() || now >= until {
                self.finish_shutdown();
                return Ok(Status::Stopped);
            }
        }
        Ok(Status::Running)
    }

    /// Sort this iteration's events; true if the waker fired.
    fn collect_events(&mut self) -> bool {
        let mut woken = false;
        self.ready.clear();
        for event in self.events.iter() {
            match event.token() {
                LISTENER => self.pending.accept_more = true,
                WAKER => woken = true,
                CLUSTER => {
                    let readable =
                        event.is_readable() || event.is_read_closed() || event.is_error();
                    self.pending.cluster = Some((readable, event.is_writable()));
                }
                token => {
                    if let Some(key) = conn_key(token) {
                        let hup = event.is_read_closed() || event.is_error();
                        let readable = event.is_readable() || hup;
                        self.ready.push((key, readable, hup, event.is_writable()));
                    }
                }
            }
        }
        woken
    }

    fn poll_timeout(&self, now: Instant, user: Option<Duration>) -> Option<Duration> {
        let p = &self.pending;
        let busy = !p.read_more.is_empty()
            || !p.resume.is_empty()
            || p.commands_more
            || p.results_more
            || (p.accept_more && p.accept_resume.is_none());
        if busy {
            return Some(Duration::ZERO);
        }
        let draining = match self.control.phase {
            Phase::Draining { until } => Some(until),
            _ => None,
        };
        let deadline = [
            self.timers.next(),
            Some(self.observe.next_tick),
            p.accept_resume,
            draining,
            self.cluster_wake(),
        ]
        .into_iter()
        .flatten()
        .min();
        // Round up so a timer is never fired a hair early and polled again with a zero timeout.
        let mut timer =
            deadline.map(|d| d.saturating_duration_since(now) + Duration::from_micros(500));
        if let Some(wake) = p.pipeline_wake {
            timer = Some(timer.map_or(wake, |t| t.min(wake)));
        }
        match (timer, user) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Read a connection, then carry out the handler's verdict.
    fn read_and_apply(&mut self, key: usize, hup: bool, now: Instant) {
        let verdict = self.read(key, hup, now);
        self.apply(key, verdict, now);
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.control.wake.set_stopped();
    }
}

/// What a valid configuration yields beyond its plain values.
type Checked = (Gate, Option<Arc<rustls::ServerConfig>>, Vec<Pipeline>);

/// A configuration error of `key` found when binding (no file or line to name).
fn config_error((key, message): (&str, String)) -> crate::config::ConfigError {
    crate::config::ConfigError { file: None, line: None, key: Some(key.into()), message }
}

/// Validate a configuration: the access gate, TLS and the pipelines it defines.
fn checked(config: &Config) -> Result<Checked, Error> {
    config.validate().map_err(config_error)?;
    let gate = Gate::new(&config.access).map_err(config_error)?;
    let tls = config.tls.as_ref().map(|t| t.server_config()).transpose().map_err(config_error)?;
    let pipelines: Vec<Pipeline> = config.pipelines.iter().map(|p| p.to_pipeline()).collect();
    check_pipelines(&pipelines).map_err(|(i, key, message)| crate::config::ConfigError {
        file: None,
        line: None,
        key: Some(format!("pipeline[{i}].{key}")),
        message,
    })?;
    Ok((gate, tls, pipelines))
}

fn check_topic(topic: &str) -> Result<(), Error> {
    validate_topic(topic).map_err(|e| Error::Endpoint(format!("topic `{topic}`: {e}")))
}
