//! Static files (`[web] static_dir`): served from memory under the prefix with their content
//! types and caching headers, answered `304` to conditional requests, and nothing outside the
//! directory is reachable: `..`, encoded dots and slashes, backslashes, hidden files and
//! symbolic links leading out are refused.

mod util;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sluice::{Config, Reactor};
use util::{test_config, watchdog, Raw, Relay};

/// A fresh directory for one test.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("static_files").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, rel: &str, body: &[u8]) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

/// A site: an index, a script, a stylesheet, JSON, an image, a page in a sub-directory.
fn site(name: &str) -> PathBuf {
    let dir = fresh_dir(name);
    write(&dir, "index.html", b"<!doctype html><title>home</title>");
    write(&dir, "js/app.js", b"console.log('app');");
    write(&dir, "style.css", b"body { color: red }");
    write(&dir, "data.json", b"{\"a\":1}");
    write(&dir, "logo.png", b"\x89PNG\r\n\x1a\nnot really");
    write(&dir, "notes/index.html", b"<p>notes</p>");
    write(&dir, "LICENSE", b"free");
    dir
}

fn relay(dir: &Path, prefix: &str) -> Relay {
    let mut config = test_config();
    config.web.static_dir = Some(dir.to_path_buf());
    config.web.static_prefix = prefix.into();
    Relay::start_with(config)
}

/// One response: status, head, body.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// `method path` with extra header lines, `Connection: close`, read to EOF.
fn request(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Answer {
    let mut raw = Raw::connect(addr);
    raw.send(
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    );
    let all = raw.read_to_end();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head") + 4;
    let head = String::from_utf8_lossy(&all[..end]).to_string();
    Answer { status: head[9..12].parse().unwrap(), head, body: all[end..].to_vec() }
}

fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, "")
}

#[test]
fn files_are_served_with_their_content_types_and_caching_headers() {
    watchdog(60, || {
        let dir = site("types");
        let relay = relay(&dir, "/app/");
        let cases = [
            ("/app/", "text/html; charset=utf-8", &b"<!doctype html><title>home</title>"[..]),
            ("/app/index.html", "text/html; charset=utf-8", b"<!doctype html><title>home</title>"),
            ("/app/js/app.js", "text/javascript; charset=utf-8", b"console.log('app');"),
            ("/app/js/app.js?v=3", "text/javascript; charset=utf-8", b"console.log('app');"),
            ("/app/style.css", "text/css; charset=utf-8", b"body { color: red }"),
            ("/app/data.json", "application/json", b"{\"a\":1}"),
            ("/app/logo.png", "image/png", b"\x89PNG\r\n\x1a\nnot really"),
            ("/app/notes/", "text/html; charset=utf-8", b"<p>notes</p>"),
            ("/app/LICENSE", "application/octet-stream", b"free"),
        ];
        for (path, content_type, body) in cases {
            let a = get(relay.addr, path);
            assert_eq!(a.status, 200, "{path}: {}", a.head);
            assert_eq!(a.header("content-type").as_deref(), Some(content_type), "{path}");
            assert_eq!(a.body, body, "{path}");
            assert_eq!(a.header("content-length"), Some(body.len().to_string()), "{path}");
            let etag = a.header("etag").expect("ETag");
            assert!(etag.len() == 18 && etag.starts_with('"') && etag.ends_with('"'), "{etag}");
            assert!(a.header("last-modified").expect("Last-Modified").ends_with(" GMT"));
            assert_eq!(a.header("cache-control").as_deref(), Some("no-cache"), "{path}");
            assert_eq!(a.header("x-content-type-options").as_deref(), Some("nosniff"));
        }
        // HEAD: the same head, no body.
        let a = request(relay.addr, "HEAD", "/app/js/app.js", "");
        assert_eq!((a.status, a.body.len()), (200, 0), "{}", a.head);
        assert_eq!(a.header("content-length").as_deref(), Some("19"));
        // Directories without their slash are redirected, so relative links resolve.
        for (path, to) in [("/app", "/app/"), ("/app/notes", "/app/notes/")] {
            let a = get(relay.addr, path);
            assert_eq!(a.status, 301, "{path}: {}", a.head);
            assert_eq!(a.header("location").as_deref(), Some(to), "{path}");
        }
        for path in ["/app/nope.js", "/app/js/", "/app/js//app.js", "/application"] {
            assert_eq!(get(relay.addr, path).status, 404, "{path}");
        }
        // The relay's own endpoints are unchanged.
        assert_eq!(get(relay.addr, "/healthz").status, 200);
        assert_eq!(get(relay.addr, "/").status, 200, "the dashboard");
        let a = request(relay.addr, "POST", "/app/index.html", "Content-Length: 0\r\n");
        assert_eq!(a.status, 405);
    });
}

