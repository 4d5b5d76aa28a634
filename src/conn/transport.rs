//! The byte stream under a connection: plain TCP, or TLS (rustls) over TCP, for either role.
//!
//! rustls is sans-IO, so the reactor drives it with the same readiness events as a plain socket.
//! The contract [`Transport`] keeps for the reactor's edge-triggered loop:
//!
//! - `read` returns plaintext, `Ok(0)` at the peer's EOF (a TLS peer that closes TCP without a
//!   `close_notify` is treated as EOF too), and `WouldBlock` only when the *socket* said
//!   `WouldBlock` and no decrypted plaintext is left. A short read does not mean the socket is
//!   drained when TLS buffers plaintext: [`Transport::short_read_drains`] tells the reader loop.
//! - `write_vectored` accepts plaintext (encrypted into at most [`TLS_BUFFER`] bytes of records),
//!   then writes records to the socket; records the socket did not take stay pending.
//!   [`Transport::flush_pending`] writes them, and [`Transport::has_pending_output`] tells
//!   whether a writable event must flush again. Handshake records produced while reading are
//!   flushed the same way.
//! - [`Transport::finish_writes`] ends our direction: TLS queues `close_notify`, flushes it, then
//!   (like plain TCP) shuts the socket down for writing.
//!
//! A plain connection pays one enum match per `read`/`writev` syscall and nothing per message.
//! Client-mode connections (upstream connectors) use [`Transport::tls_client`]; the reactor's
//! code is the same for both roles.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, Connection, Error as TlsError,
    InvalidMessage, ServerConfig, ServerConnection,
};

/// Bound on plaintext rustls encrypts ahead of the socket (per TLS connection).
pub(crate) const TLS_BUFFER: usize = 64 * 1024;

/// A connection's byte stream.
#[derive(Debug)]
pub(crate) enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<Tls>),
}

/// rustls state and its socket.
#[derive(Debug)]
pub(crate) struct Tls {
    sock: TcpStream,
    conn: Connection,
    /// `close_notify` has been queued.
    notified: bool,
}

impl Transport {
    /// A server-side TLS connection on an accepted socket.
    pub(crate) fn tls_server(sock: TcpStream, config: Arc<ServerConfig>) -> io::Result<Transport> {
        let conn = ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(Transport::tls(sock, Connection::Server(conn)))
    }

    /// A client-side TLS connection on a connecting socket (for upstream connectors): the
    /// ClientHello waits in rustls until the first flush after the TCP connect completes.
    pub(crate) fn tls_client(
        sock: TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<Transport> {
        let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        Ok(Transport::tls(sock, Connection::Client(conn)))
    }

    fn tls(sock: TcpStream, mut conn: Connection) -> Transport {
        conn.set_buffer_limit(Some(TLS_BUFFER));
        Transport::Tls(Box::new(Tls { sock, conn, notified: false }))
    }

    /// The TCP socket, for registering with the poller and socket options.
    pub(crate) fn tcp(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &mut t.sock,
        }
    }

    /// Whether this is a TLS stream.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// TLS whose handshake has not completed (false for plain TCP).
    pub(crate) fn tls_handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.conn.is_handshaking(),
        }
    }

    /// True if a read that returned fewer bytes than asked proves the socket is drained (plain
    /// TCP). With TLS, plaintext is handed out record by record, so the reader must go on until
    /// `WouldBlock`.
    pub(crate) fn short_read_drains(&self) -> bool {
        !self.is_tls()
    }

    /// Encrypted bytes are waiting for the socket.
    pub(crate) fn has_pending_output(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.conn.wants_write(),
        }
    }

    /// Write pending TLS records. `Ok(true)` when nothing is left pending.
    pub(crate) fn flush_pending(&mut self) -> io::Result<bool> {
        match self {
            Transport::Plain(_) => Ok(true),
            Transport::Tls(t) => match t.flush_records() {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
                Err(e) => Err(e),
            },
        }
    }

    /// End our direction of the stream once everything queued is written: TLS sends
    /// `close_notify` first. `Ok(false)`: the socket is full; call again when writable.
    pub(crate) fn finish_writes(&mut self) -> io::Result<bool> {
        if let Transport::Tls(t) = self {
            if !t.notified {
                t.conn.send_close_notify();
                t.notified = true;
            }
            if !self.flush_pending()? {
                return Ok(false);
            }
        }
        let _ = self.tcp().shutdown(Shutdown::Write);
        Ok(true)
    }
}

impl Tls {
    /// Write records until none are pending (`Ok`) or the socket is full (`WouldBlock`).
    fn flush_records(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    // Out of line: keeps the plain-TCP arm of `Transport::read` as small as a direct call.
    #[inline(never)]
    fn read_plain(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                // No plaintext buffered: read more records below.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // TCP closed without close_notify: most clients do this; treat it as EOF.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            let eof = match self.conn.read_tls(&mut self.sock) {
                Ok(n) => n == 0,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if let Err(e) = self.conn.process_new_packets() {
                // Tell the peer why (an alert), best effort, then fail the connection.
                let _ = self.flush_records();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Handshake messages, key updates: send now; what the socket refuses waits for a
            // writable event (`has_pending_output`).
            match self.flush_records() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if eof {
                return match self.conn.reader().read(buf) {
                    Ok(n) => Ok(n),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::UnexpectedEof
                        ) =>
                    {
                        Ok(0)
                    }
                    Err(e) => Err(e),
                };
            }
        }
    }

    #[inline(never)]
    fn write_plain(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // Older records first: rustls must not buffer more than TLS_BUFFER ahead of the socket.
        self.flush_records()?;
        let n = self.conn.writer().write_vectored(bufs)?;
        match self.flush_records() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }
}

impl Read for Transport {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read_plain(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(t) => t.write_plain(&[IoSlice::new(buf)]),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write_vectored(bufs),
            Transport::Tls(t) => t.write_plain(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(t) => t.flush_records(),
        }
    }
}
/// Why a TLS handshake failed, in words that point at the fix: rustls' own text, plus a hint
/// for the usual causes.
pub(crate) fn handshake_failure(e: &io::Error) -> String {
    let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<TlsError>()) else {
        return e.to_string();
    };
    let hint = match tls {
        TlsError::InvalidCertificate(CertificateError::UnknownIssuer) => {
            " (the certificate is not signed by a CA in `ca_file`, or in the platform's roots \
             when there is no `ca_file`)"
        }
        TlsError::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => " (the URL's host must be one of the certificate's names)",
        TlsError::InvalidMessage(
            InvalidMessage::InvalidContentType | InvalidMessage::UnknownProtocolVersion,
        ) => " (the upstream does not speak TLS on this port: is it a ws:// endpoint?)",
        _ => "",
    };
    format!("{tls}{hint}")
}
