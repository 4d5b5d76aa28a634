//! The NATS test harness (`tests/util/nats.rs`) gives a working NATS cluster: proven with a
//! minimal client of NATS's text protocol written here (INFO, CONNECT, PING/PONG, SUB, PUB, MSG
//! and HMSG) over real sockets: routing across servers, JetStream streams surviving a server's
//! restart and the whole cluster's, token and user/password authentication, TLS, and servers
//! that die with the test process.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{json, Value};
use util::nats::{NatsCluster, NatsOptions};
use util::{watchdog, IO_TIMEOUT};

/// A message received by [`Nats::next_msg`].
#[derive(Debug)]
struct Msg {
    subject: String,
    /// The header block's status line (`NATS/1.0 503` for "no responders"), if any.
    status: Option<String>,
    payload: Vec<u8>,
}

/// A client of NATS's text protocol over any byte stream.
struct Nats<S: Read + Write> {
    s: S,
    buf: Vec<u8>,
    requests: u64,
}

/// Connect over TCP and read the server's INFO: the client (nothing sent yet) and the INFO.
fn connect_tcp(port: u16) -> (Nats<TcpStream>, Value) {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to nats-server");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut c = Nats { s, buf: Vec::new(), requests: 0 };
    let info = c.line();
    let info = info.strip_prefix("INFO ").unwrap_or_else(|| panic!("expected INFO, got {info}"));
    (c, serde_json::from_str(info).expect("INFO JSON"))
}

/// Connect to server `i` of `cluster` with no credentials.
fn connect(cluster: &NatsCluster, i: usize) -> Nats<TcpStream> {
    let (mut c, info) = connect_tcp(cluster.client_port(i));
    assert_eq!(info["server_name"], cluster.server_name(i), "INFO of the wrong server: {info}");
    c.handshake(json!({})).expect("CONNECT");
    c
}

impl<S: Read + Write> Nats<S> {
    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16384];
        let n = self.s.read(&mut chunk).expect("read from nats-server");
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// The next protocol line, without its CRLF.
    fn line(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8(self.buf[..end].to_vec()).expect("UTF-8 line");
                self.buf.drain(..end + 2);
                return line;
            }
            assert!(self.fill() > 0, "nats-server closed the connection");
        }
    }

    /// The next `n` bytes and the CRLF after them.
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n + 2 {
            assert!(self.fill() > 0, "nats-server closed the connection mid-message");
        }
        let out = self.buf[..n].to_vec();
        assert_eq!(&self.buf[n..n + 2], b"\r\n");
        self.buf.drain(..n + 2);
        out
    }

    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write to nats-server");
        self.s.flush().expect("flush");
    }

    /// The next line that is not `+OK`, a server PING (answered) or a new INFO.
    fn control(&mut self) -> String {
        loop {
            let line = self.line();
            match line.as_str() {
                "PING" => self.send(b"PONG\r\n"),
                "+OK" => {}
                l if l.starts_with("INFO ") => {}
                _ => return line,
            }
        }
    }

    /// CONNECT with `fields` added, then PING: `Ok` on PONG, `Err(line)` on `-ERR`.
    fn handshake(&mut self, fields: Value) -> Result<(), String> {
        let mut connect = json!({"verbose": false, "pedantic": false, "headers": true,
            "no_responders": true, "protocol": 1, "lang": "rust-test", "version": "0"});
        connect.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        self.send(format!("CONNECT {connect}\r\nPING\r\n").as_bytes());
        match self.control().as_str() {
            "PONG" => Ok(()),
            err => Err(err.to_string()),
        }
    }

    /// PING, wait for PONG: the server has processed everything sent before.
    fn flush_server(&mut self) {
        self.send(b"PING\r\n");
        let line = self.control();
        assert_eq!(line, "PONG");
    }

    fn sub(&mut self, subject: &str, sid: u32) {
        self.send(format!("SUB {subject} {sid}\r\n").as_bytes());
        self.flush_server();
    }

    fn publish(&mut self, subject: &str, reply: Option<&str>, payload: &[u8]) {
        let reply = reply.map(|r| format!(" {r}")).unwrap_or_default();
        let mut out = format!("PUB {subject}{reply} {}\r\n", payload.len()).into_bytes();
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
        self.send(&out);
    }

    /// The next MSG or HMSG.
    fn next_msg(&mut self) -> Msg {
        let line = self.control();
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            // MSG <subject> <sid> [reply] <size>
            "MSG" => {
                let size = f.last().unwrap().parse().expect("MSG size");
                let payload = self.bytes(size);
                Msg { subject: f[1].to_string(), status: None, payload }
            }
            // HMSG <subject> <sid> [reply] <header size> <total size>
            "HMSG" => {
                let hsize: usize = f[f.len() - 2].parse().expect("HMSG header size");
                let total: usize = f[f.len() - 1].parse().expect("HMSG size");
                let mut all = self.bytes(total);
                let payload = all.split_off(hsize);
                let headers = String::from_utf8(all).expect("UTF-8 headers");
                let status = headers.lines().next().map(|l| l.trim().to_string());
                Msg { subject: f[1].to_string(), status, payload }
            }
            _ => panic!("expected MSG or HMSG, got {line}"),
        }
    }

    /// Publish with a fresh reply subject and return the reply.
    fn request(&mut self, subject: &str, payload: &[u8]) -> Msg {
        if self.requests == 0 {
            self.sub("_INBOX.harness.*", 999);
        }
        self.requests += 1;
        let reply = format!("_INBOX.harness.{}", self.requests);
        self.publish(subject, Some(&reply), payload);
        loop {
            let msg = self.next_msg();
            if msg.subject == reply {
                return msg;
            }
        }
    }

    /// A JetStream API request: the JSON answer, which must not be an error.
    fn js(&mut self, api: &str, body: Value) -> Value {
        let msg = self.request(&format!("$JS.API.{api}"), body.to_string().as_bytes());
        assert_eq!(msg.status, None, "{api}: {msg:?}");
        let v: Value = serde_json::from_slice(&msg.payload).expect("JetStream JSON");
        assert!(v.get("error").is_none(), "{api}: {v}");
        v
    }

    /// Publish to a stream's subject and return the PubAck. A "no responders" status means no
    /// server took the message (the stream is electing a leader): try again, a bounded number
    /// of times, until one answers.
    fn js_publish(&mut self, subject: &str, payload: &[u8]) -> Value {
        for _ in 0..1000 {
            let msg = self.request(subject, payload);
            match msg.status.as_deref() {
                Some(s) if s.contains("503") => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                None => return serde_json::from_slice(&msg.payload).expect("PubAck JSON"),
                Some(s) => panic!("publish to {subject}: {s}"),
            }
        }
        panic!("no JetStream stream took a message on {subject}");
    }
}

