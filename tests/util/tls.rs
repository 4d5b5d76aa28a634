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

/// Make a self-signed certificate for `localhost` and `127.0.0.1`.
pub fn make_cert() -> TestCert {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sluice-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
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
