//! Accepting connections: drain the listener until `WouldBlock` (within a budget), admit each
//! new connection against the connection caps, register it, give it a slot.
//!
//! Admission happens before a connection gets a slot: `max_connections` and
//! `max_connections_per_ip` are checked, a refused socket gets a best-effort `503` (plain
//! listeners) and is closed at once, and the refusal is counted. The per-IP count is given back
//! when the connection is freed. Accept errors such as `EMFILE` pause accepting for
//! [`super::ACCEPT_PAUSE`] instead of spinning on a listener that stays readable.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use mio::net::{TcpListener, TcpStream};
use mio::Interest;

use super::token::conn_token;
use super::{Reactor, ACCEPT_BUDGET, ACCEPT_PAUSE};
use crate::config::Limits;
use crate::conn::transport::Transport;
use crate::conn::Conn;

/// The connection caps and the count of open connections per client IP (kept only when
/// `max_connections_per_ip` is set; its size is bounded by the open connections).
#[derive(Debug)]
pub(super) struct Admission {
    max_connections: usize,
    max_per_ip: usize,
    per_ip: HashMap<IpAddr, u32>,
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    TooMany,
    TooManyFromIp,
}

impl Refused {
    fn as_str(self) -> &'static str {
        match self {
            Refused::TooMany => "too many connections",
            Refused::TooManyFromIp => "too many connections from this address",
        }
    }
}

impl Admission {
    pub(super) fn new(limits: &Limits) -> Admission {
        Admission {
            max_connections: limits.max_connections,
            max_per_ip: limits.max_connections_per_ip,
            per_ip: HashMap::new(),
        }
    }

    /// Admit a connection from `ip` while `open` connections are held, counting it per IP.
    fn admit(&mut self, ip: IpAddr, open: usize) -> Result<(), Refused> {
        if self.max_connections > 0 && open >= self.max_connections {
            return Err(Refused::TooMany);
        }
        if self.max_per_ip > 0 {
            let n = self.per_ip.entry(ip).or_insert(0);
            if *n as usize >= self.max_per_ip {
                return Err(Refused::TooManyFromIp);
            }
            *n += 1;
        }
        Ok(())
    }

    /// Give back what [`Admission::admit`] counted, when the connection is freed (or was not
    /// kept).
    pub(super) fn release(&mut self, ip: IpAddr) {
        if self.max_per_ip > 0 {
            if let Some(n) = self.per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.per_ip.remove(&ip);
                }
            }
        }
    }
}

impl Reactor {
    /// Accept until `WouldBlock`, the budget, or an error that calls for a pause.
    pub(super) fn accept(&mut self, now: Instant) {
        for _ in 0..ACCEPT_BUDGET {
            let Some(listener) = &self.listener else {
                self.pending.accept_more = false;
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.pending.accept_more = false;
                    return;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM: the listener stays readable, so retrying
                    // now would spin. Pause, keep serving the open connections, then retry.
                    let errors = &mut self.observe.stats.accept_errors;
                    *errors += 1;
                    if errors.is_power_of_two() {
                        log::warn!(
                            "accept failed: {e}; pausing accepts for {ACCEPT_PAUSE:?} ({errors} such errors so far)"
                        );
                    }
                    self.pending.accept_resume = Some(now + ACCEPT_PAUSE);
                    return;
                }
            }
        }
        // Budget spent: more may be waiting; come back next iteration.
    }

    /// Admit, register and insert one accepted connection (or refuse it).
    fn admit(&mut self, mut stream: TcpStream, peer: SocketAddr, now: Instant) {
        if let Err(why) = self.policy.admission.admit(peer.ip(), self.conns.len()) {
            let stats = &mut self.observe.stats;
            match why {
                Refused::TooMany => stats.refused_max_connections += 1,
                Refused::TooManyFromIp => stats.refused_per_ip += 1,
            }
            let refused = stats.refused_max_connections + stats.refused_per_ip;
            if refused.is_power_of_two() {
                log::warn!(
                    "refused a connection from {peer}: {} ({refused} refused so far)",
                    why.as_str()
                );
            }
            refuse(stream, why.as_str(), self.policy.tls.is_none());
            return;
        }
        let _ = stream.set_nodelay(true);
        let key = self.conns.vacant_key();
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.registry.register(&mut stream, conn_token(key), interest) {
            log::warn!("cannot register a connection from {peer}: {e}");
            self.policy.admission.release(peer.ip());
            return;
        }
        let stream = match &self.policy.tls {
            None => Transport::Plain(stream),
            Some(config) => match Transport::tls_server(stream, config.clone()) {
                Ok(t) => t,
                Err(e) => {
                    log::warn!("cannot start TLS with {peer}: {e}");
                    self.policy.admission.release(peer.ip());
                    return;
                }
            },
        };
        let id = self.control.next_id;
        self.control.next_id += 1;
        self.observe.stats.connections_accepted += 1;
        self.insert(Conn::accepted(stream, peer, id, now, &self.policy.settings));
    }
}

/// Set the accept queue length of a listening socket. Linux applies a second `listen(2)` on a
/// listening socket as a new backlog.
pub(super) fn set_backlog(listener: &TcpListener, backlog: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: listen(2) on a descriptor the listener owns and keeps open for the call.
    if unsafe { libc::listen(listener.as_raw_fd(), backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Refuse an accepted connection over a connection limit: a best-effort `503` on a plain
/// listener (one `write` on a fresh socket, which has room), then close.
fn refuse(mut stream: TcpStream, why: &str, plain: bool) {
    if plain {
        let body = format!("503 Service Unavailable: {why}\n");
        let resp = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write(resp.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_counts_per_ip_and_gives_back() {
        let limits = Limits { max_connections: 3, max_connections_per_ip: 2, ..Limits::default() };
        let mut a = Admission::new(&limits);
        let ip: IpAddr = [10, 0, 0, 1].into();
        assert_eq!(a.admit(ip, 0), Ok(()));
        assert_eq!(a.admit(ip, 1), Ok(()));
        assert_eq!(a.admit(ip, 2), Err(Refused::TooManyFromIp));
        assert_eq!(a.admit([10, 0, 0, 2].into(), 3), Err(Refused::TooMany));
        a.release(ip);
        assert_eq!(a.admit(ip, 2), Ok(()));
        a.release(ip);
        a.release(ip);
        assert!(a.per_ip.is_empty());
    }
}