#[test]
fn a_message_crosses_the_cluster() {
    watchdog(300, || {
        let cluster = NatsCluster::start(3);
        assert_eq!(cluster.urls().len(), 3);
        assert_eq!(cluster.url(2), format!("nats://127.0.0.1:{}", cluster.client_port(2)));
        let mut sub = connect(&cluster, 2);
        sub.sub("greet.>", 1);
        cluster.wait_interest(0, "greet.>");
        let mut publisher = connect(&cluster, 0);
        publisher.publish("greet.n2", None, b"hello from n0");
        publisher.flush_server();
        let msg = sub.next_msg();
        assert_eq!(msg.subject, "greet.n2");
        assert_eq!(msg.payload, b"hello from n0");
    });
}

#[test]
fn a_replicated_stream_survives_a_server_restart_and_a_cluster_restart() {
    watchdog(300, || {
        let mut cluster = NatsCluster::start(3);
        let mut c = connect(&cluster, 0);
        let created = c.js(
            "STREAM.CREATE.T",
            json!({"name": "T", "subjects": ["t"], "num_replicas": 3, "storage": "file"}),
        );
        assert_eq!(created["config"]["num_replicas"], 3, "{created}");
        let ack = c.js_publish("t", b"one");
        assert_eq!((ack["stream"].as_str(), ack["seq"].as_u64()), (Some("T"), Some(1)), "{ack}");
        drop(c);

        cluster.kill(1);
        assert!(!cluster.is_running(1));
        assert!(TcpStream::connect(("127.0.0.1", cluster.client_port(1))).is_err());
        // Two of three: the stream has (or elects) a leader and takes messages.
        cluster.wait_ready();
        let mut c = connect(&cluster, 0);
        assert_eq!(c.js_publish("t", b"two")["seq"], 2);
        drop(c);
        cluster.restart(1);
        let mut c = connect(&cluster, 1);
        let info = c.js("STREAM.INFO.T", json!({}));
        assert_eq!(info["state"]["messages"], 2, "{info}");
        let ack = c.js_publish("t", b"three");
        assert_eq!(ack["seq"], 3, "{ack}");
        drop(c);

        cluster.stop_all();
        for i in 0..3 {
            assert!(TcpStream::connect(("127.0.0.1", cluster.client_port(i))).is_err());
        }
        cluster.start_all();
        let mut c = connect(&cluster, 2);
        let info = c.js("STREAM.INFO.T", json!({}));
        assert_eq!(info["state"]["messages"], 3, "{info}");
        assert_eq!(c.js_publish("t", b"four")["seq"], 4);
        let log = std::fs::read_to_string(cluster.log_path(1)).unwrap();
        assert_eq!(log.matches("---- test harness: starting n1").count(), 3, "{log}");
    });
}

