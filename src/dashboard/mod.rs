//! The dashboard: a single page served from the binary, and the live feed it reads.
//!
//! `GET /` returns the page; its stylesheet and script are `/_sluice/dashboard.css` and
//! `/_sluice/dashboard.js`. All three are compiled into the binary (`include_str!`) and load
//! nothing from anywhere else, so the page works offline and behind any firewall. A strict
//! `Content-Security-Policy` keeps it that way.
//!
//! The page opens a WebSocket to [`FEED_PATH`] for the relay's numbers (see [`feed`]), and the
//! topic viewer uses the ordinary `/sub/<topic>` and `/pub/<topic>` endpoints: it is a client
//! like any other.
//!
//! The browser client `sluice.js` (see `docs/sluice-js.md`) is compiled in beside them and served
//! at [`CLIENT_PATH`] by every relay, with the dashboard or without it: pages of any origin may
//! import it.

pub(crate) mod feed;

use crate::conn::http::Response;

/// The WebSocket path of the live feed.
pub const FEED_PATH: &str = "/_sluice/stats";

const INDEX_HTML: &str = include_str!("assets/index.html");
const DASHBOARD_CSS: &str = include_str!("assets/dashboard.css");
const DASHBOARD_JS: &str = include_str!("assets/dashboard.js");
const SLUICE_JS: &str = include_str!("assets/sluice.js");

/// The path of the browser client, `sluice.js`.
pub const CLIENT_PATH: &str = "/_sluice/sluice.js";

/// Nothing but this origin: scripts, styles, and WebSocket connections back to the relay.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The response for a dashboard asset path, if `path` is one.
pub(crate) fn asset(path: &str) -> Option<Response> {
    let (content_type, body) = match path {
        "/" | "/index.html" => ("text/html; charset=utf-8", INDEX_HTML),
        "/_sluice/dashboard.css" => ("text/css; charset=utf-8", DASHBOARD_CSS),
        "/_sluice/dashboard.js" => ("text/javascript; charset=utf-8", DASHBOARD_JS),
        _ => return None,
    };
    let mut resp = Response::new(200, content_type, body);
    resp.headers.push(("Cache-Control".into(), "no-cache".into()));
    resp.headers.push(("X-Content-Type-Options".into(), "nosniff".into()));
    resp.headers.push(("Content-Security-Policy".into(), CSP.into()));
    Some(resp)
}

/// The browser client, if `path` is [`CLIENT_PATH`]. A public file: any origin may load it.
pub(crate) fn client(path: &str) -> Option<Response> {
    if path != CLIENT_PATH {
        return None;
    }
    let mut resp = Response::new(200, "text/javascript; charset=utf-8", SLUICE_JS);
    resp.headers.push(("Cache-Control".into(), "no-cache".into()));
    resp.headers.push(("X-Content-Type-Options".into(), "nosniff".into()));
    resp.headers.push(("Access-Control-Allow-Origin".into(), "*".into()));
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_load_nothing_from_elsewhere() {
        for body in [INDEX_HTML, DASHBOARD_CSS, DASHBOARD_JS, SLUICE_JS] {
            // The inline SVG icon's XML namespace is a name, not a request.
            let body = body.replace("http://www.w3.org/2000/svg", "");
            for needle in ["http://", "https://", "//cdn", "@import", "fonts.googleapis"] {
                assert!(!body.contains(needle), "an asset refers to {needle}");
            }
        }
        assert!(INDEX_HTML.contains("/_sluice/dashboard.js"));
        assert!(DASHBOARD_JS.contains(FEED_PATH));
    }
}
