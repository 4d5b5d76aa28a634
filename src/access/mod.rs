//! Who may open a WebSocket: the `Origin` check and authentication on the upgrade request.
//!
//! The [`Gate`] runs once per upgrade, after the RFC 6455 checks and before any `101`; it adds
//! nothing per message. In order:
//!
//! 1. `Origin`: if `allowed_origins` is set and the request has an `Origin` header that matches
//!    no pattern: `403`.
//! 2. If authentication is on (static tokens or a JWT secret), the token is taken from, in this
//!    order, `Authorization: Bearer <token>`, the `token` query parameter, or the cookie named
//!    `token_cookie` (browsers cannot set headers on a WebSocket). No token, an unknown static
//!    token, or a JWT that does not verify or has expired: `401` with `WWW-Authenticate`.
//! 3. The credential's rights must cover the endpoint: publishing to the topic of a `/pub`
//!    endpoint, subscribing to every topic of a `/sub` endpoint; `/echo` needs any valid
//!    credential. Otherwise: `403` naming the topic.
//!
//! A JWT's `exp` also bounds the connection: it is closed with `1008` when the token expires.

pub mod config;
pub(crate) mod jwt;
pub(crate) mod origin;
pub(crate) mod rights;

use std::time::{SystemTime, UNIX_EPOCH};

use ring::hmac;

use crate::conn::http::{Request, Response};
use crate::endpoint::Target;
use crate::topic::TopicPattern;
use config::Access;
use origin::OriginPattern;
use rights::Rights;

/// Access checks compiled from [`Access`].
#[derive(Debug)]
pub(crate) struct Gate {
    origins: Vec<OriginPattern>,
    tokens: Vec<(String, Rights)>,
    jwt: Option<hmac::Key>,
    cookie: String,
}

/// Why an upgrade was refused, for the counters; the response says it to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `403`: the `Origin` is not allowed.
    Origin,
    /// `401`: no valid credential.
    Unauthenticated,
    /// `403`: the credential lacks the right for this endpoint.
    Forbidden,
}

/// What an admitted upgrade carries on: the credential's expiry (Unix seconds), if any.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Admitted {
    pub(crate) expires_unix: Option<f64>,
    /// The topics the credential may subscribe to (`None`: no authentication, any topic).
    pub(crate) may_subscribe: Option<Box<[TopicPattern]>>,
}

