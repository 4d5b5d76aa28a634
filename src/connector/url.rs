//! `ws://` URLs of upstream endpoints: scheme, host, port, and the request target.
//!
//! Only what a WebSocket client needs is accepted: `ws://host[:port][/path][?query]`, with the
//! host a name, an IPv4 address or a bracketed IPv6 address. User information (`user:pass@`) is
//! refused (put credentials in a header), and so is a fragment (`#…`), which has no meaning in a
//! WebSocket request. `wss://` (TLS) is recognised and refused with a clear message: this build
//! has no TLS client.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// A parsed `ws://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// The host as written, without brackets for IPv6.
    pub(crate) host: String,
    /// The port (80 when not written).
    pub(crate) port: u16,
    /// The request target: the path (at least `/`) and the query, as written.
    pub(crate) target: String,
    /// The host, if it is an IP address (no name resolution needed).
    pub(crate) ip: Option<IpAddr>,
}

impl WsUrl {
    /// Parse a URL; the error says what is wrong and what was expected.
    pub fn parse(url: &str) -> Result<WsUrl, String> {
        if let Some(b) = url.bytes().find(|b| b.is_ascii_control() || *b == b' ') {
            return Err(format!("URL `{}` contains the byte 0x{b:02x}", url.escape_debug()));
        }
        let (scheme, rest) =
            url.split_once("://").ok_or_else(|| format!("URL `{url}` must start with ws://"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "ws" => {}
            "wss" => {
                return Err(format!(
                "URL `{url}`: wss:// (TLS) is not supported by this build's connectors; use ws://"
            ))
            }
            other => return Err(format!("URL `{url}`: scheme `{other}` is not ws://")),
        }
        if rest.contains('#') {
            return Err(format!(
                "URL `{url}` has a fragment (`#…`), which a WebSocket URL must not"
            ));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(format!(
                "URL `{url}` has user information; send credentials in a header (`headers`) instead"
            ));
        }
        let (host, port) =
            split_host_port(authority).map_err(|why| format!("URL `{url}`: {why}"))?;
        let target = match target.strip_prefix('?') {
            Some(_) => format!("/{target}"),
            None if target.is_empty() => "/".to_string(),
            None => target.to_string(),
        };
        let ip = host.parse::<IpAddr>().ok();
        Ok(WsUrl { host, port, target, ip })
    }

    /// The value of the `Host` request header: the host (bracketed if IPv6) and the port unless
    /// it is 80.
    pub(crate) fn host_header(&self) -> String {
        let host = match self.ip {
            Some(IpAddr::V6(_)) => format!("[{}]", self.host),
            _ => self.host.clone(),
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The socket address, when the host is an IP address.
    pub(crate) fn socket_addr(&self) -> Option<SocketAddr> {
        self.ip.map(|ip| SocketAddr::new(ip, self.port))
    }
}

impl fmt::Display for WsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ws://{}{}", self.host_header(), self.target)
    }
}

fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or("unclosed `[` in the host")?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("`[{v6}]` is not an IPv6 address"));
        }
        match after {
            "" => (v6, None),
            p => (v6, Some(p.strip_prefix(':').ok_or("expected `:port` after `]`")?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if !authority.starts_with('[')
        && !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return Err(format!("`{host}` is not a host name or address"));
    }
    let port = match port {
        None => 80,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("port `{p}` is not a number from 1 to 65535")),
        },
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_urls() {
        let u = WsUrl::parse("ws://127.0.0.1:9001/trades?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("127.0.0.1", 9001, "/trades?x=1")
        );
        assert_eq!(u.socket_addr(), Some("127.0.0.1:9001".parse().unwrap()));
        assert_eq!(u.host_header(), "127.0.0.1:9001");
        let u = WsUrl::parse("WS://feed.example.com").unwrap();
        assert_eq!((u.port, u.target.as_str(), u.ip), (80, "/", None));
        assert_eq!(u.host_header(), "feed.example.com");
        let u = WsUrl::parse("ws://[::1]:8080?q").unwrap();
        assert_eq!((u.host.as_str(), u.target.as_str()), ("::1", "/?q"));
        assert_eq!(u.host_header(), "[::1]:8080");
        assert_eq!(u.to_string(), "ws://[::1]:8080/?q");
        assert_eq!(WsUrl::parse("ws://[::1]").unwrap().port, 80);
    }

    #[test]
    fn invalid_urls_say_why() {
        for (url, why) in [
            ("http://a/", "not ws://"),
            ("wss://a/", "TLS"),
            ("a:80/x", "must start with ws://"),
            ("ws://", "host is empty"),
            ("ws://:80/", "host is empty"),
            ("ws://a:0/", "port `0`"),
            ("ws://a:99999/", "port `99999`"),
            ("ws://a:x/", "port `x`"),
            ("ws://u:p@a/", "user information"),
            ("ws://a/#frag", "fragment"),
            ("ws://a b/", "0x20"),
            ("ws://[::1/", "unclosed"),
            ("ws://[zz]/", "not an IPv6"),
            ("ws://a%20b/", "not a host name"),
        ] {
            let e = WsUrl::parse(url).unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
        }
    }
}
