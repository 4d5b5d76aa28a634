//! TLS helpers: a self-signed certificate made at test time, and blocking `wss://` clients.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use tungstenite::WebSocket;

use super::IO_TIMEOUT;

/// A certificate for `localhost` and its key, written as PEM files in a fresh directory.
pub struct TestCert {
    pub dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: CertificateDer<'static>,
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fresh_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sluice-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Make a self-signed certificate for `localhost` and `127.0.0.1`.
pub fn make_cert() -> TestCert {
    let dir = fresh_dir();
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("rcgen");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    TestCert { dir, cert, key, der: ck.cert.der().clone() }
}

/// A client configuration that trusts only `cert`.
pub fn client_config(cert: &TestCert) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;
pub type TlsWs = WebSocket<TlsStream>;

/// A blocking TLS stream to `addr`, verified against `config` as `localhost`.
pub fn tls_stream(addr: SocketAddr, config: &Arc<ClientConfig>) -> TlsStream {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(config.clone(), name).unwrap();
    StreamOwned::new(conn, tcp)
}

/// A `wss://` WebSocket client on `path`.
pub fn connect_wss(addr: SocketAddr, path: &str, config: &Arc<ClientConfig>) -> TlsWs {
    let stream = tls_stream(addr, config);
    let url = format!("wss://localhost:{}{}", addr.port(), path);
    let (ws, resp) = tungstenite::client(url.as_str(), stream)
        .unwrap_or_else(|e| panic!("wss handshake {url}: {e}"));
    assert_eq!(resp.status(), 101);
    ws
}

/// A test CA and a server certificate it signed, as PEM files in a fresh directory (removed
/// when dropped): what a `wss://` upstream serves (`cert`, `key`) and what a client trusts
/// (`ca`).
pub struct TestPki {
    pub dir: PathBuf,
    /// The CA's certificate (a `ca_file`).
    pub ca: PathBuf,
    /// The server's certificate, signed by the CA.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Make a CA and a server certificate for `names` (DNS names or IP addresses) signed by it;
/// `expired`: the server certificate's validity ended in 2001.
pub fn make_pki(names: &[&str], expired: bool) -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let dir = fresh_dir();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // A name of its own: a chain is matched to its issuer by name first.
    let name = format!("sluice test CA {}", dir.display());
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let pki = TestPki {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        dir,
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}

impl TestPki {
    /// The arguments that make `tests/upstream/server.py` serve `wss://` with this certificate.
    pub fn server_args(&self) -> [&str; 4] {
        ["--cert", self.cert.to_str().unwrap(), "--key", self.key.to_str().unwrap()]
    }
}
