//! The reactor's NATS connection (in a cluster): connect to the servers of `cluster.nats` in
//! turn, with backoff between failed rounds; TLS when the URL or the server asks for it; read
//! into the cluster session and act on what it says; write what it queued once per loop
//! iteration; keep-alive, handshake and answer deadlines.
//!
//! The socket has its own token; it is never in the connection table. Losing it (an error, an
//! end of file, a deadline) is one path, [`Reactor::cluster_lost`]: topics go on locally
//! (`route/cluster.rs`) and the next server is tried.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::Interest;
use rustls::pki_types::ServerName;

use super::token::CLUSTER;
use super::Reactor;
use crate::cluster::session::Phase;
use crate::cluster::NatsUrl;
use crate::config::ClusterConfig;
use crate::conn::transport::Transport;
use crate::connector::resolve::{Request, Resolved};
use crate::connector::Backoff;

/// The connector id the resolver's answers for the cluster carry.
pub(super) const CLUSTER_RESOLVE: usize = usize::MAX;

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting to try again.
    Idle { retry_at: Instant },
    /// Waiting for the resolver (attempt `generation`).
    Resolving { deadline: Instant, generation: u64 },
    /// TCP connecting, then the handshake, until `deadline`.
    Connecting { deadline: Instant },
    /// The session is ready.
    Open,
}

/// The NATS connection's socket side.
pub(super) struct Link {
    sock: Option<Transport>,
    stage: Stage,
    /// Index (in `cluster.nats`) of the server of the current or next attempt.
    next: usize,
    /// Failed attempts in a row (for the backoff).
    failures: u32,
    generation: u64,
    backoff: Backoff,
    tls: Option<Arc<rustls::ClientConfig>>,
    url: Option<NatsUrl>,
    /// The connection has been open before (a reconnect is logged as such).
    was_open: bool,
}

impl Link {
    /// The link of a validated `[cluster]` table (the CA file is read here).
    pub(super) fn new(
        config: &ClusterConfig,
        now: Instant,
    ) -> Result<Link, (&'static str, String)> {
        let needs_tls =
            config.nats.iter().any(|u| u.starts_with("tls://")) || config.ca_file.is_some();
        let tls = match needs_tls {
            true => {
                Some(client_tls(config.ca_file.as_deref()).map_err(|e| ("cluster.ca_file", e))?)
            }
            false => None,
        };
        let b = &config.backoff;
        Ok(Link {
            sock: None,
            stage: Stage::Idle { retry_at: now },
            next: 0,
            failures: 0,
            generation: 0,
            backoff: Backoff {
                initial: b.initial,
                max: b.max,
                multiplier: b.multiplier,
                jitter: b.jitter,
            },
            tls,
            url: None,
            was_open: false,
        })
    }
}

/// The rustls client configuration for NATS (no ALPN: NATS does not use it).
fn client_tls(ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let base = crate::connector::tls::client_config(ca_file)?;
    let mut config = (*base).clone();
    config.alpn_protocols.clear();
    Ok(Arc::new(config))
}

impl Reactor {
    /// When the NATS connection next needs the loop.
    pub(super) fn cluster_wake(&self) -> Option<Instant> {
        let link = self.link.as_deref()?;
        let cluster = self.router.cluster.as_deref()?;
        let stage = match link.stage {
            Stage::Idle { retry_at } => Some(retry_at),
            Stage::Resolving { deadline, .. } | Stage::Connecting { deadline } => Some(deadline),
            Stage::Open => None,
        };
        [stage, cluster.session.next_ping(), cluster.next_deadline()].into_iter().flatten().min()
    }

    /// Once per loop iteration: start an attempt when one is due, enforce the deadlines,
    /// ping, and write what the session queued.
    pub(super) fn cluster_service(&mut self, now: Instant) {
        let Some(link) = self.link.as_deref() else { return };
        match link.stage {
            Stage::Idle { retry_at } if now >= retry_at => self.cluster_attempt(now),
            Stage::Resolving { deadline, .. } if now >= deadline => {
                self.cluster_failed("name resolution timed out".into(), now)
            }
            Stage::Connecting { deadline } if now >= deadline => {
                self.cluster_failed("the connection and handshake timed out".into(), now)
            }
            _ => {}
        }
        let Some(cluster) = self.router.cluster.as_deref_mut() else { return };
        let every = cluster.config.ping_interval;
        if let Err(why) = cluster.session.tick(now, every) {
            return self.cluster_lost(why, now);
        }
        cluster.expire(now);
        if !cluster.controls.is_empty() {
            self.route(now, |router, _, out| router.cluster_controls(out));
        }
        self.cluster_write(now);
    }

