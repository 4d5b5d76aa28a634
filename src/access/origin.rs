//! `Origin` checks against `allowed_origins`: exact origins and wildcard subdomains.
//!
//! An origin is `scheme://host[:port]` (RFC 6454), compared case-insensitively. A pattern
//! `https://*.example.com` matches `https://a.example.com` and `https://a.b.example.com`, not
//! `https://example.com`, and not another scheme or port.

/// One allowed-origin pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OriginPattern {
    /// `*`: any origin.
    Any,
    /// An exact origin, lower-cased.
    Exact(String),
    /// `scheme://*.domain[:port]`: (scheme, `.domain[:port]`), lower-cased.
    Subdomains { scheme: String, suffix: String },
}

impl OriginPattern {
    pub(crate) fn parse(p: &str) -> Result<OriginPattern, &'static str> {
        if p == "*" {
            return Ok(OriginPattern::Any);
        }
        let lower = p.to_ascii_lowercase();
        let (scheme, rest) = lower.split_once("://").ok_or("expected scheme://host[:port]")?;
        if scheme.is_empty()
            || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err("bad scheme");
        }
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
            return Err("an origin has no path, query, user or spaces");
        }
        match rest.strip_prefix('*') {
            Some(suffix) => {
                if !suffix.starts_with('.') || suffix.len() < 2 || suffix.contains('*') {
                    return Err("a wildcard must be a leading `*.` before a domain");
                }
                Ok(OriginPattern::Subdomains { scheme: scheme.into(), suffix: suffix.into() })
            }
            None if rest.contains('*') => Err("a wildcard must be a leading `*.` before a domain"),
            None => Ok(OriginPattern::Exact(lower)),
        }
    }

    /// Whether the (trimmed) `Origin` header value matches.
    pub(crate) fn matches(&self, origin: &str) -> bool {
        match self {
            OriginPattern::Any => true,
            OriginPattern::Exact(o) => o.eq_ignore_ascii_case(origin),
            OriginPattern::Subdomains { scheme, suffix } => {
                let Some((s, host)) = origin.split_once("://") else { return false };
                s.eq_ignore_ascii_case(scheme)
                    && host.len() > suffix.len()
                    && host.is_char_boundary(host.len() - suffix.len())
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                    && !host[..host.len() - suffix.len()].contains(['/', ':', '@'])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_wildcard_origins() {
        let exact = OriginPattern::parse("https://App.example.com").unwrap();
        assert!(exact.matches("https://app.example.com"));
        assert!(!exact.matches("http://app.example.com"));
        assert!(!exact.matches("https://app.example.com:8443"));
        assert!(!exact.matches("https://app.example.com.evil.net"));
        let wild = OriginPattern::parse("https://*.example.com").unwrap();
        assert!(wild.matches("https://a.example.com"));
        assert!(wild.matches("https://a.b.EXAMPLE.com"));
        assert!(!wild.matches("https://example.com"));
        assert!(!wild.matches("https://evilexample.com"));
        assert!(!wild.matches("http://a.example.com"));
        assert!(!wild.matches("https://a.example.com:444"));
        assert!(!wild.matches("https://x:y@a.example.com"));
        let port = OriginPattern::parse("http://*.local.test:8080").unwrap();
        assert!(port.matches("http://a.local.test:8080"));
        assert!(!port.matches("http://a.local.test"));
        assert!(OriginPattern::parse("*").unwrap().matches("null"));
        for bad in [
            "example.com",
            "https://",
            "https://a.com/path",
            "https://a.*.com",
            "https://*example.com",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
