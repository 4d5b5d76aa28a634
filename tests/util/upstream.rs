//! Upstream servers for connector tests: the Python `websockets` server of
//! `tests/upstream/server.py` (a different WebSocket implementation than Sluice's), and helpers
//! to read a relay topic as JSON events.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::python::python;
use super::{next_data, Ws, IO_TIMEOUT};

/// True if the tests' Python (see [`python`]) has `websockets`. Under `CI=true` its absence fails the test.
pub fn python_ready() -> bool {
    python_has("websockets")
}

/// True if the tests' Python (see [`python`]) can import `module`. Under `CI=true` its absence fails the test;
/// otherwise the caller skips (tests/run.sh installs every module the tests use).
pub fn python_has(module: &str) -> bool {
    let ok = Command::new(python())
        .args(["-c", &format!("import {module}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} has no `{module}` (tests/tools/install-deps.sh installs it)",
            python().display()
        );
        eprintln!(
            "SKIPPED: {} has no `{module}`; run tests/tools/install-deps.sh",
            python().display()
        );
    }
    ok
}

/// A running `tests/upstream/server.py`, killed when dropped.
pub struct PyServer {
    child: Child,
    pub port: u16,
    events: Receiver<Value>,
}

impl PyServer {
    /// Start the server with these arguments (on an OS-assigned port unless `--port` is given).
    pub fn start(args: &[&str]) -> PyServer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/upstream/server.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3");
        let stdout = child.stdout.take().unwrap();
        let (port_tx, port_rx) = mpsc::channel();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(p) = line.strip_prefix("port ") {
                    let _ = port_tx.send(p.trim().parse::<u16>().expect("port"));
                } else if let Ok(v) = serde_json::from_str(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let mut server = PyServer { child, port: 0, events };
        server.port = port_rx.recv_timeout(IO_TIMEOUT).expect("the python server did not start");
        server
    }

    /// Start it again on the same port (after [`PyServer::kill`]); the script retries the bind
    /// while the port is being released.
    pub fn restart(port: u16, args: &[&str]) -> PyServer {
        let port = port.to_string();
        let mut all = vec!["--port", port.as_str()];
        all.extend_from_slice(args);
        PyServer::start(&all)
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// The `wss://` URL of a server started with `--cert`/`--key`, with `host` as the name.
    pub fn wss_url(&self, host: &str, path: &str) -> String {
        format!("wss://{host}:{}{path}", self.port)
    }

    /// The next event (`{"ev": "open"|"msg"|"close", …}`).
    pub fn next_event(&self) -> Value {
        self.events.recv_timeout(IO_TIMEOUT).expect("no event from the python server")
    }

    /// An event if one has arrived, without waiting.
    pub fn try_event(&self) -> Option<Value> {
        self.events.try_recv().ok()
    }

    /// Skip events until one with `ev == kind`.
    pub fn next_of(&self, kind: &str) -> Value {
        loop {
            let e = self.next_event();
            if e["ev"] == kind {
                return e;
            }
        }
    }

    /// The next `n` received text messages.
    pub fn messages(&self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.next_of("msg")["text"].as_str().expect("text").to_string()).collect()
    }

    /// Kill the process (no close frames: the upstream just dies) and return its port.
    pub fn kill(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read JSON messages from a subscriber until one satisfies `pred`; panics after `IO_TIMEOUT`.
pub fn wait_json(ws: &mut Ws, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        let m = next_data(ws);
        let v: Value = serde_json::from_str(m.to_text().expect("text")).expect("JSON");
        if pred(&v) {
            return v;
        }
    }
}

/// A short backoff for tests: reconnects within a fraction of a second.
pub fn quick_backoff() -> sluice::Backoff {
    sluice::Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        multiplier: 2.0,
        jitter: 0.5,
    }
}
