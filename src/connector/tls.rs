//! TLS for `wss://` upstreams: which root certificates a connector trusts, the rustls client
//! configuration built from them, and a plain-words reason when a handshake fails.
//!
//! Contract:
//!
//! - Verification is always on: the upstream's chain must lead to a trusted root and its
//!   certificate must be valid now and for the URL's host (a DNS name, or an IP address in the
//!   certificate's IP SANs). There is no switch to turn it off.
//! - Trusted roots are the PEM certificates of the connector's `ca_file` when it has one (they
//!   *replace* the platform's roots), else the platform's store as `rustls-native-certs` finds it
//!   (`/etc/ssl/certs/…` on Linux; the `SSL_CERT_FILE` and `SSL_CERT_DIR` environment variables
//!   override it). The platform store is read once per process and shared by every connector
//!   without a `ca_file`; a `ca_file` is read when its connector is checked or added. Both are
//!   read on the thread that adds the connector ([`super::Connector::prepare`]), never on the
//!   reactor's: a connector added through a `Handle` reaches the reactor ready to connect.
//! - The provider is rustls' `ring` (as the server side's); TLS 1.2 and 1.3; ALPN offers
//!   `http/1.1` only, so an upstream that also speaks HTTP/2 keeps to the WebSocket upgrade.
//!   Session resumption uses rustls' in-memory cache, so a reconnect is cheaper.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// The client configuration for a connector: trusting the certificates of `ca_file`, or the
/// platform's roots. The error says what is wrong with the file or the platform store.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    match ca_file {
        Some(path) => build(read_ca_file(path)?),
        None => {
            static PLATFORM: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
            PLATFORM.get_or_init(|| build(platform_roots()?)).clone()
        }
    }
}

fn build(roots: RootCertStore) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate of a PEM bundle, each a usable trust anchor.
fn read_ca_file(path: &Path) -> Result<RootCertStore, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read PEM certificates from `{}`: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("`{}` holds no CERTIFICATE block", path.display()));
    }
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            format!(
                "`{}`: certificate {} is not a usable CA certificate: {e}",
                path.display(),
                i + 1
            )
        })?;
    }
    Ok(roots)
}

fn platform_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        log::warn!("platform root certificates: {e}");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        log::warn!("platform root certificates: {ignored} could not be used");
    }
    if added == 0 {
        let why = found.errors.first().map_or(String::new(), |e| format!(" ({e})"));
        return Err(format!(
            "wss:// needs trusted root certificates and the platform store has none{why}: \
             install the system's CA certificates (Debian: ca-certificates), point \
             SSL_CERT_FILE at a PEM bundle, or set `ca_file`"
        ));
    }
    log::debug!("platform root certificates: {added} loaded");
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::transport::handshake_failure;
    use rustls::{CertificateError, Error as TlsError, InvalidMessage};
    use std::io;

    #[test]
    fn ca_file_errors_say_what_is_wrong() {
        let dir = std::env::temp_dir().join(format!("sluice-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let e = client_config(Some(&missing)).unwrap_err();
        assert!(e.contains("cannot read PEM certificates") && e.contains("missing.pem"), "{e}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client_config(Some(&empty)).unwrap_err();
        assert!(e.contains("no CERTIFICATE block"), "{e}");
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .unwrap();
        let e = client_config(Some(&garbage)).unwrap_err();
        assert!(e.contains("certificate 1 is not a usable CA certificate"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failures_get_a_hint() {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            TlsError::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let s = handshake_failure(&e);
        assert!(
            s.starts_with("invalid peer certificate: UnknownIssuer (") && s.contains("ca_file")
        );
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            TlsError::InvalidMessage(InvalidMessage::InvalidContentType),
        );
        assert!(handshake_failure(&e).contains("does not speak TLS"));
        let e = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(handshake_failure(&e), e.to_string());
    }
}
