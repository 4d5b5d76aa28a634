//! Routing an HTTP request to what serves it: the built-in endpoints of DESIGN.md, and the
//! endpoints an embedding service adds with [`crate::Reactor::add_endpoint`].
//!
//! | path | serves |
//! |---|---|
//! | `/pub/<topic>` | WebSocket; every message is published to `<topic>` |
//! | `/sub/<topic>[,<topic>…]` | WebSocket; receives every message of those topics |
//! | `/echo` | WebSocket; echoes every message |
//! | `/healthz` | plain HTTP `200 ok`: the process is alive and its loop turns |
//! | `/readyz` | plain HTTP `200` when ready to serve (listening), else `503`; the body lists each check |
//! | `/metrics` | the Prometheus text exposition of [`crate::Stats`] |
//! | `/` and `/_sluice/*.{css,js}` | the dashboard page and its assets (unless `metrics.dashboard = false`) |
//! | `/_sluice/stats` | WebSocket; the dashboard's live feed (JSON, once a second) |
//! | `/_sluice/sluice.js` | the browser client (always, with the dashboard or without it) |
//! | `<static_prefix>…` (`/app/…`) | the user's static files, from memory (when `[web] static_dir` is set; see [`crate::web`]) |
//!
//! Custom endpoints are matched first, by exact path; then the built-in paths, the dashboard,
//! the static files, and `/pub/` and `/sub/`.

use std::collections::HashMap;
use std::fmt;

use crate::conn::http::{Request, Response};
use crate::topic::validate_topic;
use crate::web::serve::Route;
use crate::web::StaticFiles;

/// A handler for a custom plain-HTTP endpoint. It runs on the reactor thread, so it must be quick.
pub type HttpHandler = Box<dyn FnMut(&Request<'_>) -> Response + Send>;

/// What a custom path serves.
pub enum Endpoint {
    /// Plain HTTP: the handler answers `GET` and `HEAD` requests.
    Http(HttpHandler),
    /// WebSocket: every message received is published to this topic.
    Publish(String),
    /// WebSocket: receives every message of these topics.
    Subscribe(Vec<String>),
}

impl Endpoint {
    /// A plain-HTTP endpoint from a closure.
    pub fn http(handler: impl FnMut(&Request<'_>) -> Response + Send + 'static) -> Endpoint {
        Endpoint::Http(Box::new(handler))
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Http(_) => f.write_str("Http(..)"),
            Endpoint::Publish(t) => f.debug_tuple("Publish").field(t).finish(),
            Endpoint::Subscribe(t) => f.debug_tuple("Subscribe").field(t).finish(),
        }
    }
}

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// WebSocket publisher on a topic.
    Publish(String),
    /// WebSocket subscriber to topics (validated, deduplicated).
    Subscribe(Vec<String>),
    /// WebSocket echo.
    Echo,
    /// A plain HTTP answer.
    Http(Response),
    /// A custom HTTP endpoint or a static file, by path: answered by [`Routes::call`], which
    /// sees the request's headers.
    Custom(String),
    /// `/metrics`: rendered from the reactor's counters.
    Metrics,
    /// `/readyz`: the reactor's readiness checks.
    Ready,
    /// WebSocket: the dashboard's live feed.
    Feed,
}

/// The routing table.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    custom: HashMap<String, Endpoint>,
    dashboard: bool,
    files: Option<StaticFiles>,
}

impl Routes {
    /// Serve the dashboard page, its assets and its feed.
    pub(crate) fn set_dashboard(&mut self, on: bool) {
        self.dashboard = on;
    }

    /// Serve these static files under their prefix (or none).
    pub(crate) fn set_static(&mut self, files: Option<StaticFiles>) {
        self.files = files;
    }

    pub(crate) fn add(&mut self, path: &str, endpoint: Endpoint) {
        self.custom.insert(path.to_string(), endpoint);
    }

    /// Answer a [`Target::Custom`]: run a custom HTTP handler, or serve a static file.
    pub(crate) fn call(&mut self, path: &str, request: &Request<'_>) -> Response {
        match (self.custom.get_mut(path), &self.files) {
            (Some(Endpoint::Http(h)), _) => h(request),
            (None, Some(files)) => files.respond(path, request),
            _ => Response::error(404, "no such endpoint"),
        }
    }

