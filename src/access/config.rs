//! `[access]`: allowed origins and authentication settings, with defaults and `validate()`.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::rights::TopicPattern;

/// Who may open a WebSocket. The default lets anyone connect from anywhere; set
/// `allowed_origins` against cross-site WebSocket hijacking, and `tokens` or a JWT secret to
/// require credentials.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Access {
    /// Browser origins allowed to open WebSockets: exact (`https://app.example.com`, with a port
    /// if not the default) or a wildcard subdomain (`https://*.example.com`, which does not match
    /// `https://example.com` itself), or `*`. Empty (the default): any origin. A request from
    /// another origin gets `403` before the upgrade. A request without an `Origin` header (not
    /// from a browser) is not checked.
    pub allowed_origins: Vec<String>,
    /// Static bearer tokens, each with its own rights (`[[access.tokens]]`).
    pub tokens: Vec<StaticToken>,
    /// HMAC-SHA256 secret for signed tokens (JWT, `alg` `HS256`, `exp` required), at least 32
    /// bytes. Claims `publish` and `subscribe` (arrays of topic patterns) give the rights.
    pub jwt_secret: Option<Secret>,
    /// A file holding the JWT secret (surrounding whitespace is trimmed), instead of
    /// `jwt_secret`.
    pub jwt_secret_file: Option<PathBuf>,
    /// Name of the cookie a browser may carry its token in. Default `sluice_token`.
    pub token_cookie: String,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            allowed_origins: Vec::new(),
            tokens: Vec::new(),
            jwt_secret: None,
            jwt_secret_file: None,
            token_cookie: "sluice_token".into(),
        }
    }
}

/// A static bearer token and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticToken {
    /// The token: at least 16 characters, printable ASCII without spaces, `,`, `;` or `"`.
    pub token: Secret,
    /// Topic patterns this token may publish to (`name`, `prefix*` or `*`).
    #[serde(default)]
    pub publish: Vec<String>,
    /// Topic patterns this token may subscribe to.
    #[serde(default)]
    pub subscribe: Vec<String>,
}

/// A secret string; `Debug` does not print it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Shortest accepted HS256 secret, in bytes (the hash's output size).
pub const MIN_JWT_SECRET: usize = 32;

impl Access {
    /// Whether credentials are required on every WebSocket upgrade.
    pub fn auth_enabled(&self) -> bool {
        !self.tokens.is_empty() || self.jwt_secret.is_some() || self.jwt_secret_file.is_some()
    }

    /// Check the fields (the secret file is read at bind).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for o in &self.allowed_origins {
            super::origin::OriginPattern::parse(o)
                .map_err(|why| ("access.allowed_origins", format!("`{o}`: {why}")))?;
        }
        for (i, t) in self.tokens.iter().enumerate() {
            let s = &t.token.0;
            if s.len() < 16 {
                return Err((
                    "access.tokens",
                    format!("token #{} is shorter than 16 characters", i + 1),
                ));
            }
            if !s.bytes().all(is_token_byte) {
                return Err((
                    "access.tokens",
                    format!(
                        "token #{} has a character that cannot travel in a header, query or cookie",
                        i + 1
                    ),
                ));
            }
            for p in t.publish.iter().chain(&t.subscribe) {
                TopicPattern::parse(p).map_err(|why| ("access.tokens", format!("`{p}`: {why}")))?;
            }
        }
        if self.jwt_secret.is_some() && self.jwt_secret_file.is_some() {
            return Err((
                "access.jwt_secret_file",
                "set jwt_secret or jwt_secret_file, not both".into(),
            ));
        }
        if let Some(s) = &self.jwt_secret {
            check_secret(&s.0).map_err(|why| ("access.jwt_secret", why))?;
        }
        if self.token_cookie.is_empty() || !self.token_cookie.bytes().all(is_token_byte) {
            return Err(("access.token_cookie", "must be a non-empty cookie name".into()));
        }
        Ok(())
    }
}

/// A JWT secret must be at least [`MIN_JWT_SECRET`] bytes.
pub(crate) fn check_secret(s: &str) -> Result<(), String> {
    if s.len() < MIN_JWT_SECRET {
        return Err(format!("must be at least {MIN_JWT_SECRET} bytes (it is {})", s.len()));
    }
    Ok(())
}

/// Printable ASCII that needs no quoting in a header, a query or a cookie value.
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b',' | b';' | b'"' | b'\\')
}
