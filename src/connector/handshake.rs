//! The client side of the opening handshake (RFC 6455 §4.1): the request a connector sends, and
//! the checks on the server's response, parsed with `httparse`.
//!
//! The response must be `101`, with `Upgrade: websocket`, `Connection: Upgrade`, the
//! `Sec-WebSocket-Accept` derived from our key, and, when a subprotocol was requested, that
//! subprotocol. A connector with `compression` offers permessage-deflate; the server may accept
//! it (a valid RFC 7692 answer, checked by `deflate::accept_response`) or not. Without the offer
//! any extension in the response is refused. Anything else fails the attempt with a
//! [`HandshakeError`] that names what was wrong; the connector then backs off and retries.

use std::fmt;

use crate::connector::url::WsUrl;
use crate::deflate::{self, Receive};

/// Why an upstream's handshake response was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// The upstream answered with another status than `101` (a redirect is not followed: fix
    /// the URL). Carries the status line's code and reason, and `Location` if any.
    Status {
        /// The status code.
        code: u16,
        /// The reason phrase.
        reason: String,
        /// The `Location` header of a redirect.
        location: Option<String>,
    },
    /// The response is not a WebSocket upgrade (a header is missing or wrong).
    NotUpgrade(&'static str),
    /// `Sec-WebSocket-Accept` does not match the key we sent: not a WebSocket server, or a proxy
    /// in the way.
    BadAccept,
    /// The server enabled an extension we did not offer.
    Extension(String),
    /// The server's answer to our permessage-deflate offer is not valid RFC 7692: the header,
    /// and what is wrong with it.
    BadExtension(String, String),
    /// The server chose no subprotocol, or one we did not request.
    Subprotocol {
        /// What we asked for.
        requested: String,
        /// What the server answered (`None`: no `Sec-WebSocket-Protocol` header).
        got: Option<String>,
    },
    /// The response head is not valid HTTP.
    Malformed(String),
    /// The response head is larger than `max_header_bytes` or has more than `max_headers`.
    TooLarge,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Status { code, reason, location: Some(l) } => {
                write!(f, "handshake refused: HTTP {code} {reason} (redirects are not followed; Location: {l})")
            }
            HandshakeError::Status { code, reason, location: None } => {
                write!(f, "handshake refused: HTTP {code} {reason}")
            }
            HandshakeError::NotUpgrade(why) => write!(f, "handshake failed: {why}"),
            HandshakeError::BadAccept => {
                f.write_str("handshake failed: wrong Sec-WebSocket-Accept for the key sent")
            }
            HandshakeError::Extension(e) => {
                write!(
                    f,
                    "handshake failed: the server enabled extension `{e}`, which was not offered"
                )
            }
            HandshakeError::BadExtension(e, why) => {
                write!(f, "handshake failed: invalid permessage-deflate answer `{e}`: {why}")
            }
            HandshakeError::Subprotocol { requested, got: None } => {
                write!(f, "handshake failed: subprotocol `{requested}` was requested, the server chose none")
            }
            HandshakeError::Subprotocol { requested, got: Some(g) } => write!(
                f,
                "handshake failed: subprotocol `{requested}` was requested, the server chose `{g}`"
            ),
            HandshakeError::Malformed(e) => write!(f, "handshake failed: malformed response: {e}"),
            HandshakeError::TooLarge => f.write_str("handshake failed: response head too large"),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// The upgrade request for `url` with `key` (base64 of 16 random bytes), offering no
/// extension.
#[cfg(test)]
pub(crate) fn request(
    url: &WsUrl,
    key: &str,
    subprotocol: Option<&str>,
    headers: &[(String, String)],
) -> Vec<u8> {
    request_offering(url, key, subprotocol, headers, false)
}

/// The upgrade request, offering permessage-deflate ([`deflate::CLIENT_OFFER`]) when
/// `compression` is set.
pub(crate) fn request_offering(
    url: &WsUrl,
    key: &str,
    subprotocol: Option<&str>,
    headers: &[(String, String)],
    compression: bool,
) -> Vec<u8> {
    let mut r = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
        url.target,
        url.host_header()
    );
    if let Some(p) = subprotocol {
        r.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    if compression {
        r.push_str(&format!("Sec-WebSocket-Extensions: {}\r\n", deflate::CLIENT_OFFER));
    }
    let mut agent = true;
    for (name, value) in headers {
        agent &= !name.eq_ignore_ascii_case("user-agent");
        r.push_str(&format!("{name}: {value}\r\n"));
    }
    if agent {
        r.push_str(concat!("User-Agent: sluice/", env!("CARGO_PKG_VERSION"), "\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// Headers a connector must not set itself: the handshake owns them.
const RESERVED: &[&str] = &[
    "host",
    "upgrade",
    "connection",
    "content-length",
    "transfer-encoding",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
];

/// Check an extra request header; the error says what is wrong.
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("`{name}` is not a valid header name"));
    }
    if RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
        return Err(format!(
            "header `{name}` is set by the handshake itself (use `subprotocol` for Sec-WebSocket-Protocol)"
        ));
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(format!("the value of header `{name}` contains a control character"));
    }
    Ok(())
}

/// Check a subprotocol name (an HTTP token).
pub(crate) fn check_subprotocol(p: &str) -> Result<(), String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if p.is_empty() || !p.bytes().all(token) {
        return Err(format!("`{p}` is not a valid subprotocol name (an HTTP token)"));
    }
    Ok(())
}