    /// Resolve a request path.
    pub(crate) fn resolve(&self, path: &str, max_topics: usize) -> Target {
        match self.custom.get(path) {
            Some(Endpoint::Http(_)) => return Target::Custom(path.to_string()),
            Some(Endpoint::Publish(t)) => return Target::Publish(t.clone()),
            Some(Endpoint::Subscribe(t)) => return Target::Subscribe(t.clone()),
            None => {}
        }
        if path == "/echo" {
            return Target::Echo;
        }
        match path {
            "/healthz" => return Target::Http(Response::text(200, "ok\n")),
            "/readyz" => return Target::Ready,
            "/metrics" => return Target::Metrics,
            crate::dashboard::FEED_PATH if self.dashboard => return Target::Feed,
            _ => {}
        }
        if let Some(resp) = crate::dashboard::client(path) {
            return Target::Http(resp);
        }
        if self.dashboard {
            if let Some(resp) = crate::dashboard::asset(path) {
                return Target::Http(resp);
            }
        }
        if let Some(files) = &self.files {
            match files.route(path) {
                Route::NotMine => {}
                Route::File => return Target::Custom(path.to_string()),
                Route::Answer(resp) => return Target::Http(resp),
            }
        }
        if let Some(topic) = path.strip_prefix("/pub/") {
            return match validate_topic(topic) {
                Ok(()) => Target::Publish(topic.to_string()),
                Err(e) => Target::Http(Response::error(400, &e.to_string())),
            };
        }
        if let Some(list) = path.strip_prefix("/sub/") {
            let mut topics: Vec<String> = Vec::new();
            for topic in list.split(',') {
                if let Err(e) = validate_topic(topic) {
                    return Target::Http(Response::error(400, &e.to_string()));
                }
                if !topics.iter().any(|t| t == topic) {
                    topics.push(topic.to_string());
                }
            }
            if topics.len() > max_topics {
                return Target::Http(Response::error(
                    400,
                    &format!("{} topics requested, the limit is {max_topics}", topics.len()),
                ));
            }
            return Target::Subscribe(topics);
        }
        Target::Http(Response::error(
            404,
            "no such endpoint; try /pub/<topic>, /sub/<topic>, /echo, /metrics, /healthz, /readyz",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(t: Target) -> u16 {
        match t {
            Target::Http(r) => r.status,
            _ => 101,
        }
    }

    #[test]
    fn builtin_routes() {
        let r = Routes::default();
        assert_eq!(r.resolve("/pub/trades", 64), Target::Publish("trades".into()));
        assert_eq!(r.resolve("/sub/a,b,a", 64), Target::Subscribe(vec!["a".into(), "b".into()]));
        assert_eq!(r.resolve("/echo", 64), Target::Echo);
        assert_eq!(status(r.resolve("/healthz", 64)), 200);
        assert_eq!(status(r.resolve("/nope", 64)), 404);
        assert_eq!(status(r.resolve("/pub/", 64)), 400);
        assert_eq!(status(r.resolve("/pub/a b", 64)), 400);
        assert_eq!(status(r.resolve("/sub/a,,b", 64)), 400);
        assert_eq!(status(r.resolve("/sub/a,b,c", 2)), 400);
        assert_eq!(status(r.resolve("/pub/x/y", 64)), 400);
        assert_eq!(r.resolve("/metrics", 64), Target::Metrics);
        assert_eq!(r.resolve("/readyz", 64), Target::Ready);
    }

    #[test]
    fn the_dashboard_can_be_turned_off() {
        let mut r = Routes::default();
        assert_eq!(status(r.resolve("/", 64)), 404);
        assert_eq!(status(r.resolve("/_sluice/stats", 64)), 404);
        // The browser client is not part of the dashboard.
        match r.resolve("/_sluice/sluice.js", 64) {
            Target::Http(resp) => {
                assert_eq!(resp.status, 200);
                let kind = ("Content-Type".into(), "text/javascript; charset=utf-8".into());
                assert!(resp.headers.contains(&kind), "{:?}", resp.headers);
            }
            other => panic!("{other:?}"),
        }
        r.set_dashboard(true);
        assert_eq!(status(r.resolve("/", 64)), 200);
        assert_eq!(status(r.resolve("/_sluice/dashboard.js", 64)), 200);
        assert_eq!(r.resolve("/_sluice/stats", 64), Target::Feed);
        assert_eq!(status(r.resolve("/_sluice/nope.js", 64)), 404);
    }

    #[test]
    fn custom_routes_come_first() {
        let mut r = Routes::default();
        r.add("/echo", Endpoint::Subscribe(vec!["x".into()]));
        r.add("/hello", Endpoint::http(|_| Response::text(200, "hi")));
        assert_eq!(r.resolve("/echo", 64), Target::Subscribe(vec!["x".into()]));
        assert_eq!(r.resolve("/hello", 64), Target::Custom("/hello".into()));
    }
}