#[test]
fn conditional_requests_are_answered_304_without_a_body() {
    watchdog(60, || {
        let dir = site("conditional");
        let relay = relay(&dir, "/app/");
        let first = get(relay.addr, "/app/js/app.js");
        let etag = first.header("etag").unwrap();
        let modified = first.header("last-modified").unwrap();
        let cases = [
            (format!("If-None-Match: {etag}\r\n"), 304),
            (format!("If-None-Match: \"0000\", W/{etag}\r\n"), 304),
            ("If-None-Match: *\r\n".to_string(), 304),
            ("If-None-Match: \"0000000000000000\"\r\n".to_string(), 200),
            (format!("If-Modified-Since: {modified}\r\n"), 304),
            ("If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n".to_string(), 200),
            ("If-Modified-Since: yesterday\r\n".to_string(), 200),
            // If-None-Match wins over If-Modified-Since.
            (
                format!("If-None-Match: \"0000000000000000\"\r\nIf-Modified-Since: {modified}\r\n"),
                200,
            ),
        ];
        for (headers, status) in cases {
            let a = request(relay.addr, "GET", "/app/js/app.js", &headers);
            assert_eq!(a.status, status, "{headers}: {}", a.head);
            if status == 304 {
                assert!(a.body.is_empty(), "{headers}");
                assert!(a.head.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{}", a.head);
                assert_eq!(a.header("content-length"), None, "{}", a.head);
                assert_eq!(a.header("etag").as_deref(), Some(&*etag));
            } else {
                assert_eq!(a.body, b"console.log('app');");
            }
        }
        // On a kept-alive connection, a 304 is followed by the next response intact.
        let mut raw = Raw::connect(relay.addr);
        raw.send(
            format!(
                "GET /app/js/app.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n\
                 GET /app/data.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        let mut all = String::new();
        raw.stream.read_to_string(&mut all).unwrap();
        let (first, second) = all.split_once("\r\n\r\n").unwrap();
        assert!(first.starts_with("HTTP/1.1 304"), "{all}");
        assert!(second.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
        assert!(second.ends_with("\r\n\r\n{\"a\":1}"), "{all}");
    });
}

#[test]
fn nothing_outside_the_directory_is_reachable() {
    watchdog(60, || {
        let root = fresh_dir("traversal");
        let www = root.join("www");
        write(&root, "secret.txt", b"TOP SECRET");
        write(&www, "index.html", b"<p>public</p>");
        write(&www, "sub/page.html", b"<p>sub</p>");
        write(&www, ".env", b"TOP SECRET TOO");
        write(&www, ".git/config", b"TOP SECRET THREE");
        std::os::unix::fs::symlink("../secret.txt", www.join("leak.txt")).unwrap();
        std::os::unix::fs::symlink("..", www.join("up")).unwrap();
        std::os::unix::fs::symlink(&root, www.join("root")).unwrap();
        std::os::unix::fs::symlink("index.html", www.join("alias.html")).unwrap();
        std::os::unix::fs::symlink("sub", www.join("also-sub")).unwrap();
        std::os::unix::fs::symlink("..", www.join("sub/loop")).unwrap();
        let relay = relay(&www, "/app/");

        let refused = [
            "/app/../secret.txt",
            "/app/sub/../../secret.txt",
            "/app/%2e%2e/secret.txt",
            "/app/%2E%2E/secret.txt",
            "/app/.%2e/secret.txt",
            "/app/..%2fsecret.txt",
            "/app/sub%2f..%2f..%2fsecret.txt",
            "/app/%2e%2e%2f%2e%2e%2fsecret.txt",
            "/app/..%5csecret.txt",
            "/app/..\\secret.txt",
            "/app/./index.html",
            "/app/sub/%2e/page.html",
            "/app/%00index.html",
            "/app/%zz",
        ];
        for path in refused {
            let a = get(relay.addr, path);
            assert_eq!(a.status, 400, "{path}: {}", a.head);
            assert!(!String::from_utf8_lossy(&a.body).contains("SECRET"), "{path}");
        }
        let not_served = [
            "/app/leak.txt",
            "/app/up/secret.txt",
            "/app/root/secret.txt",
            "/app/.env",
            "/app/.git/config",
            "/app/%2eenv",
            "/app/secret.txt",
            "/app/sub/loop/index.html",
        ];
        for path in not_served {
            let a = get(relay.addr, path);
            assert_eq!(a.status, 404, "{path}: {}", a.head);
            assert!(!String::from_utf8_lossy(&a.body).contains("SECRET"), "{path}");
        }
        // Links that stay inside are followed.
        assert_eq!(get(relay.addr, "/app/alias.html").body, b"<p>public</p>");
        assert_eq!(get(relay.addr, "/app/also-sub/page.html").body, b"<p>sub</p>");
        assert_eq!(get(relay.addr, "/app/sub/page.html").body, b"<p>sub</p>");
        let s = relay.stats();
        let bad_requests =
            s.rejected_by_status.iter().find(|(st, _)| *st == 400).map_or(0, |r| r.1);
        assert!(bad_requests >= refused.len() as u64, "{:?}", s.rejected_by_status);
    });
}

#[test]
fn the_prefix_is_configurable() {
    watchdog(60, || {
        let dir = site("prefix");
        let relay = relay(&dir, "/static/v2/");
        assert_eq!(get(relay.addr, "/static/v2/data.json").body, b"{\"a\":1}");
        assert_eq!(
            get(relay.addr, "/static/v2").header("location").as_deref(),
            Some("/static/v2/")
        );
        assert_eq!(get(relay.addr, "/app/data.json").status, 404);
    });
}

#[test]
fn a_directory_over_the_bound_or_missing_is_an_error_at_bind() {
    watchdog(60, || {
        let dir = fresh_dir("too-big");
        write(&dir, "a.txt", &[b'a'; 600]);
        write(&dir, "b/big.bin", &[b'b'; 600]);
        let mut config: Config = test_config();
        config.web.static_dir = Some(dir.clone());
        config.web.static_max_bytes = 1000;
        let e = Reactor::bind(config.clone()).err().expect("over the bound");
        let shown = e.to_string();
        assert!(shown.contains("big.bin") && shown.contains("static_max_bytes"), "{shown}");
        config.web.static_max_bytes = 1200;
        assert!(Reactor::bind(config.clone()).is_ok());

        config.web.static_dir = Some(dir.join("nope"));
        let shown = Reactor::bind(config).err().expect("missing").to_string();
        assert!(shown.contains("nope"), "{shown}");
    });
}