#[test]
fn token_authentication_refuses_a_wrong_token() {
    watchdog(120, || {
        let cluster = NatsOptions::new().token("s3cret").start(1);
        let (mut c, info) = connect_tcp(cluster.client_port(0));
        assert_eq!(info["auth_required"], true, "{info}");
        let err = c.handshake(json!({"auth_token": "wrong"})).unwrap_err();
        assert_eq!(err, "-ERR 'Authorization Violation'");
        let (mut c, _) = connect_tcp(cluster.client_port(0));
        c.handshake(json!({"auth_token": "s3cret"})).expect("the right token");
        c.sub("x", 1);
    });
}

#[test]
fn user_password_authentication_refuses_a_wrong_password() {
    watchdog(120, || {
        let cluster = NatsOptions::new().user_password("sluice", "pw").start(1);
        let (mut c, _) = connect_tcp(cluster.client_port(0));
        let err = c.handshake(json!({"user": "sluice", "pass": "nope"})).unwrap_err();
        assert_eq!(err, "-ERR 'Authorization Violation'");
        let (mut c, _) = connect_tcp(cluster.client_port(0));
        c.handshake(json!({"user": "sluice", "pass": "pw"})).expect("the right password");
    });
}

#[test]
fn tls_is_required_and_works_with_the_test_ca() {
    watchdog(120, || {
        let cluster = NatsOptions::new().tls().start(1);
        let port = cluster.client_port(0);

        let (mut plain, info) = connect_tcp(port);
        assert_eq!(info["tls_required"], true, "{info}");
        plain.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
        let mut rest = Vec::new();
        let _ = plain.s.read_to_end(&mut rest);
        assert!(!String::from_utf8_lossy(&rest).contains("PONG"), "plain text was served");

        let (c, _) = connect_tcp(port);
        assert!(c.buf.is_empty(), "bytes after INFO before the handshake");
        let ca = CertificateDer::from_pem_file(cluster.ca_file().unwrap()).expect("CA PEM");
        let mut roots = RootCertStore::empty();
        roots.add(ca).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let conn = ClientConnection::new(Arc::new(config), name).unwrap();
        let mut tls = Nats { s: StreamOwned::new(conn, c.s), buf: Vec::new(), requests: 0 };
        tls.handshake(json!({})).expect("CONNECT over TLS");
        tls.sub("secure", 1);
        tls.publish("secure", None, b"over tls");
        assert_eq!(tls.next_msg().payload, b"over tls");
    });
}

/// Set in the copy of this test binary that `servers_die_with_the_test_process` starts.
const ORPHAN_ROLE: &str = "SLUICE_NATS_HARNESS_EXIT_WITHOUT_DROP";

#[test]
fn servers_die_with_the_test_process() {
    if std::env::var_os(ORPHAN_ROLE).is_some() {
        // The child's role: start a server, say its pid, end the process without dropping
        // the cluster (as when a watchdog gives up on a stuck test).
        let cluster = NatsCluster::start(1);
        println!("NATS_PID {} {}", cluster.pid(0).unwrap(), cluster.dir().display());
        std::io::stdout().flush().unwrap();
        std::process::exit(0);
    }
    watchdog(120, || {
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args(["--exact", "servers_die_with_the_test_process", "--nocapture"])
            .env(ORPHAN_ROLE, "1")
            .output()
            .expect("run this test binary");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let (pid, dir) = stdout
            .lines()
            .find_map(|l| l.strip_prefix("NATS_PID ")?.split_once(' '))
            .unwrap_or_else(|| panic!("no pid: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
        let pid: i32 = pid.parse().unwrap();
        // Bounded poll: the kernel delivers SIGKILL at the parent's exit; init reaps.
        let deadline = std::time::Instant::now() + IO_TIMEOUT;
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
            if stat.is_empty() || state == Some('Z') {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "nats-server {pid} outlived the test");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // What the child left behind, as a test that timed out would.
        std::fs::remove_dir_all(dir).unwrap();
    });
}
