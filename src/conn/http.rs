//! HTTP/1.1 with `httparse`: request heads, the RFC 6455 §4.2 upgrade checks, and responses.
//!
//! The reactor keeps a connection's bytes until a whole request head is present (it may arrive
//! one byte at a time), bounded by `max_header_bytes` and `max_headers` (`431` past either).
//! Bytes after the head are left in place for whatever follows: the next pipelined request, or
//! WebSocket frames after the upgrade.

use std::fmt::Write as _;

/// A parsed request head, borrowed from the connection's buffer. Custom HTTP endpoints receive it.
#[derive(Debug)]
pub struct Request<'a> {
    method: &'a str,
    target: &'a str,
    minor_version: u8,
    headers: &'a [httparse::Header<'a>],
}

impl<'a> Request<'a> {
    /// The method, e.g. `GET`.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The path, without the query string.
    pub fn path(&self) -> &'a str {
        self.target.split_once('?').map_or(self.target, |(p, _)| p)
    }

    /// The query string (after `?`), if any.
    pub fn query(&self) -> Option<&'a str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The first header with this name (case-insensitive), if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    }

    /// Every header named `name` (case-insensitive) that is valid UTF-8, trimmed.
    pub(crate) fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    }

    /// True if any header `name` holds `token` in its comma-separated list (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)).any(|h| {
            std::str::from_utf8(h.value)
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    }

    /// HTTP/1.1 (or later) rather than HTTP/1.0.
    pub fn is_http11(&self) -> bool {
        self.minor_version >= 1
    }

    /// Whether the client wants the connection kept open after the response.
    pub fn keep_alive(&self) -> bool {
        if self.is_http11() {
            !self.has_token("connection", "close")
        } else {
            self.has_token("connection", "keep-alive")
        }
    }

    /// Whether the request announces a body, which Sluice's endpoints never accept.
    pub(crate) fn has_body(&self) -> bool {
        self.header("transfer-encoding").is_some()
            || self.header("content-length").is_some_and(|v| v != "0")
    }
}

/// Outcome of parsing the start of a connection's buffer.
#[derive(Debug)]
pub(crate) enum Parsed<'a> {
    /// Not a whole head yet (and under the limits).
    Partial,
    /// A whole head of `len` bytes.
    Complete { len: usize, request: Request<'a> },
    /// A bad request: answer with this response and close.
    Invalid(Response),
}

/// Parse a request head from `buf`, enforcing the header limits.
pub(crate) fn parse_request<'h, 'b: 'h>(
    buf: &'b [u8],
    headers: &'h mut [httparse::Header<'b>],
    max_header_bytes: usize,
) -> Parsed<'h> {
    let window = &buf[..buf.len().min(max_header_bytes)];
    let max_headers = headers.len();
    let mut req = httparse::Request::new(headers);
    match req.parse(window) {
        Ok(httparse::Status::Complete(len)) => Parsed::Complete {
            len,
            request: Request {
                method: req.method.unwrap_or(""),
                target: req.path.unwrap_or(""),
                minor_version: req.version.unwrap_or(0),
                headers: req.headers,
            },
        },
        Ok(httparse::Status::Partial) if buf.len() >= max_header_bytes => Parsed::Invalid(
            Response::error(431, &format!("request header section over {max_header_bytes} bytes")),
        ),
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => Parsed::Invalid(Response::error(
            431,
            &format!("more than {} request headers", max_headers),
        )),
        Err(e) => Parsed::Invalid(Response::error(400, &format!("malformed request: {e}"))),
    }
}

