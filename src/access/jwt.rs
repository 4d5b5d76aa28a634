//! HS256 JSON Web Tokens (RFC 7519 with RFC 7515 compact serialization), verified with ring's
//! HMAC-SHA256.
//!
//! Only `alg: HS256` is accepted (never `none`, never an algorithm named by the token alone).
//! The signature is checked in constant time before the claims are read. `exp` is required and
//! `nbf` is honoured; both are seconds since the Unix epoch. Rights come from the claims
//! `publish` and `subscribe`: arrays of topic patterns (absent: none).

use std::fmt;

use data_encoding::BASE64URL_NOPAD;
use ring::hmac;
use serde::Deserialize;

use super::rights::Rights;

/// Why a token was refused. All of them answer `401`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JwtError {
    /// Not three base64url segments of JSON.
    Malformed(&'static str),
    /// An `alg` other than `HS256`.
    Algorithm(String),
    /// The signature does not verify with the configured secret.
    Signature,
    /// No `exp` claim.
    NoExpiry,
    /// `exp` has passed.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// A `publish`/`subscribe` claim is not a list of valid topic patterns.
    Rights(String),
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::Malformed(why) => write!(f, "malformed token: {why}"),
            JwtError::Algorithm(a) => {
                write!(f, "token algorithm `{a}` is not accepted (HS256 only)")
            }
            JwtError::Signature => f.write_str("token signature does not verify"),
            JwtError::NoExpiry => f.write_str("token has no `exp` claim"),
            JwtError::Expired => f.write_str("token has expired"),
            JwtError::NotYetValid => f.write_str("token is not valid yet (`nbf`)"),
            JwtError::Rights(why) => write!(f, "token rights: {why}"),
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct Claims {
    exp: Option<f64>,
    nbf: Option<f64>,
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    subscribe: Vec<String>,
}

/// A verified token: its rights and its expiry (Unix seconds).
#[derive(Debug)]
pub(crate) struct Verified {
    pub(crate) rights: Rights,
    pub(crate) exp: f64,
}

/// Whether `token` has the shape of a compact JWT (three segments).
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

/// Verify an HS256 token at `now` (Unix seconds).
pub(crate) fn verify(token: &str, key: &hmac::Key, now: f64) -> Result<Verified, JwtError> {
    let mut parts = token.splitn(3, '.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed("expected header.payload.signature"));
    };
    let header: Header =
        decode_json(h).ok_or(JwtError::Malformed("header is not base64url JSON"))?;
    if header.alg != "HS256" {
        return Err(JwtError::Algorithm(header.alg.chars().take(16).collect()));
    }
    let sig = BASE64URL_NOPAD
        .decode(s.as_bytes())
        .map_err(|_| JwtError::Malformed("signature is not base64url"))?;
    let signed = &token[..h.len() + 1 + p.len()];
    hmac::verify(key, signed.as_bytes(), &sig).map_err(|_| JwtError::Signature)?;
    let claims: Claims =
        decode_json(p).ok_or(JwtError::Malformed("payload is not base64url JSON"))?;
    let exp = claims.exp.filter(|e| e.is_finite()).ok_or(JwtError::NoExpiry)?;
    if now >= exp {
        return Err(JwtError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf.is_nan() || nbf > now) {
        return Err(JwtError::NotYetValid);
    }
    let rights = Rights::parse(&claims.publish, &claims.subscribe).map_err(JwtError::Rights)?;
    Ok(Verified { rights, exp })
}

fn decode_json<T: for<'de> Deserialize<'de>>(segment: &str) -> Option<T> {
    let bytes = BASE64URL_NOPAD.decode(segment.as_bytes()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Sign claims with HS256 (for the unit tests).
#[cfg(test)]
pub(crate) fn sign_hs256(secret: &[u8], claims_json: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut token = BASE64URL_NOPAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    token.push('.');
    token.push_str(&BASE64URL_NOPAD.encode(claims_json.as_bytes()));
    let sig = hmac::sign(&key, token.as_bytes());
    token.push('.');
    token.push_str(&BASE64URL_NOPAD.encode(sig.as_ref()));
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn key() -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, SECRET)
    }

    #[test]
    fn a_signed_token_verifies_and_carries_rights() {
        let t = sign_hs256(SECRET, r#"{"exp":2000,"publish":["a"],"subscribe":["b.*"]}"#);
        assert!(looks_like_jwt(&t));
        let v = verify(&t, &key(), 1000.0).unwrap();
        assert!(v.rights.may_publish("a"));
        assert!(v.rights.may_subscribe("b.c"));
        assert!(!v.rights.may_subscribe("a"));
        assert_eq!(verify(&t, &key(), 2000.0).unwrap_err(), JwtError::Expired);
    }

    #[test]
    fn forged_and_odd_tokens_are_refused() {
        let t = sign_hs256(b"another secret, also 32 bytes lo", r#"{"exp":2000}"#);
        assert_eq!(verify(&t, &key(), 1.0).unwrap_err(), JwtError::Signature);
        let none = format!(
            "{}.{}.",
            BASE64URL_NOPAD.encode(br#"{"alg":"none"}"#),
            BASE64URL_NOPAD.encode(br#"{"exp":2000}"#)
        );
        assert!(matches!(verify(&none, &key(), 1.0), Err(JwtError::Algorithm(_))));
        let t = sign_hs256(SECRET, r#"{"publish":["a"]}"#);
        assert_eq!(verify(&t, &key(), 1.0).unwrap_err(), JwtError::NoExpiry);
        let t = sign_hs256(SECRET, r#"{"exp":2000,"nbf":1500}"#);
        assert_eq!(verify(&t, &key(), 1000.0).unwrap_err(), JwtError::NotYetValid);
        let t = sign_hs256(SECRET, r#"{"exp":2000,"publish":["no spaces"]}"#);
        assert!(matches!(verify(&t, &key(), 1.0), Err(JwtError::Rights(_))));
        for junk in ["", "a.b.c", "..", "x.y", "!!!.???.***"] {
            assert!(verify(junk, &key(), 1.0).is_err(), "{junk}");
        }
        // Tampered payload.
        let t = sign_hs256(SECRET, r#"{"exp":2000,"publish":["a"]}"#);
        let mut parts: Vec<&str> = t.split('.').collect();
        let evil = BASE64URL_NOPAD.encode(br#"{"exp":2000,"publish":["*"]}"#);
        parts[1] = &evil;
        assert_eq!(verify(&parts.join("."), &key(), 1.0).unwrap_err(), JwtError::Signature);
    }
}
