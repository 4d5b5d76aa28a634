//! The `Http` state's handler: request heads parsed with `httparse`, answered with plain HTTP
//! (health, metrics, the dashboard's assets, custom endpoints) or upgraded to a WebSocket
//! after the RFC 6455 checks and the access gate.
//!
//! Keep-alive answers go through the connection's bounded queue: when it is full, the
//! connection's remaining requests wait (the state is `paused` and its socket is not read) until
//! the answers drain, so a client that pipelines requests and never reads holds at most
//! `max_queued_bytes` of answers, one read of requests, and its socket's buffers.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::subscribe::{self, ENVELOPE_PROTOCOL};
use super::Reactor;
use crate::access::Refusal;
use crate::conn::http::{self, Parsed, Request, Response};
use crate::conn::{Role, State, Verdict};
use crate::deflate::{self, Agreed, Negotiation};
use crate::endpoint::Target;

impl Reactor {
    /// Handle the request heads at the start of `data`: (bytes consumed, verdict).
    pub(super) fn on_http(
        &mut self,
        key: usize,
        data: &mut [u8],
        now: Instant,
    ) -> (usize, Verdict) {
        let mut pos = 0;
        let limits = &self.policy.limits;
        let (max_header_bytes, max_topics) =
            (limits.max_header_bytes, limits.max_topics_per_subscription);
        let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
        loop {
            if self.conns[key].out.is_full() {
                return (pos, self.pause(key));
            }
            let (len, request) =
                match http::parse_request(&data[pos..], &mut headers, max_header_bytes) {
                    Parsed::Partial => return (pos, Verdict::Continue),
                    Parsed::Invalid(resp) => return (data.len(), self.reject(key, resp, now)),
                    Parsed::Complete { len, request } => (len, request),
                };
            let target = self.policy.routes.resolve(request.path(), max_topics);
            let response = match target {
                Target::Http(resp) if resp.status >= 400 => {
                    return (data.len(), self.reject(key, resp, now))
                }
                Target::Http(resp) => resp,
                Target::Custom(path) => self.policy.routes.call(&path, &request),
                Target::Metrics => self.metrics_response(),
                Target::Ready => self.readiness(),
                ws => {
                    let verdict = self.upgrade(key, ws, &request, now);
                    if verdict != Verdict::Continue {
                        return (data.len(), verdict);
                    }
                    pos += len;
                    let (consumed, verdict) = self.on_frames(key, &mut data[pos..], now);
                    return (pos + consumed, verdict);
                }
            };
            match self.answer(key, &request, response, now) {
                // Keep-alive: the next pipelined request may follow.
                Answered::KeepAlive => pos += len,
                Answered::Paused => return (pos, self.pause(key)),
                Answered::Done(verdict) => return (data.len(), verdict),
            }
        }
    }

    /// Queue a plain-HTTP answer to `request`.
    fn answer(
        &mut self,
        key: usize,
        request: &Request<'_>,
        response: Response,
        now: Instant,
    ) -> Answered {
        let method = request.method();
        if method != "GET" && method != "HEAD" {
            let mut resp = Response::error(405, "only GET and HEAD are served here");
            resp.headers.push(("Allow".into(), "GET, HEAD".into()));
            return Answered::Done(self.reject(key, resp, now));
        }
        if request.has_body() {
            let resp = Response::error(400, "request bodies are not accepted");
            return Answered::Done(self.reject(key, resp, now));
        }
        let keep_alive = request.keep_alive();
        let bytes = response.encode(keep_alive, method == "HEAD");
        let settings = self.policy.settings;
        let conn = &mut self.conns[key];
        if !keep_alive {
            self.observe.stats.http_responses += 1;
            conn.respond_and_close(bytes, now, &settings);
            self.conns.mark_dirty(key);
            self.arm(key);
            return Answered::Done(Verdict::Continue);
        }
        if conn.out.push_answer(Arc::from(bytes)).is_err() {
            return Answered::Paused;
        }
        self.observe.stats.http_responses += 1;
        if let State::Http(h) = conn.state_mut() {
            h.deadline = now + settings.handshake_timeout;
        }
        self.conns.mark_dirty(key);
        Answered::KeepAlive
    }

    /// Stop handling this connection's requests until its answers drain.
    fn pause(&mut self, key: usize) -> Verdict {
        if let State::Http(h) = self.conns[key].state_mut() {
            h.paused = true;
        }
        Verdict::Continue
    }

    /// Answer an HTTP error and close.
    fn reject(&mut self, key: usize, resp: Response, now: Instant) -> Verdict {
        let stats = &mut self.observe.stats;
        stats.handshakes_rejected += 1;
        stats.http_responses += 1;
        *self.observe.metrics.rejected.entry(resp.status).or_default() += 1;
        let conn = &mut self.conns[key];
        log::debug!("conn {} {}: HTTP {} before upgrade", conn.id, conn.peer, resp.status);
        conn.respond_and_close(resp.encode(false, false), now, &self.policy.settings);
        self.conns.mark_dirty(key);
        self.arm(key);
        Verdict::Continue
    }