/// Check a WebSocket upgrade request (RFC 6455 §4.2.1) and return its `Sec-WebSocket-Accept`.
pub(crate) fn check_upgrade(req: &Request<'_>) -> Result<String, Response> {
    if req.method() != "GET" {
        let mut r = Response::error(405, "WebSocket endpoints accept only GET");
        r.headers.push(("Allow".into(), "GET".into()));
        return Err(r);
    }
    if req.header("upgrade").is_none() {
        let mut r = Response::error(
            426,
            "this is a WebSocket endpoint; send an Upgrade: websocket request",
        );
        r.headers.push(("Upgrade".into(), "websocket".into()));
        r.headers.push(("Sec-WebSocket-Version".into(), "13".into()));
        return Err(r);
    }
    if !req.is_http11() {
        return Err(Response::error(400, "WebSocket upgrade requires HTTP/1.1"));
    }
    if !req.has_token("upgrade", "websocket") {
        return Err(Response::error(400, "Upgrade header must name websocket"));
    }
    if !req.has_token("connection", "upgrade") {
        return Err(Response::error(400, "Connection header must contain the upgrade token"));
    }
    if req.header("sec-websocket-version") != Some("13") {
        let mut r =
            Response::error(426, "unsupported Sec-WebSocket-Version; this server speaks 13");
        r.headers.push(("Sec-WebSocket-Version".into(), "13".into()));
        return Err(r);
    }
    let key = req.header("sec-websocket-key").unwrap_or("");
    if !is_base64_of_16_bytes(key) {
        return Err(Response::error(400, "Sec-WebSocket-Key must be the base64 of 16 bytes"));
    }
    Ok(tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

/// The `101 Switching Protocols` response, with the extra headers given (a chosen
/// subprotocol, a negotiated extension).
pub(crate) fn switching_protocols(accept: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut s = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n"
    );
    for (name, value) in extra {
        let _ = write!(s, "{name}: {value}\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// A base64 string that decodes to exactly 16 bytes: 22 alphabet characters then `==`.
fn is_base64_of_16_bytes(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 24
        && b[22..] == *b"=="
        && b[..22].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// A plain HTTP response. Custom endpoints return one; errors before the upgrade are one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers (`Content-Length` and `Connection` are added when encoding).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a body and a `Content-Type`.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body.into())
    }

    /// An error response whose body says what was wrong.
    pub fn error(status: u16, why: &str) -> Response {
        Response::text(status, format!("{} {}: {why}\n", status, reason_phrase(status)))
    }

    /// Serialize the status line, headers and (unless `head_only`) the body.
    pub(crate) fn encode(&self, keep_alive: bool, head_only: bool) -> Vec<u8> {
        let mut s = String::with_capacity(128 + self.body.len());
        let _ = write!(s, "HTTP/1.1 {} {}\r\n", self.status, reason_phrase(self.status));
        for (k, v) in &self.headers {
            let _ = write!(s, "{k}: {v}\r\n");
        }
        if self.status != 304 {
            let _ = write!(s, "Content-Length: {}\r\n", self.body.len());
        }
        s.push_str(if keep_alive {
            "Connection: keep-alive\r\n\r\n"
        } else {
            "Connection: close\r\n\r\n"
        });
        let mut out = s.into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// The standard reason phrase of a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn parse(raw: &str) -> Result<(usize, Result<String, Response>), Option<Response>> {
        let mut headers = [httparse::EMPTY_HEADER; 8];
        match parse_request(raw.as_bytes(), &mut headers, 512) {
            Parsed::Complete { len, request } => Ok((len, check_upgrade(&request))),
            Parsed::Partial => Err(None),
            Parsed::Invalid(r) => Err(Some(r)),
        }
    }

    fn upgrade(extra: &str) -> String {
        format!("GET /echo HTTP/1.1\r\nHost: x\r\n{extra}\r\n")
    }

    const GOOD: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";

    fn status(raw: &str) -> u16 {
        match parse(raw) {
            Ok((_, Ok(_))) => 101,
            Ok((_, Err(r))) => r.status,
            Err(Some(r)) => r.status,
            Err(None) => 0,
        }
    }

    #[test]
    fn rfc_sample_key_gives_the_rfc_accept() {
        let raw = upgrade(&format!("{GOOD}Sec-WebSocket-Key: {KEY}\r\n"));
        let (len, accept) = parse(&raw).unwrap();
        assert_eq!(len, raw.len());
        assert_eq!(accept.unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn tokens_are_case_insensitive_lists() {
        let raw = upgrade(&format!(
            "upgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\nsec-websocket-version: 13\r\n\
             sec-websocket-key: {KEY}\r\n"
        ));
        assert_eq!(status(&raw), 101);
    }

    #[test]
    fn bad_handshakes_get_their_status() {
        let key = format!("Sec-WebSocket-Key: {KEY}\r\n");
        assert_eq!(status(&upgrade("")), 426, "plain GET");
        assert_eq!(
            status(&upgrade(&format!(
                "Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n{key}"
            ))),
            400
        );
        assert_eq!(status(&upgrade(&format!("Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Version: 13\r\n{key}"))), 400);
        let v8 = upgrade(&format!(
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n{key}"
        ));
        match parse(&v8) {
            Ok((_, Err(r))) => {
                assert_eq!(r.status, 426);
                assert!(r.headers.contains(&("Sec-WebSocket-Version".into(), "13".into())));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(status(&upgrade(GOOD)), 400, "missing key");
        assert_eq!(status(&upgrade(&format!("{GOOD}Sec-WebSocket-Key: c2hvcnQ=\r\n"))), 400);
        assert_eq!(
            status(&upgrade(&format!("{GOOD}Sec-WebSocket-Key: {}\r\n", "!".repeat(24)))),
            400
        );
        let post = format!("POST /echo HTTP/1.1\r\n{GOOD}{key}\r\n");
        assert_eq!(status(&post), 405);
        let http10 = format!("GET /echo HTTP/1.0\r\n{GOOD}{key}\r\n");
        assert_eq!(status(&http10), 400);
    }

    #[test]
    fn header_limits() {
        assert_eq!(status("GET / HTTP/1.1\r\nHost: x\r\n"), 0, "partial");
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(600));
        assert_eq!(status(&long), 431);
        let many: String = (0..9).map(|i| format!("H{i}: v\r\n")).collect();
        assert_eq!(status(&format!("GET / HTTP/1.1\r\n{many}\r\n")), 431);
        assert_eq!(status("GET / HTTP/1.1\r\nBad Header\r\n\r\n"), 400);
    }

    #[test]
    fn every_split_point_parses_the_same() {
        let raw = upgrade(&format!("{GOOD}Sec-WebSocket-Key: {KEY}\r\n")) + "PIPELINED";
        for cut in 0..raw.len() {
            let expect_complete = cut >= raw.len() - "PIPELINED".len();
            match parse(&raw[..cut]) {
                Ok((len, Ok(_))) => {
                    assert!(expect_complete);
                    assert_eq!(len, raw.len() - 9);
                }
                Err(None) => assert!(!expect_complete, "cut {cut}"),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn request_accessors() {
        let raw =
            "GET /x?token=abc HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 3\r\n\r\n";
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let Parsed::Complete { request, .. } = parse_request(raw.as_bytes(), &mut headers, 512)
        else {
            panic!()
        };
        assert_eq!(request.path(), "/x");
        assert_eq!(request.query(), Some("token=abc"));
        assert!(request.keep_alive());
        assert!(request.has_body());
        let resp = Response::text(200, "ok").encode(false, true);
        let text = String::from_utf8(resp).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.ends_with("Content-Length: 2\r\nConnection: close\r\n\r\n"));
    }
}