    fn cluster_attempt(&mut self, now: Instant) {
        let (Some(link), Some(cluster)) =
            (self.link.as_deref_mut(), self.router.cluster.as_deref())
        else {
            return;
        };
        let url = cluster.urls[link.next % cluster.urls.len()].clone();
        let timeout = cluster.config.connect_timeout;
        link.generation += 1;
        link.url = Some(url.clone());
        if let Some(addr) = url.socket_addr() {
            return self.cluster_connect(vec![addr], now);
        }
        let generation = link.generation;
        link.stage = Stage::Resolving { deadline: now + timeout, generation };
        self.ensure_resolver();
        let req = Request {
            connector: CLUSTER_RESOLVE,
            uid: 0,
            generation,
            host: url.host,
            port: url.port,
        };
        if !self.connectors.resolver.as_ref().is_some_and(|r| r.request(req)) {
            self.cluster_failed("the name resolver is not available".into(), now);
        }
    }

    /// The resolver answered for the cluster.
    pub(super) fn cluster_resolved(&mut self, r: Resolved, now: Instant) {
        let Some(link) = self.link.as_deref() else { return };
        if !matches!(link.stage, Stage::Resolving { generation, .. } if generation == r.generation)
        {
            return; // an abandoned attempt
        }
        match r.result {
            Ok(addrs) => self.cluster_connect(addrs, now),
            Err(why) => self.cluster_failed(why, now),
        }
    }

    fn cluster_connect(&mut self, addrs: Vec<std::net::SocketAddr>, now: Instant) {
        let Some(link) = self.link.as_deref_mut() else { return };
        let timeout = self
            .router
            .cluster
            .as_deref()
            .map_or(Duration::from_secs(5), |c| c.config.connect_timeout);
        let mut why = String::from("no address to connect to");
        for addr in addrs {
            match TcpStream::connect(addr) {
                Ok(mut sock) => {
                    if let Err(e) = self.registry.register(
                        &mut sock,
                        CLUSTER,
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        why = format!("cannot register the connection to {addr}: {e}");
                        continue;
                    }
                    link.sock = Some(Transport::Plain(sock));
                    link.stage = Stage::Connecting { deadline: now + timeout };
                    return;
                }
                Err(e) => why = format!("connect to {addr}: {e}"),
            }
        }
        self.cluster_failed(why, now);
    }

