//! Answering a request under the static prefix, from the files in memory.
//!
//! 1. The path below the prefix is split on `/` and each segment percent-decoded. A segment
//!    that decodes to `.` or `..`, holds an encoded `/` or `\` (`%2F`, `%5C`), a backslash or a
//!    NUL byte, a bad escape, or bytes that are not UTF-8 is refused with `400`: nothing is
//!    looked up.
//! 2. A path ending in `/` means its `index.html`. The bare prefix without its last `/`
//!    (`/app`), and a directory named without its `/`, are redirected (`301`) to the form with
//!    the `/`, so relative links in the page resolve.
//! 3. A file not loaded: `404`. A file loaded: `200` with its content type, `ETag`,
//!    `Last-Modified`, `Cache-Control: no-cache` and `X-Content-Type-Options: nosniff`, or `304`
//!    when `If-None-Match` matches its tag (weak comparison, `*` matches) or, without
//!    `If-None-Match`, when `If-Modified-Since` is not older than its modification time.

use super::{date, File, StaticFiles};
use crate::conn::http::{Request, Response};

/// What the router does with a path.
#[derive(Debug)]
pub(crate) enum Route {
    /// Not under the static prefix.
    NotMine,
    /// A loaded file: answer with [`StaticFiles::respond`], which reads the request's
    /// conditional headers.
    File,
    /// An answer that needs no request header: a redirect, `400` or `404`.
    Answer(Response),
}

impl StaticFiles {
    /// Route a request path (without its query string).
    pub(crate) fn route(&self, path: &str) -> Route {
        match self.lookup(path) {
            None => Route::NotMine,
            Some(Ok(_)) => Route::File,
            Some(Err(resp)) => Route::Answer(resp),
        }
    }

    /// The answer to a `GET` or `HEAD` of `path` (one [`StaticFiles::route`] found).
    pub(crate) fn respond(&self, path: &str, request: &Request<'_>) -> Response {
        let file = match self.lookup(path) {
            Some(Ok(file)) => file,
            Some(Err(resp)) => return resp,
            None => return Response::error(404, "no such file"),
        };
        if not_modified(file, request) {
            let mut resp = Response { status: 304, headers: Vec::new(), body: Vec::new() };
            cache_headers(&mut resp, file);
            return resp;
        }
        let mut resp = Response::new(200, file.content_type, file.body.clone());
        cache_headers(&mut resp, file);
        resp.headers.push(("X-Content-Type-Options".into(), "nosniff".into()));
        resp
    }

    /// The file for `path`, an answer without one, or `None` when the path is not ours.
    fn lookup(&self, path: &str) -> Option<Result<&File, Response>> {
        if path.len() + 1 == self.prefix.len() && self.prefix.starts_with(path) {
            return Some(Err(redirect(&self.prefix)));
        }
        let rest = path.strip_prefix(self.prefix.as_str())?;
        let mut key = match decode(rest) {
            Ok(key) => key,
            Err(why) => {
                return Some(Err(Response::error(400, &format!("refused static path: {why}"))))
            }
        };
        if key.is_empty() || key.ends_with('/') {
            key.push_str("index.html");
        }
        if let Some(file) = self.get(&key) {
            return Some(Ok(file));
        }
        if self.get(&format!("{key}/index.html")).is_some() {
            return Some(Err(redirect(&format!("{path}/"))));
        }
        Some(Err(Response::error(404, "no such file")))
    }
}

fn redirect(to: &str) -> Response {
    let mut resp = Response::text(301, format!("moved to {to}\n"));
    resp.headers.push(("Location".into(), to.into()));
    resp
}

fn cache_headers(resp: &mut Response, file: &File) {
    resp.headers.push(("ETag".into(), file.etag.clone()));
    if let Some(secs) = file.modified {
        resp.headers.push(("Last-Modified".into(), date::format(secs)));
    }
    resp.headers.push(("Cache-Control".into(), "no-cache".into()));
}

/// Whether the client's copy is current (RFC 9110 §13.1.2, §13.1.3, §13.2.2).
fn not_modified(file: &File, request: &Request<'_>) -> bool {
    let mut tags = request.header_values("if-none-match").peekable();
    if tags.peek().is_some() {
        return tags
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == file.etag);
    }
    match (request.header("if-modified-since").and_then(date::parse), file.modified) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// The file key of a request path below the prefix: segments percent-decoded and checked.
fn decode(rest: &str) -> Result<String, &'static str> {
    let mut key = String::with_capacity(rest.len());
    for (i, segment) in rest.split('/').enumerate() {
        if i > 0 {
            key.push('/');
        }
        let mut bytes = Vec::with_capacity(segment.len());
        let mut raw = segment.bytes();
        while let Some(b) = raw.next() {
            if b != b'%' {
                bytes.push(b);
                continue;
            }
            let hex = |c: Option<u8>| c.and_then(|c| (c as char).to_digit(16));
            let (Some(hi), Some(lo)) = (hex(raw.next()), hex(raw.next())) else {
                return Err("a malformed percent-escape");
            };
            let b = (hi * 16 + lo) as u8;
            if b == b'/' || b == b'\\' {
                return Err("an encoded `/` or `\\`");
            }
            bytes.push(b);
        }
        let segment = std::str::from_utf8(&bytes).map_err(|_| "a path that is not UTF-8")?;
        if segment == "." || segment == ".." {
            return Err("a `.` or `..` segment");
        }
        if segment.contains(['\\', '\0']) {
            return Err("a backslash or a NUL byte");
        }
        key.push_str(segment);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decoding() {
        assert_eq!(decode(""), Ok(String::new()));
        assert_eq!(decode("js/app.js"), Ok("js/app.js".into()));
        assert_eq!(decode("a%20b/c%C3%A9.txt"), Ok("a b/cé.txt".into()));
        assert_eq!(decode("dir/"), Ok("dir/".into()));
        for bad in [
            "..",
            "a/../b",
            "%2e%2e/x",
            "%2E%2E",
            ".%2e/x",
            "./x",
            "a%2fb",
            "a%2F..%2Fb",
            "a%5cb",
            "a\\b",
            "a%00b",
            "a%zz",
            "a%2",
            "a%+f",
            "%ff",
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
