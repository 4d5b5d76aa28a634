//! A NATS server URL: `nats://host[:port]` (TLS if the server requires it) or
//! `tls://host[:port]` (TLS always); the port defaults to 4222. Credentials go in `[cluster]`
//! (`token`, `user`/`password`), not in the URL, so they are never logged with it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// A parsed NATS server URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsUrl {
    /// TLS is required by the URL (`tls://`).
    pub tls: bool,
    /// Host name or address, as written (without brackets).
    pub host: String,
    /// Port (4222 when not written).
    pub port: u16,
}

impl NatsUrl {
    /// Parse a URL; the error says what is wrong.
    pub fn parse(url: &str) -> Result<NatsUrl, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("nats://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("tls://") {
            (true, r)
        } else {
            return Err(format!("`{url}`: a NATS URL starts with `nats://` or `tls://`"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('@') {
            return Err(format!(
                "`{url}`: put credentials in `cluster.token` or `cluster.user`/`password`, not the URL"
            ));
        }
        if rest.contains('/') || rest.contains('?') {
            return Err(format!("`{url}`: a NATS URL has no path or query"));
        }
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (h, after) =
                    v6.split_once(']').ok_or_else(|| format!("`{url}`: unclosed `[`"))?;
                (h, after.strip_prefix(':'))
            }
            None => match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            },
        };
        if host.is_empty() {
            return Err(format!("`{url}`: no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("`{url}`: bad port `{p}`"))?,
            None => 4222,
        };
        Ok(NatsUrl { tls, host: host.to_string(), port })
    }

    /// The address to connect to, when the host is an IP address.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.host.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, self.port))
    }
}

impl fmt::Display for NatsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "tls" } else { "nats" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_print() {
        let u = NatsUrl::parse("nats://127.0.0.1:4223").unwrap();
        assert_eq!((u.tls, u.port), (false, 4223));
        assert_eq!(u.socket_addr(), Some("127.0.0.1:4223".parse().unwrap()));
        let u = NatsUrl::parse("tls://nats.example.com").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.socket_addr()),
            (true, "nats.example.com", 4222, None)
        );
        assert_eq!(NatsUrl::parse("nats://[::1]:5000").unwrap().to_string(), "nats://[::1]:5000");
        for bad in
            ["http://x", "nats://", "nats://x:0", "nats://x:99999", "nats://u:p@x", "nats://x/a"]
        {
            assert!(NatsUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