/// A valid upgrade response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Upgraded {
    /// Length of the response head: what follows in the buffer is frames.
    pub(crate) len: usize,
    /// How the server's compressed messages are to be read (`Receive::Off`: none agreed).
    pub(crate) deflate: Receive,
}

/// Check the response head at the start of `buf`, no extension offered. `Ok(None)`: not
/// complete yet; `Ok(Some(len))`: a valid upgrade whose head is `len` bytes.
#[cfg(test)]
pub(crate) fn check_response(
    buf: &[u8],
    accept: &str,
    subprotocol: Option<&str>,
    max_headers: usize,
    max_bytes: usize,
) -> Result<Option<usize>, HandshakeError> {
    check_response_with(buf, accept, subprotocol, false, max_headers, max_bytes)
        .map(|up| up.map(|u| u.len))
}

/// Check the response head at the start of `buf` to a request made with
/// [`request_offering`]`(…, compression)`. `Ok(None)`: not complete yet.
pub(crate) fn check_response_with(
    buf: &[u8],
    accept: &str,
    subprotocol: Option<&str>,
    compression: bool,
    max_headers: usize,
    max_bytes: usize,
) -> Result<Option<Upgraded>, HandshakeError> {
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut resp = httparse::Response::new(&mut headers);
    let window = &buf[..buf.len().min(max_bytes)];
    let len = match resp.parse(window) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= max_bytes => {
            return Err(HandshakeError::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::TooLarge),
        Err(e) => return Err(HandshakeError::Malformed(e.to_string())),
    };
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
    };
    let has_token = |name: &str, token: &str| {
        resp.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)).any(|h| {
            String::from_utf8_lossy(h.value)
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    let code = resp.code.unwrap_or(0);
    if code != 101 {
        return Err(HandshakeError::Status {
            code,
            reason: resp.reason.unwrap_or("").to_string(),
            location: header("location"),
        });
    }
    if !has_token("upgrade", "websocket") {
        return Err(HandshakeError::NotUpgrade("the response has no `Upgrade: websocket`"));
    }
    if !has_token("connection", "upgrade") {
        return Err(HandshakeError::NotUpgrade("the response has no `Connection: Upgrade`"));
    }
    if header("sec-websocket-accept").as_deref() != Some(accept) {
        return Err(HandshakeError::BadAccept);
    }
    let extensions: Vec<String> = resp
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    let deflate = match (extensions.is_empty(), compression) {
        (true, _) => Receive::Off,
        (false, false) => return Err(HandshakeError::Extension(extensions.join(", "))),
        (false, true) => deflate::accept_response(extensions.iter().map(String::as_str))
            .map_err(|why| HandshakeError::BadExtension(extensions.join(", "), why))?,
    };
    let chosen = header("sec-websocket-protocol").filter(|p| !p.is_empty());
    match (subprotocol, chosen) {
        (None, None) => {}
        (Some(want), Some(got)) if want == got => {}
        (Some(want), got) => {
            return Err(HandshakeError::Subprotocol { requested: want.to_string(), got })
        }
        (None, Some(got)) => {
            return Err(HandshakeError::Subprotocol { requested: "(none)".into(), got: Some(got) })
        }
    }
    Ok(Some(Upgraded { len, deflate }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn response(extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n{extra}\r\n"
        )
    }

    fn check(resp: &str, proto: Option<&str>) -> Result<Option<usize>, HandshakeError> {
        check_response(resp.as_bytes(), ACCEPT, proto, 32, 8192)
    }

    #[test]
    fn the_request_has_the_rfc_headers_and_the_extras() {
        let url = WsUrl::parse("ws://feed.example:9001/v1/trades?x=1").unwrap();
        let headers = vec![("Authorization".to_string(), "Bearer t".to_string())];
        let r = String::from_utf8(request(&url, KEY, Some("v1.feed"), &headers)).unwrap();
        assert!(r.starts_with("GET /v1/trades?x=1 HTTP/1.1\r\nHost: feed.example:9001\r\n"), "{r}");
        for h in [
            "Upgrade: websocket\r\n",
            "Connection: Upgrade\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            "Sec-WebSocket-Version: 13\r\n",
            "Sec-WebSocket-Protocol: v1.feed\r\n",
            "Authorization: Bearer t\r\n",
            "User-Agent: sluice/",
        ] {
            assert!(r.contains(h), "missing {h:?} in {r}");
        }
        assert!(r.ends_with("\r\n\r\n"));
        // The request parses as a valid upgrade.
        let mut hs = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut hs);
        assert!(req.parse(r.as_bytes()).unwrap().is_complete());
        assert_eq!(tungstenite::handshake::derive_accept_key(KEY.as_bytes()), ACCEPT);
    }

    #[test]
    fn a_valid_response_is_accepted_in_pieces() {
        let r = response("");
        for cut in 0..r.len() {
            assert_eq!(check(&r[..cut], None), Ok(None), "cut at {cut}");
        }
        assert_eq!(check(&r, None), Ok(Some(r.len())));
        let with_frames = format!("{r}\u{81}\u{0}");
        assert_eq!(check(&with_frames, None), Ok(Some(r.len())));
        let r = response("Sec-WebSocket-Protocol: v1\r\n");
        assert_eq!(check(&r, Some("v1")), Ok(Some(r.len())));
        let r = "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n\
                 sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(check(r, None), Ok(Some(r.len())));
    }

    #[test]
    fn bad_responses_say_what_is_wrong() {
        let e = check("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", None).unwrap_err();
        assert_eq!(e.to_string(), "handshake refused: HTTP 404 Not Found");
        let e = check("HTTP/1.1 301 Moved\r\nLocation: ws://b/\r\n\r\n", None).unwrap_err();
        assert!(e.to_string().contains("Location: ws://b/"), "{e}");
        let wrong = response("").replace(ACCEPT, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert_eq!(check(&wrong, None), Err(HandshakeError::BadAccept));
        let no_upgrade = response("").replace("Upgrade: websocket\r\n", "");
        assert!(matches!(check(&no_upgrade, None), Err(HandshakeError::NotUpgrade(_))));
        let no_conn = response("").replace("Connection: Upgrade\r\n", "Connection: close\r\n");
        assert!(matches!(check(&no_conn, None), Err(HandshakeError::NotUpgrade(_))));
        let ext = response("Sec-WebSocket-Extensions: permessage-deflate\r\n");
        assert!(matches!(check(&ext, None), Err(HandshakeError::Extension(_))));
        assert!(matches!(
            check(&response(""), Some("v1")),
            Err(HandshakeError::Subprotocol { got: None, .. })
        ));
        let other = response("Sec-WebSocket-Protocol: v2\r\n");
        assert!(check(&other, Some("v1")).unwrap_err().to_string().contains("chose `v2`"));
        assert!(matches!(check(&other, None), Err(HandshakeError::Subprotocol { .. })));
        assert!(matches!(check("HTTP/1.1 1o1 x\r\n\r\n", None), Err(HandshakeError::Malformed(_))));
        let big = format!("HTTP/1.1 101 OK\r\nX: {}\r\n", "a".repeat(9000));
        assert_eq!(check(&big, None), Err(HandshakeError::TooLarge));
        let many: String = (0..40).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(check(&response(&many), None), Err(HandshakeError::TooLarge));
    }

    #[test]
    fn permessage_deflate_is_offered_and_its_answer_checked() {
        let url = WsUrl::parse("ws://feed.example/x").unwrap();
        let plain = String::from_utf8(request(&url, KEY, None, &[])).unwrap();
        assert!(!plain.contains("Sec-WebSocket-Extensions"), "{plain}");
        let offer = String::from_utf8(request_offering(&url, KEY, None, &[], true)).unwrap();
        assert!(
            offer.contains(
                "\r\nSec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; \
                 client_max_window_bits\r\n"
            ),
            "{offer}"
        );
        let check = |resp: &str, offered: bool| {
            check_response_with(resp.as_bytes(), ACCEPT, None, offered, 32, 8192)
        };
        // Offered and accepted: how to read the server's messages.
        let r = response(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
        );
        assert_eq!(
            check(&r, true),
            Ok(Some(Upgraded { len: r.len(), deflate: Receive::NoContext }))
        );
        let r =
            response("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n");
        let up = check(&r, true).unwrap().unwrap();
        assert_eq!(up.deflate, Receive::Context { window_bits: 10 });
        // Offered and declined: an ordinary connection.
        let r = response("");
        assert_eq!(check(&r, true), Ok(Some(Upgraded { len: r.len(), deflate: Receive::Off })));
        // Offered, and answered wrongly.
        let r =
            response("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=16\r\n");
        let e = check(&r, true).unwrap_err();
        assert!(matches!(e, HandshakeError::BadExtension(..)), "{e}");
        assert!(e.to_string().contains("window size"), "{e}");
        let r = response(
            "Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Extensions: x-other\r\n",
        );
        assert!(check(&r, true).unwrap_err().to_string().contains("2 extensions"));
        // Not offered: any extension is refused, as before.
        let r = response("Sec-WebSocket-Extensions: permessage-deflate\r\n");
        assert!(matches!(check(&r, false), Err(HandshakeError::Extension(_))));
    }

    #[test]
    fn extra_headers_are_checked() {
        assert!(check_header("Authorization", "Bearer x").is_ok());
        assert!(check_header("Origin", "https://a.example").is_ok());
        assert!(check_header("Host", "x").unwrap_err().contains("set by the handshake"));
        assert!(check_header("sec-websocket-protocol", "x").is_err());
        assert!(check_header("Bad Name", "x").unwrap_err().contains("not a valid header name"));
        assert!(check_header("X", "a\r\nInjected: 1").unwrap_err().contains("control"));
        assert!(check_subprotocol("v1.feed").is_ok());
        assert!(check_subprotocol("a b").is_err());
        assert!(check_subprotocol("").is_err());
    }
}