    /// Check and accept a WebSocket upgrade: the `101` is queued and the connection is open.
    fn upgrade(
        &mut self,
        key: usize,
        target: Target,
        request: &Request<'_>,
        now: Instant,
    ) -> Verdict {
        let accept = match http::check_upgrade(request) {
            Ok(accept) => accept,
            Err(resp) => return self.reject(key, resp, now),
        };
        let admitted = match self.policy.gate.check(request, &target) {
            Ok(admitted) => admitted,
            Err((why, resp)) => {
                let stats = &mut self.observe.stats;
                match why {
                    Refusal::Origin => stats.origin_rejections += 1,
                    Refusal::Unauthenticated => stats.auth_failures += 1,
                    Refusal::Forbidden => stats.auth_denials += 1,
                }
                return self.reject(key, resp, now);
            }
        };
        // A subscriber's options are checked before anything is answered.
        let envelope = matches!(target, Target::Subscribe(_))
            && request.has_token("sec-websocket-protocol", ENVELOPE_PROTOCOL);
        let starts = match &target {
            Target::Subscribe(list) => {
                match subscribe::starts(request.query(), list, envelope)
                    .map_err(|why| Response::error(400, &why))
                    .and_then(|s| self.check_starts(list, &s).map(|()| s))
                {
                    Ok(s) => s,
                    Err(resp) => return self.reject(key, resp, now),
                }
            }
            _ => Vec::new(),
        };
        let extra: &[(&str, &str)] =
            if envelope { &[("Sec-WebSocket-Protocol", ENVELOPE_PROTOCOL)] } else { &[] };
        let agreed = match &target {
            Target::Publish(_) | Target::Subscribe(_) | Target::Echo => {
                self.negotiate_deflate(key, request)
            }
            _ => None,
        };
        let head = deflate::switching_protocols(&accept, agreed.as_ref(), extra);
        self.conns[key].out.push_essential(Arc::from(head), true);
        let role = match &target {
            Target::Publish(topic) => Role::Publish(self.router.join_publisher(topic)),
            Target::Subscribe(_) => {
                subscribe::subscriptions(envelope, Vec::new(), admitted.may_subscribe)
            }
            Target::Echo => Role::Echo,
            Target::Feed => Role::Feed(self.observe.feed.insert(key)),
            Target::Http(_) | Target::Custom(_) | Target::Metrics | Target::Ready => {
                return self.reject(key, Response::error(404, "not a WebSocket endpoint"), now)
            }
        };
        self.observe.stats.upgrades += 1;
        let feed = matches!(role, Role::Feed(_));
        let conn = &mut self.conns[key];
        conn.upgrade(role, now);
        if let (Some(exp), State::Open(open)) = (admitted.expires_unix, conn.state_mut()) {
            open.expires = Some(instant_of_unix(exp, now));
        }
        if let (Some(a), State::Open(open)) = (agreed, conn.state_mut()) {
            open.reader.set_receive(a.receive);
            open.deflate = Some(a.server_bits);
            let c = &mut self.observe.stats.compression;
            c.negotiated += 1;
            c.connections += 1;
        }
        if let Target::Subscribe(list) = &target {
            let joined = self.join_all(key, list, &starts, envelope, now);
            if let State::Open(open) = self.conns[key].state_mut() {
                if let Role::Subscribe(subs) = &mut open.role {
                    subs.list = joined;
                }
            }
        }
        if feed {
            // The hello (history and per-topic table, both capped, so a few tens of KiB at
            // most) goes out once per connection; the ticks after it obey the bound.
            let hello = self.feed_frame(true);
            self.conns[key].out.push_essential(hello, false);
        }
        self.conns.mark_dirty(key);
        self.arm(key);
        Verdict::Continue
    }
}

impl Reactor {
    /// The permessage-deflate answer to an upgrade's offers, if one is agreed (an upgrade whose
    /// offers are all declined goes on uncompressed, counted).
    fn negotiate_deflate(&mut self, key: usize, request: &Request<'_>) -> Option<Agreed> {
        let offers = request.header_values("sec-websocket-extensions");
        match deflate::negotiate(offers, &self.policy.compression) {
            Negotiation::Accepted(a) => Some(a),
            Negotiation::Declined(why) => {
                self.observe.stats.compression.declined += 1;
                let conn = &self.conns[key];
                log::debug!("conn {} {}: permessage-deflate declined: {why}", conn.id, conn.peer);
                None
            }
            Negotiation::NotOffered => None,
        }
    }
}

/// What happened to a plain-HTTP answer.
enum Answered {
    /// Queued; the connection stays open for the next request.
    KeepAlive,
    /// The queue is full: the request waits until the answers drain.
    Paused,
    /// The connection is done with requests (closing, or an error answered).
    Done(Verdict),
}

/// The monotonic instant of a Unix time (seconds), as seen from `now`.
fn instant_of_unix(unix: f64, now: Instant) -> Instant {
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let ahead = (unix - wall).clamp(0.0, 1e9);
    now + Duration::from_secs_f64(ahead)
}
