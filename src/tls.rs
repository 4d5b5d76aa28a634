//! TLS configuration: certificate chain and private key from PEM files, turned into a rustls
//! `ServerConfig` when the reactor binds.
//!
//! The crypto provider is rustls' `ring` provider: it builds with a C compiler alone, where
//! `aws-lc-rs` needs cmake (or prebuilt objects). TLS 1.2 and 1.3 are offered, with rustls'
//! default cipher suites; ALPN advertises `http/1.1`. Files are read once, at bind: replacing a
//! certificate means restarting the relay.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use serde::Deserialize;

/// `[tls]`: serve `wss://` with this certificate chain and key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM file with the certificate chain, leaf first (e.g. `fullchain.pem`).
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Check the fields without reading the files (they are read at bind).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.cert.as_os_str().is_empty() {
            return Err(("tls.cert", "must name a PEM certificate file".into()));
        }
        if self.key.as_os_str().is_empty() {
            return Err(("tls.key", "must name a PEM private key file".into()));
        }
        Ok(())
    }

    /// Read the files and build the rustls server configuration. The error names the key
    /// (`tls.cert` or `tls.key`) and says what is wrong with the file.
    pub(crate) fn server_config(&self) -> Result<Arc<ServerConfig>, (&'static str, String)> {
        let certs = load_certs(&self.cert).map_err(|m| ("tls.cert", m))?;
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| {
            ("tls.key", format!("{}: no usable PEM private key: {e}", self.key.display()))
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ("tls", e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| ("tls.key", format!("the key does not fit the certificate: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: cannot read PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no CERTIFICATE block found", path.display()));
    }
    Ok(certs)
}