impl Gate {
    /// Compile the settings; reads `jwt_secret_file`. Errors name the key.
    pub(crate) fn new(access: &Access) -> Result<Gate, (&'static str, String)> {
        access.validate()?;
        let origins = access
            .allowed_origins
            .iter()
            .map(|o| OriginPattern::parse(o).map_err(|w| ("access.allowed_origins", w.to_string())))
            .collect::<Result<_, _>>()?;
        let tokens = access
            .tokens
            .iter()
            .map(|t| Ok((t.token.0.clone(), Rights::parse(&t.publish, &t.subscribe)?)))
            .collect::<Result<_, String>>()
            .map_err(|w| ("access.tokens", w))?;
        let secret = match (&access.jwt_secret, &access.jwt_secret_file) {
            (Some(s), _) => Some(s.0.clone()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ("access.jwt_secret_file", format!("cannot read {}: {e}", path.display()))
                })?;
                let s = text.trim().to_string();
                config::check_secret(&s)
                    .map_err(|w| ("access.jwt_secret_file", format!("{}: {w}", path.display())))?;
                Some(s)
            }
            (None, None) => None,
        };
        Ok(Gate {
            origins,
            tokens,
            jwt: secret.map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes())),
            cookie: access.token_cookie.clone(),
        })
    }

    /// Whether credentials are required.
    pub(crate) fn auth_enabled(&self) -> bool {
        !self.tokens.is_empty() || self.jwt.is_some()
    }

    /// Check an upgrade request for `target` at the current wall-clock time.
    pub(crate) fn check(
        &self,
        req: &Request<'_>,
        target: &Target,
    ) -> Result<Admitted, (Refusal, Response)> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        self.check_at(req, target, now)
    }

    /// [`Gate::check`] at `now` (Unix seconds).
    pub(crate) fn check_at(
        &self,
        req: &Request<'_>,
        target: &Target,
        now: f64,
    ) -> Result<Admitted, (Refusal, Response)> {
        if !self.origins.is_empty() {
            if let Some(origin) = req.header("origin") {
                if !self.origins.iter().any(|p| p.matches(origin)) {
                    return Err((
                        Refusal::Origin,
                        Response::error(
                            403,
                            &format!("origin `{}` is not allowed", shorten(origin)),
                        ),
                    ));
                }
            }
        }
        if !self.auth_enabled() {
            return Ok(Admitted { expires_unix: None, may_subscribe: None });
        }
        let Some(token) = self.find_token(req) else {
            return Err(unauthenticated(
                "authentication required: send a token as `Authorization: Bearer`, \
                 the `token` query parameter or a cookie",
            ));
        };
        let (rights, expires_unix) = self.authenticate(&token, now)?;
        let denied = match target {
            Target::Publish(topic) => (!rights.may_publish(topic)).then_some(("publish to", topic)),
            Target::Subscribe(topics) => {
                topics.iter().find(|t| !rights.may_subscribe(t)).map(|t| ("subscribe to", t))
            }
            _ => None,
        };
        if let Some((verb, topic)) = denied {
            return Err((
                Refusal::Forbidden,
                Response::error(403, &format!("this token may not {verb} `{topic}`")),
            ));
        }
        Ok(Admitted { expires_unix, may_subscribe: Some(rights.subscribe.into_boxed_slice()) })
    }

    fn authenticate(
        &self,
        token: &str,
        now: f64,
    ) -> Result<(Rights, Option<f64>), (Refusal, Response)> {
        // Compare with every static token, in constant time per token.
        let mut found = None;
        for (t, rights) in &self.tokens {
            if ct_eq(t.as_bytes(), token.as_bytes()) {
                found = Some(rights);
            }
        }
        if let Some(rights) = found {
            return Ok((rights.clone(), None));
        }
        match &self.jwt {
            Some(key) if jwt::looks_like_jwt(token) => match jwt::verify(token, key, now) {
                Ok(v) => Ok((v.rights, Some(v.exp))),
                Err(e) => Err(unauthenticated(&e.to_string())),
            },
            _ => Err(unauthenticated("unknown token")),
        }
    }

    /// The token from the `Authorization` header, the `token` query parameter, or the cookie.
    fn find_token(&self, req: &Request<'_>) -> Option<String> {
        if let Some(auth) = req.header("authorization") {
            if let Some((scheme, value)) = auth.split_once(' ') {
                if scheme.eq_ignore_ascii_case("bearer") && !value.trim().is_empty() {
                    return Some(value.trim().to_string());
                }
            }
        }
        if let Some(query) = req.query() {
            for pair in query.split('&') {
                if let Some(v) = pair.strip_prefix("token=") {
                    return percent_decode(v).filter(|v| !v.is_empty());
                }
            }
        }
        for cookies in req.header_values("cookie") {
            for c in cookies.split(';') {
                if let Some((name, value)) = c.trim().split_once('=') {
                    if name == self.cookie && !value.is_empty() {
                        return Some(value.trim_matches('"').to_string());
                    }
                }
            }
        }
        None
    }
}

fn unauthenticated(why: &str) -> (Refusal, Response) {
    let mut r = Response::error(401, why);
    r.headers.push(("WWW-Authenticate".into(), "Bearer realm=\"sluice\"".into()));
    (Refusal::Unauthenticated, r)
}

/// At most 64 characters of a client-supplied value, for an error message.
fn shorten(s: &str) -> String {
    s.chars().take(64).filter(|c| !c.is_control()).collect()
}