    /// An event on the NATS socket.
    pub(super) fn cluster_event(&mut self, readable: bool, writable: bool, now: Instant) {
        let Some(link) = self.link.as_deref_mut() else { return };
        let Some(sock) = link.sock.as_mut() else { return };
        let Some(cluster) = self.router.cluster.as_deref_mut() else { return };
        if writable && cluster.session.phase == Phase::Down {
            let tcp = sock.tcp();
            match tcp.take_error() {
                Ok(Some(e)) | Err(e) => return self.cluster_failed(format!("connect: {e}"), now),
                Ok(None) => match tcp.peer_addr() {
                    Ok(_) => {
                        let _ = tcp.set_nodelay(true);
                        cluster.connected();
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                    Err(e) => return self.cluster_failed(format!("connect: {e}"), now),
                },
            }
        }
        if readable && cluster.session.phase != Phase::Down {
            self.cluster_read(now);
        }
        if writable {
            self.cluster_write(now);
        }
    }

    fn cluster_read(&mut self, now: Instant) {
        loop {
            let Some(sock) = self.link.as_deref_mut().and_then(|l| l.sock.as_mut()) else { return };
            let n = match sock.read(&mut self.scratch.read) {
                Ok(0) => {
                    return self.cluster_lost("the NATS server closed the connection".into(), now)
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.cluster_lost(format!("read: {e}"), now),
            };
            if let Err(why) = self.cluster_feed(n, now) {
                return self.cluster_lost(why, now);
            }
        }
    }

    /// Parse `n` bytes of the read buffer; act on the messages, then on the session's news.
    fn cluster_feed(&mut self, n: usize, now: Instant) -> Result<(), String> {
        let Some(mut cluster) = self.router.cluster.take() else { return Ok(()) };
        let want_tls = self.link.as_deref().and_then(|l| l.url.as_ref()).is_some_and(|u| u.tls);
        let before = cluster.session.phase;
        let data = &self.scratch.read[..n];
        let fed = {
            let mut out = crate::route::Outlets {
                conns: &mut self.conns,
                connectors: &mut self.connectors,
                slow: &mut self.scratch.slow,
                stamp_ns: self.observe.metrics.stamp(),
                now,
            };
            let router = &mut self.router;
            let fed = cluster.feed(data, want_tls, now, |m| router.on_inbound(m, &mut out));
            router.flush_remote(&mut out);
            fed
        };
        self.router.cluster = Some(cluster);
        fed.map_err(|e| e.to_string())?;
        self.route(now, |router, _, out| {
            router.cluster_resets(out);
            router.cluster_controls(out);
            router.flush_pipelines(out);
        });
        let Some(cluster) = self.router.cluster.as_deref_mut() else { return Ok(()) };
        match cluster.session.phase {
            Phase::NeedTls => self.cluster_tls(now)?,
            Phase::AwaitPong if before == Phase::AwaitInfo => {
                let json = cluster.connect_json(false);
                cluster.session.send_connect(&json);
            }
            Phase::Ready if before != Phase::Ready => {
                if let Some(link) = self.link.as_deref_mut() {
                    let url = link.url.as_ref().map(ToString::to_string).unwrap_or_default();
                    let again = if link.was_open { "re" } else { "" };
                    log::info!(
                        "cluster: node `{}` {again}connected to NATS at {url}",
                        cluster.config.node
                    );
                    link.stage = Stage::Open;
                    link.failures = 0;
                    link.was_open = true;
                }
            }
            _ => {}
        }
        self.cluster_write(now);
        Ok(())
    }

    /// The server asked for TLS (or the URL did): wrap the socket, then send `CONNECT`.
    fn cluster_tls(&mut self, now: Instant) -> Result<(), String> {
        let (Some(link), Some(cluster)) =
            (self.link.as_deref_mut(), self.router.cluster.as_deref_mut())
        else {
            return Ok(());
        };
        let config = match &link.tls {
            Some(c) => c.clone(),
            None => {
                let c = client_tls(None)?;
                link.tls = Some(c.clone());
                c
            }
        };
        let host = link.url.as_ref().map(|u| u.host.clone()).unwrap_or_default();
        let name = ServerName::try_from(host.clone())
            .map_err(|e| format!("TLS server name `{host}`: {e}"))?;
        let Some(Transport::Plain(sock)) = link.sock.take() else {
            return Err("TLS asked for twice".into());
        };
        link.sock =
            Some(Transport::tls_client(sock, config, name).map_err(|e| format!("TLS: {e}"))?);
        let json = cluster.connect_json(true);
        cluster.session.send_connect(&json);
        let _ = now;
        Ok(())
    }

    /// Write what the session queued (as much as the socket takes).
    pub(super) fn cluster_write(&mut self, now: Instant) {
        let (Some(link), Some(cluster)) =
            (self.link.as_deref_mut(), self.router.cluster.as_deref_mut())
        else {
            return;
        };
        let Some(sock) = link.sock.as_mut() else { return };
        if cluster.session.phase == Phase::Down {
            return;
        }
        let out = &mut cluster.session.out;
        let mut written = 0;
        let result = loop {
            if written == out.len() {
                break sock.flush_pending().map(|_| ());
            }
            match sock.write(&out[written..]) {
                Ok(0) => break Err(io::Error::new(io::ErrorKind::WriteZero, "wrote nothing")),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        out.drain(..written);
        if let Err(e) = result {
            if e.kind() != io::ErrorKind::WouldBlock {
                self.cluster_lost(format!("write: {e}"), now);
            }
        }
    }

    /// An attempt failed before the session was ready: try the next server later.
    fn cluster_failed(&mut self, why: String, now: Instant) {
        self.cluster_lost(why, now);
    }

    /// The connection is gone (or never came): topics go on locally; retry.
    pub(super) fn cluster_lost(&mut self, why: String, now: Instant) {
        let Some(link) = self.link.as_deref_mut() else { return };
        if let Some(mut sock) = link.sock.take() {
            let _ = self.registry.deregister(sock.tcp());
        }
        let url = link.url.as_ref().map(ToString::to_string).unwrap_or_default();
        let delay = if link.stage == Stage::Open {
            // A connection that worked: the next server at once.
            link.failures = 0;
            Duration::ZERO
        } else {
            link.failures += 1;
            link.backoff.delay(link.failures, rand::random::<f64>())
        };
        if link.stage == Stage::Open {
            log::warn!("cluster: lost NATS at {url}: {why}; topics go on locally, reconnecting");
        } else {
            log::warn!("cluster: cannot use NATS at {url}: {why}; next attempt in {delay:?}");
        }
        link.next += 1;
        link.stage = Stage::Idle { retry_at: now + delay };
        let was_up = self.router.cluster.as_deref().is_some_and(|c| c.session.phase != Phase::Down);
        if let Some(cluster) = self.router.cluster.as_deref_mut() {
            cluster.disconnected(&why);
        }
        if was_up {
            self.route(now, |router, _, out| router.cluster_down(out));
        }
    }
}
