//! `ws://` and `wss://` URLs of upstream endpoints: scheme, host, port, and the request target.
//!
//! Only what a WebSocket client needs is accepted: `ws[s]://host[:port][/path][?query]`, with
//! the host a name, an IPv4 address or a bracketed IPv6 address. The port defaults to 80
//! (`ws://`) or 443 (`wss://`). User information (`user:pass@`) is refused (put credentials in a
//! header), and so is a fragment (`#…`), which has no meaning in a WebSocket request. For
//! `wss://` the host is also the name the upstream's certificate must be valid for (SNI is sent
//! for names, not for IP addresses).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use rustls::pki_types::ServerName;

/// A parsed `ws://` or `wss://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss://`: the connection runs over TLS.
    pub(crate) tls: bool,
    /// The host as written, without brackets for IPv6.
    pub(crate) host: String,
    /// The port (80 or 443 when not written).
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
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("URL `{url}` must start with ws:// or wss://"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "ws" => false,
            "wss" => true,
            other => return Err(format!("URL `{url}`: scheme `{other}` is not ws:// or wss://")),
        };
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
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = split_host_port(authority, default_port)
            .map_err(|why| format!("URL `{url}`: {why}"))?;
        let target = match target.strip_prefix('?') {
            Some(_) => format!("/{target}"),
            None if target.is_empty() => "/".to_string(),
            None => target.to_string(),
        };
        let ip = host.parse::<IpAddr>().ok();
        let parsed = WsUrl { tls, host, port, target, ip };
        if tls {
            parsed.server_name().map_err(|why| format!("URL `{url}`: {why}"))?;
        }
        Ok(parsed)
    }

    /// The port used when the URL names none: 80 for `ws://`, 443 for `wss://`.
    fn default_port(&self) -> u16 {
        if self.tls {
            443
        } else {
            80
        }
    }

    /// The name the upstream's certificate must be valid for: the host, as a DNS name or an IP
    /// address.
    pub(crate) fn server_name(&self) -> Result<ServerName<'static>, String> {
        match self.ip {
            Some(ip) => Ok(ServerName::IpAddress(ip.into())),
            None => ServerName::try_from(self.host.clone())
                .map_err(|_| format!("`{}` is not a valid TLS server name", self.host)),
        }
    }

    /// The value of the `Host` request header: the host (bracketed if IPv6) and the port unless
    /// it is the scheme's default.
    pub(crate) fn host_header(&self) -> String {
        let host = match self.ip {
            Some(IpAddr::V6(_)) => format!("[{}]", self.host),
            _ => self.host.clone(),
        };
        if self.port == self.default_port() {
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
        let scheme = if self.tls { "wss" } else { "ws" };
        write!(f, "{scheme}://{}{}", self.host_header(), self.target)
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Result<(String, u16), String> {
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
        None => default_port,
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
        assert!(!WsUrl::parse("ws://a/").unwrap().tls);
    }

    #[test]
    fn wss_urls() {
        let u = WsUrl::parse("wss://stream.example.com/ws?streams=btcusdt@trade").unwrap();
        assert!(u.tls);
        assert_eq!((u.port, u.target.as_str()), (443, "/ws?streams=btcusdt@trade"));
        assert_eq!(u.host_header(), "stream.example.com");
        assert_eq!(u.to_string(), "wss://stream.example.com/ws?streams=btcusdt@trade");
        assert_eq!(u.server_name().unwrap(), ServerName::try_from("stream.example.com").unwrap());
        let u = WsUrl::parse("WSS://127.0.0.1:9443").unwrap();
        assert_eq!((u.tls, u.port, u.host_header().as_str()), (true, 9443, "127.0.0.1:9443"));
        assert_eq!(u.server_name().unwrap(), ServerName::IpAddress(u.ip.unwrap().into()));
        let u = WsUrl::parse("wss://[::1]:443/").unwrap();
        assert_eq!(u.host_header(), "[::1]");
        assert!(matches!(u.server_name().unwrap(), ServerName::IpAddress(_)));
        // Port 80 is not the default of wss:// and is written out.
        assert_eq!(WsUrl::parse("wss://h:80/").unwrap().host_header(), "h:80");
    }

    #[test]
    fn invalid_urls_say_why() {
        for (url, why) in [
            ("http://a/", "not ws:// or wss://"),
            ("wss://a..b/", "not a valid TLS server name"),
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