/// Equality whose time does not depend on where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Decode `%XX` escapes (and `+` as space); `None` if an escape is malformed or the result is
/// not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Whether a configuration exposes an unauthenticated relay beyond this host: listening on a
/// non-loopback address with no credentials required. The reactor warns at start if so.
pub(crate) fn exposed_without_auth(listen: std::net::SocketAddr, access: &Access) -> bool {
    !listen.ip().is_loopback() && !access.auth_enabled()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::http::{parse_request, Parsed};

    fn gate(toml: &str) -> Gate {
        let access: Access = toml::from_str(toml).unwrap();
        Gate::new(&access).unwrap()
    }

    fn check(g: &Gate, path: &str, extra: &str, target: Target) -> Result<Admitted, u16> {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let Parsed::Complete { request, .. } = parse_request(raw.as_bytes(), &mut headers, 4096)
        else {
            panic!("parse")
        };
        g.check_at(&request, &target, 1000.0).map_err(|(_, r)| r.status)
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn origins_are_checked_only_when_configured_and_present() {
        let open = gate("");
        let t = || Target::Echo;
        assert!(check(&open, "/echo", "Origin: https://evil.net\r\n", t()).is_ok());
        let g = gate(r#"allowed_origins = ["https://*.example.com", "http://localhost:3000"]"#);
        assert!(check(&g, "/echo", "Origin: https://a.example.com\r\n", t()).is_ok());
        assert!(check(&g, "/echo", "Origin: http://localhost:3000\r\n", t()).is_ok());
        assert_eq!(check(&g, "/echo", "Origin: https://evil.net\r\n", t()), Err(403));
        assert!(check(&g, "/echo", "", t()).is_ok(), "no Origin: not a browser");
    }

    #[test]
    fn tokens_from_header_query_and_cookie() {
        let g = gate(&format!(
            "jwt_secret = \"{SECRET}\"\n[[tokens]]\ntoken = \"static-token-0123456789\"\npublish = [\"p\"]\nsubscribe = [\"s.*\"]\n"
        ));
        let pubp = || Target::Publish("p".into());
        assert_eq!(check(&g, "/pub/p", "", pubp()), Err(401));
        let bearer = "Authorization: Bearer static-token-0123456789\r\n";
        assert!(check(&g, "/pub/p", bearer, pubp()).is_ok());
        assert_eq!(check(&g, "/pub/q", bearer, Target::Publish("q".into())), Err(403));
        assert!(check(&g, "/pub/p?token=static-token-0123456789", "", pubp()).is_ok());
        assert!(check(
            &g,
            "/pub/p",
            "Cookie: a=b; sluice_token=static-token-0123456789\r\n",
            pubp()
        )
        .is_ok());
        assert_eq!(
            check(&g, "/pub/p", "Authorization: Bearer wrong-token-0123456789\r\n", pubp()),
            Err(401)
        );
        let jwt = jwt::sign_hs256(SECRET.as_bytes(), r#"{"exp":2000,"subscribe":["a","b"]}"#);
        let sub = |l: &[&str]| Target::Subscribe(l.iter().map(|s| s.to_string()).collect());
        let got = check(&g, &format!("/sub/a,b?x=1&token={jwt}"), "", sub(&["a", "b"])).unwrap();
        assert_eq!(got.expires_unix, Some(2000.0));
        assert_eq!(check(&g, &format!("/sub/a,c?token={jwt}"), "", sub(&["a", "c"])), Err(403));
        let expired = jwt::sign_hs256(SECRET.as_bytes(), r#"{"exp":999}"#);
        assert_eq!(
            check(&g, "/echo", &format!("Authorization: bearer {expired}\r\n"), Target::Echo),
            Err(401)
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(percent_decode("a%2Bb+c").as_deref(), Some("a+b c"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert!(ct_eq(b"abc", b"abc") && !ct_eq(b"abc", b"abd") && !ct_eq(b"ab", b"abc"));
        let open = Access::default();
        assert!(exposed_without_auth("0.0.0.0:80".parse().unwrap(), &open));
        assert!(!exposed_without_auth("127.0.0.1:80".parse().unwrap(), &open));
        assert!(!exposed_without_auth("[::1]:80".parse().unwrap(), &open));
    }
}
