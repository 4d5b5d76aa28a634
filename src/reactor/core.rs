//! The reactor's connection-facing state and what happens to bytes once they are read: HTTP
//! requests and upgrades, WebSocket frames, fan-out, flushing, timers, and freeing connections.
//!
//! `Core` owns everything a handler touches; the socket-reading loop in `mod.rs` owns the
//! scratch buffer and lends a slice of it here, so the two never alias.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use slab::Slab;

use crate::access::{Gate, Refusal};
use crate::config::{Limits, MetricsConfig};
use crate::conn::frames::{self, CloseReason, Event, Flow, FrameLimits};
use crate::conn::http::{self, Parsed, Response};
use crate::conn::out::{Flushed, Stamp};
use crate::conn::{rate_admit, Closed, Conn, Kind, State, TimerVerdict};
use crate::connector::table::Connectors;
use crate::endpoint::{Routes, Target};
use crate::metrics::Registry;
use crate::reactor::stats::Stats;
use crate::reactor::timer::Timers;
use crate::reactor::upstream::{flush_upstream, CONNECTOR_TIMER};
use crate::topic::{TopicId, Topics};
use crate::worker::Pool;

/// Encoded frames of one read are fanned out together once they reach this size.
pub(super) const BATCH_FLUSH: usize = 64 * 1024;

/// Where the data messages parsed from one connection go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    Topic(TopicId),
    Echo,
    Discard,
}

pub(crate) struct Core {
    pub(crate) conns: Slab<Conn>,
    pub(crate) topics: Topics,
    pub(crate) timers: Timers,
    pub(crate) routes: Routes,
    pub(crate) stats: Stats,
    pub(crate) limits: Limits,
    /// Per-topic series, latency recorders, history: see `crate::metrics`.
    pub(crate) metrics: Registry,
    /// Dashboard live-feed connections (connection keys).
    pub(crate) feed: Slab<usize>,
    /// The listener is registered and accepting (for `/readyz`).
    pub(crate) listening: bool,
    registry: mio::Registry,
    frame_limits: FrameLimits,
    /// Connections with queued output, flushed once at the end of the loop iteration.
    pub(super) dirty: Vec<usize>,
    /// Server frames encoded for the current sink, shared by every receiver once flushed.
    pub(super) batch: Vec<u8>,
    pub(super) batch_msgs: u64,
    pub(super) batch_payload: u64,
    /// Control frames (pongs) for the current connection when its data goes elsewhere.
    control: Vec<u8>,
    /// Origin and authentication checks for upgrades.
    pub(crate) gate: Gate,
    /// Open connections per client IP (kept only when `max_connections_per_ip` is set).
    per_ip: HashMap<IpAddr, u32>,
    /// Inbound rate limit: (interval between messages, burst tolerance), when set.
    rate: Option<(Duration, Duration)>,
    /// The worker pool, once pipelines have started.
    pub(crate) pool: Option<Pool>,
    /// Topic of each pool output slot.
    pub(super) slot_topics: Vec<TopicId>,
    /// The result budget ran out with results possibly still pending.
    pub(crate) results_more: bool,
    /// Upstream connectors (sources and sinks).
    pub(crate) connectors: Connectors,
}

impl Core {
    pub(crate) fn new(
        limits: Limits,
        metrics: &MetricsConfig,
        registry: mio::Registry,
        now: Instant,
        gate: Gate,
    ) -> Core {
        let rate = (limits.max_messages_per_sec > 0).then(|| {
            let interval = Duration::from_secs(1) / limits.max_messages_per_sec;
            let burst = if limits.message_burst > 0 {
                limits.message_burst
            } else {
                limits.max_messages_per_sec
            };
            (interval, interval * (burst - 1))
        });
        let mut routes = Routes::default();
        routes.set_dashboard(metrics.dashboard);
        Core {
            conns: Slab::new(),
            topics: Topics::default(),
            timers: Timers::default(),
            routes,
            stats: Stats::default(),
            metrics: Registry::new(metrics.max_topic_series, metrics.latency_histograms, now),
            feed: Slab::new(),
            listening: true,
            frame_limits: FrameLimits {
                max_frame: limits.max_frame_size,
                max_message: limits.max_message_size,
                max_fragments: limits.max_fragments,
                max_empty_fragments: limits.max_empty_fragments,
            },
            limits,
            registry,
            dirty: Vec::new(),
            batch: Vec::with_capacity(BATCH_FLUSH * 2),
            batch_msgs: 0,
            batch_payload: 0,
            control: Vec::new(),
            gate,
            per_ip: HashMap::new(),
            rate,
            pool: None,
            slot_topics: Vec::new(),
            results_more: false,
            connectors: Connectors::default(),
        }
    }

    /// Admission at accept: `Some(why)` if a connection from `ip` must be refused now
    /// (`max_connections`, `max_connections_per_ip`); counted. Otherwise the connection is
    /// counted against its IP.
    pub(crate) fn admit(&mut self, ip: IpAddr) -> Result<(), &'static str> {
        let l = &self.limits;
        if l.max_connections > 0 && self.conns.len() >= l.max_connections {
            self.stats.refused_max_connections += 1;
            return Err("too many connections");
        }
        if l.max_connections_per_ip > 0 {
            let n = self.per_ip.entry(ip).or_insert(0);
            if *n as usize >= l.max_connections_per_ip {
                self.stats.refused_per_ip += 1;
                return Err("too many connections from this address");
            }
            *n += 1;
        }
        Ok(())
    }

    /// Undo [`Core::admit`] for a connection that was not kept.
    pub(crate) fn unadmit(&mut self, ip: IpAddr) {
        if self.limits.max_connections_per_ip > 0 {
            if let Some(n) = self.per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.per_ip.remove(&ip);
                }
            }
        }
    }

    /// Handle bytes read from connection `key`; returns how many were consumed. Unconsumed bytes
    /// (a partial request head or frame) are kept by the caller.
    pub(crate) fn on_bytes(&mut self, key: usize, data: &mut [u8], now: Instant) -> usize {
        match self.conns[key].state() {
            State::Http => self.on_http(key, data, now),
            State::Open => self.on_frames(key, data, now),
            State::Closing | State::Linger => data.len(),
            State::Connecting | State::Handshaking => self.on_response(key, data, now),
        }
    }

    fn on_http(&mut self, key: usize, data: &mut [u8], now: Instant) -> usize {
        let mut pos = 0;
        loop {
            let mut headers = vec![httparse::EMPTY_HEADER; self.limits.max_headers];
            let (len, request) =
                match http::parse_request(&data[pos..], &mut headers, self.limits.max_header_bytes)
                {
                    Parsed::Partial => return pos,
                    Parsed::Invalid(resp) => {
                        self.reject(key, resp, now);
                        return data.len();
                    }
                    Parsed::Complete { len, request } => (len, request),
                };
            let target =
                self.routes.resolve(request.path(), self.limits.max_topics_per_subscription);
            let response = match target {
                Target::Http(resp) if resp.status >= 400 => {
                    self.reject(key, resp, now);
                    return data.len();
                }
                Target::Http(resp) => resp,
                Target::Custom(path) => self.routes.call(&path, &request),
                Target::Metrics => self.metrics_response(),
                Target::Ready => self.readiness(),
                ws => match http::check_upgrade(&request) {
                    Err(resp) => {
                        self.reject(key, resp, now);
                        return data.len();
                    }
                    Ok(accept) => {
                        let expires = match self.gate.check(&request, &ws) {
                            Ok(admitted) => admitted.expires_unix,
                            Err((why, resp)) => {
                                match why {
                                    Refusal::Origin => self.stats.origin_rejections += 1,
                                    Refusal::Unauthenticated => self.stats.auth_failures += 1,
                                    Refusal::Forbidden => self.stats.auth_denials += 1,
                                }
                                self.reject(key, resp, now);
                                return data.len();
                            }
                        };
                        self.upgrade(key, ws, &accept, now);
                        if let Some(exp) = expires {
                            let conn = &mut self.conns[key];
                            conn.expires = Some(instant_of_unix(exp, now));
                            arm(&mut self.timers, key, conn, &self.limits);
                        }
                        pos += len;
                        return pos + self.on_frames(key, &mut data[pos..], now);
                    }
                },
            };
            // Plain HTTP.
            let method = request.method();
            if method != "GET" && method != "HEAD" {
                let mut resp = Response::error(405, "only GET and HEAD are served here");
                resp.headers.push(("Allow".into(), "GET, HEAD".into()));
                self.reject(key, resp, now);
                return data.len();
            }
            if request.has_body() {
                self.reject(key, Response::error(400, "request bodies are not accepted"), now);
                return data.len();
            }
            let keep_alive = request.keep_alive();
            let bytes = response.encode(keep_alive, method == "HEAD");
            self.stats.http_responses += 1;
            let conn = &mut self.conns[key];
            if !keep_alive {
                conn.respond_and_close(bytes, now, &self.limits);
                mark_dirty(&mut self.dirty, key, conn);
                arm(&mut self.timers, key, conn, &self.limits);
                return data.len();
            }
            conn.out.push(Arc::from(bytes));
            conn.deadline = now + self.limits.handshake_timeout;
            mark_dirty(&mut self.dirty, key, conn);
            pos += len;
        }
    }

    /// Answer an HTTP error and close.
    fn reject(&mut self, key: usize, resp: Response, now: Instant) {
        self.stats.handshakes_rejected += 1;
        *self.metrics.rejected.entry(resp.status).or_default() += 1;
        self.stats.http_responses += 1;
        let conn = &mut self.conns[key];
        log::debug!("conn {} {}: HTTP {} before upgrade", conn.id, conn.peer, resp.status);
        conn.respond_and_close(resp.encode(false, false), now, &self.limits);
        mark_dirty(&mut self.dirty, key, conn);
        arm(&mut self.timers, key, conn, &self.limits);
    }

    /// Attach the connection to its endpoint and queue the `101`.
    fn upgrade(&mut self, key: usize, target: Target, accept: &str, now: Instant) {
        let kind = match target {
            Target::Publish(topic) => {
                let id = self.topics.intern(&topic, &mut self.metrics.topics);
                self.topics.add_publisher(id);
                Kind::Publish(id)
            }
            Target::Subscribe(list) => Kind::Subscribe(
                list.iter()
                    .map(|t| {
                        let id = self.topics.intern(t, &mut self.metrics.topics);
                        (id, self.topics.subscribe(id, key))
                    })
                    .collect(),
            ),
            Target::Echo => Kind::Echo,
            Target::Feed => Kind::Feed(self.feed.insert(key)),
            Target::Http(_) | Target::Custom(_) | Target::Metrics | Target::Ready => {
                unreachable!("plain HTTP targets are not upgraded")
            }
        };
        self.stats.upgrades += 1;
        let conn = &mut self.conns[key];
        conn.kind = kind;
        conn.out.push_essential(Arc::from(http::switching_protocols(accept)));
        conn.last_rx = now;
        conn.set_state(State::Open);
        mark_dirty(&mut self.dirty, key, conn);
        arm(&mut self.timers, key, conn, &self.limits);
        if matches!(self.conns[key].kind, Kind::Feed(_)) {
            // The hello (history and per-topic table, both capped, so a few tens of KiB at
            // most) is queued whatever `max_queued_bytes`: it is once per connection, and the
            // ticks after it obey the bound.
            let hello = self.feed_frame(true);
            self.conns[key].out.push(hello);
        }
    }

    /// Parse frames from an open connection, deliver its messages, answer its control frames.
    pub(super) fn on_frames(&mut self, key: usize, data: &mut [u8], now: Instant) -> usize {
        let mut pos = 0;
        loop {
            let conn = &mut self.conns[key];
            let sink = match conn.kind {
                Kind::Publish(t) => Sink::Topic(t),
                Kind::Echo => Sink::Echo,
                Kind::Upstream => conn
                    .client
                    .as_ref()
                    .and_then(|c| c.publish_to)
                    .map_or(Sink::Discard, Sink::Topic),
                Kind::Subscribe(_) | Kind::Feed(_) | Kind::Http => Sink::Discard,
            };
            let client = conn.client.is_some();
            let mut close: Option<Option<u16>> = None;
            let mut ignored = 0;
            let (batch, control) = (&mut self.batch, &mut self.control);
            let (batch_msgs, batch_payload) = (&mut self.batch_msgs, &mut self.batch_payload);
            let result = conn.reader.process(&mut data[pos..], &self.frame_limits, |event| {
                match event {
                    Event::Message { text, payload } => {
                        if sink == Sink::Discard {
                            ignored += 1;
                            return Flow::Continue;
                        }
                        frames::encode_frame(batch, frames::data_opcode(text), payload, None);
                        *batch_msgs += 1;
                        *batch_payload += payload.len() as u64;
                        if batch.len() >= BATCH_FLUSH {
                            return Flow::Pause;
                        }
                    }
                    Event::Ping(payload) => {
                        // Echo keeps pongs in order with its echoes; others answer directly.
                        let out = if sink == Sink::Echo { &mut *batch } else { &mut *control };
                        let mask = client.then(rand::random);
                        frames::encode_frame(out, frames::pong_opcode(), payload, mask);
                    }
                    Event::Pong => {}
                    Event::Close(code) => close = Some(code),
                }
                Flow::Continue
            });
            self.stats.messages_ignored += ignored;
            if client {
                // This chunk's messages are all in the batch (or counted as ignored).
                let (msgs, bytes) = match sink {
                    Sink::Topic(_) => (self.batch_msgs, self.batch_payload),
                    _ => (ignored, 0),
                };
                self.count_upstream_in(key, msgs, bytes);
            } else if self.rate.is_some() && self.over_rate(key, self.batch_msgs + ignored, now) {
                // (The inbound rate limit is for accepted clients, not for upstream feeds.)
                return data.len();
            }
            self.flush_batch(key, sink, now);
            if self.pool.is_some() {
                self.flush_pipelines(now);
            }
            self.flush_control(key, now);
            match result {
                Ok(progress) => {
                    pos += progress.consumed;
                    match progress.flow {
                        Flow::Pause => continue,
                        Flow::Continue => return pos,
                        Flow::Stop => {
                            let code = close.flatten();
                            let shown = code.map_or("no code".into(), |c| c.to_string());
                            self.conns[key].note(format!("closed by the upstream ({shown})"));
                            let reply = code.map(|code| CloseReason::new(code, ""));
                            self.close(key, reply.as_ref(), false, now);
                            return data.len();
                        }
                    }
                }
                Err(reason) => {
                    self.stats.protocol_closes += 1;
                    if reason.code == frames::CLOSE_POLICY {
                        self.stats.fragment_limit_closes += 1;
                    }
                    let conn = &self.conns[key];
                    if let Kind::Publish(topic) = conn.kind {
                        let series = self.topics.get(topic).series;
                        self.metrics.topics.counters[series].drops.invalid += 1;
                    }
                    log::debug!(
                        "conn {} {}: closing {} ({})",
                        conn.id,
                        conn.peer,
                        reason.code,
                        reason.reason
                    );
                    self.close(key, Some(&reason), false, now);
                    return data.len();
                }
            }
        }
    }

    /// The inbound rate limit, checked once per parsed batch (not per message, so the frame loop
    /// is the same with the limit off): if the `msgs` messages just parsed exceed the
    /// connection's allowance, they are discarded, not relayed, and the connection is closed
    /// with `1008`. Returns whether it was closed.
    #[inline(never)]
    fn over_rate(&mut self, key: usize, msgs: u64, now: Instant) -> bool {
        let Some((interval, tolerance)) = self.rate else { return false };
        let n = u32::try_from(msgs).unwrap_or(u32::MAX);
        if n == 0 || rate_admit(&mut self.conns[key].rate_tat, now, n, interval, tolerance) {
            return false;
        }
        // Nothing parsed in this pass goes out: not its messages, not its pongs.
        self.reset_batch();
        self.control.clear();
        self.stats.rate_limit_closes += 1;
        let reason = CloseReason::new(
            frames::CLOSE_POLICY,
            format!("message rate limit exceeded ({}/s)", self.limits.max_messages_per_sec),
        );
        self.close(key, Some(&reason), true, now);
        true
    }

    /// Start the close handshake of an open connection (no-op in other states).
    pub(crate) fn close(
        &mut self,
        key: usize,
        reason: Option<&CloseReason>,
        discard: bool,
        now: Instant,
    ) {
        let conn = &mut self.conns[key];
        if conn.state() != State::Open {
            return;
        }
        if conn.client.is_some() {
            self.upstream_closing(key, reason, now);
        }
        let conn = &mut self.conns[key];
        conn.begin_close(reason, discard, now, &self.limits);
        mark_dirty(&mut self.dirty, key, conn);
        arm(&mut self.timers, key, conn, &self.limits);
        if let (Kind::Publish(_), Some(pool)) = (&conn.kind, &mut self.pool) {
            // It will publish no more: it must not hold back per-publisher watermarks.
            pool.publisher_gone(conn.id);
        }
    }

    /// Deliver what the current connection's frames produced.
    fn flush_batch(&mut self, key: usize, sink: Sink, now: Instant) {
        if self.batch.is_empty() {
            return;
        }
        match sink {
            Sink::Topic(topic) => {
                if self.pool.is_some() {
                    // A topic read by pipelines also hands its messages to the workers.
                    let publisher = self.conns[key].publisher_id();
                    self.dispatch_batch(topic, publisher);
                }
                self.fan_out(topic, now)
            }
            Sink::Echo | Sink::Discard => {
                let frame: Arc<[u8]> = Arc::from(&self.batch[..]);
                self.reset_batch();
                self.queue_or_close(key, frame, now);
            }
        }
    }

    fn flush_control(&mut self, key: usize, now: Instant) {
        if self.control.is_empty() {
            return;
        }
        let frame: Arc<[u8]> = Arc::from(&self.control[..]);
        self.control.clear();
        self.queue_or_close(key, frame, now);
    }

    /// Queue output for one connection, or close it as a slow consumer if it would exceed its
    /// bound. Pings from a client that never reads end here, not in unbounded memory.
    pub(crate) fn queue_or_close(&mut self, key: usize, frame: Arc<[u8]>, now: Instant) {
        let conn = &mut self.conns[key];
        if conn.try_queue(frame, self.limits.max_queued_bytes) {
            mark_dirty(&mut self.dirty, key, conn);
        } else {
            self.slow_consumer(key, now);
        }
    }

    fn slow_consumer(&mut self, key: usize, now: Instant) {
        self.stats.slow_consumer_closes += 1;
        let conn = &self.conns[key];
        log::warn!(
            "conn {} {}: slow consumer closed (1008): {} bytes queued, bound {}",
            conn.id,
            conn.peer,
            conn.out.queued(),
            self.limits.max_queued_bytes
        );
        let reason = CloseReason::new(
            frames::CLOSE_POLICY,
            format!("slow consumer: more than {} bytes queued", self.limits.max_queued_bytes),
        );
        self.close(key, Some(&reason), true, now);
    }

    /// Publish a message from a handle (or any non-connection source) to a topic by name.
    pub(crate) fn publish(&mut self, topic: &str, text: bool, payload: &[u8], now: Instant) {
        match self.topics.lookup(topic) {
            Some(id) => {
                frames::encode_frame(&mut self.batch, frames::data_opcode(text), payload, None);
                self.batch_msgs += 1;
                self.batch_payload += payload.len() as u64;
                if self.pool.is_some() {
                    // Handle publishes count as one publisher; the caller flushes.
                    self.dispatch_batch(id, 0);
                }
                self.fan_out(id, now);
            }
            None => {
                // No such topic now: count it under its name's series without creating a topic.
                self.stats.messages_in += 1;
                self.stats.bytes_in += payload.len() as u64;
                self.stats.messages_unrouted += 1;
                let series = self.metrics.topics.series(topic);
                let c = &mut self.metrics.topics.counters[series];
                c.messages_in += 1;
                c.bytes_in += payload.len() as u64;
                c.drops.no_subscriber += 1;
            }
        }
    }

    /// Send the encoded batch to every open subscriber of `topic`: one allocation, shared.
    /// Counters are updated once per batch, not per message or per subscriber.
    pub(super) fn fan_out(&mut self, topic: TopicId, now: Instant) {
        let (msgs, payload) = (self.batch_msgs, self.batch_payload);
        self.stats.messages_in += msgs;
        self.stats.bytes_in += payload;
        if !self.topics.get(topic).sinks.is_empty() {
            self.feed_sinks(topic);
        }
        let t = self.topics.get(topic);
        let series = &mut self.metrics.topics.counters[t.series];
        series.messages_in += msgs;
        series.bytes_in += payload;
        if t.subscribers.is_empty() {
            if t.pipes.is_empty() && t.sinks.is_empty() {
                // Read by no one (a pipeline's input is read by the pipeline).
                self.stats.messages_unrouted += msgs;
                series.drops.no_subscriber += msgs;
            }
            self.reset_batch();
            return;
        }
        let frame: Arc<[u8]> = Arc::from(&self.batch[..]);
        // Reset field by field: `t` and `series` still borrow other fields of `self`.
        self.batch.clear();
        (self.batch_msgs, self.batch_payload) = (0, 0);
        let stamp = if self.metrics.latency {
            Stamp { at_ns: self.metrics.now_ns, messages: msgs.clamp(1, u32::MAX.into()) as u32 }
        } else {
            Stamp::NONE
        };
        let mut delivered = 0u64;
        let mut slow = Vec::new();
        for (_, &sub) in t.subscribers.iter() {
            let conn = &mut self.conns[sub];
            if conn.state() != State::Open {
                continue;
            }
            if conn.try_queue_stamped(frame.clone(), self.limits.max_queued_bytes, stamp) {
                delivered += 1;
                mark_dirty(&mut self.dirty, sub, conn);
            } else {
                slow.push(sub);
            }
        }
        let (out_msgs, out_bytes) = (msgs * delivered, frame.len() as u64 * delivered);
        self.stats.messages_out += out_msgs;
        self.stats.bytes_out += out_bytes;
        series.messages_out += out_msgs;
        series.bytes_out += out_bytes;
        series.drops.slow_consumer += msgs * slow.len() as u64;
        for sub in slow {
            self.slow_consumer(sub, now);
        }
    }

    fn reset_batch(&mut self) {
        self.batch.clear();
        self.batch_msgs = 0;
        self.batch_payload = 0;
    }

    /// Flush a connection when the socket becomes writable.
    pub(crate) fn on_writable(&mut self, key: usize) {
        if let Some(conn) = self.conns.get_mut(key) {
            if conn.client.is_some() {
                return self.upstream_writable(key);
            }
            if !conn.out.is_empty()
                || conn.state() == State::Closing
                || conn.stream.has_pending_output()
            {
                mark_dirty(&mut self.dirty, key, conn);
            }
        }
    }

    /// The peer sent EOF.
    pub(crate) fn on_eof(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        conn.peer_eof = true;
        conn.note(if conn.stream.tls_handshaking() {
            "the upstream closed the TCP connection during the TLS handshake (does it speak \
             TLS on this port, or is it a ws:// endpoint?)"
        } else {
            "the upstream closed the TCP connection"
        });
        match conn.state() {
            // A request followed by a half-close still gets its response.
            State::Http | State::Closing if !conn.out.is_empty() => {
                if conn.state() == State::Http {
                    conn.set_state(State::Closing);
                }
            }
            _ => self.drop_conn(key),
        }
    }

    /// Write every connection that has queued output: one `writev` batch per connection per loop
    /// iteration, however many messages were queued to it.
    ///
    /// Every stamped batch whose last byte is written is noted; the loop records their
    /// delivery latencies at the end of the iteration (`Registry::end_iteration`).
    pub(crate) fn flush_dirty(&mut self) {
        while let Some(key) = self.dirty.pop() {
            let Some(conn) = self.conns.get_mut(key) else { continue };
            conn.dirty = false;
            let done = &mut self.metrics.completions;
            let written = |s: Stamp| done.add(s.at_ns, s.messages.into());
            let flushed = match conn.client {
                Some(_) => flush_upstream(conn, &mut self.connectors, written),
                None => conn.out.flush_to(&mut conn.stream, written),
            }
            .and_then(|f| match f {
                // TLS: the records rustls holds must reach the socket too.
                Flushed::All if !conn.stream.flush_pending()? => Ok(Flushed::WouldBlock),
                f => Ok(f),
            });
            match flushed {
                Ok(Flushed::All) if conn.state() == State::Closing => {
                    if conn.closing_flushed() == Closed::Free {
                        self.drop_conn(key);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    log::debug!("conn {} {}: write failed: {e}", conn.id, conn.peer);
                    conn.note_io("write", &e);
                    self.drop_conn(key);
                }
            }
        }
    }

    /// Fire every timer due at `now`.
    pub(crate) fn expire_timers(&mut self, now: Instant) {
        while let Some(entry) = self.timers.pop_due(now) {
            if entry.key & CONNECTOR_TIMER != 0 {
                self.connector_timer(entry.key & !CONNECTOR_TIMER, entry.id, entry.at, now);
                continue;
            }
            let Some(conn) = self.conns.get_mut(entry.key) else { continue };
            if conn.id != entry.id || conn.timer_at != Some(entry.at) {
                continue; // stale
            }
            conn.timer_at = None;
            let key = entry.key;
            match conn.on_timer(now, &self.limits) {
                TimerVerdict::Idle => {}
                TimerVerdict::Rearm(_) => arm(&mut self.timers, key, conn, &self.limits),
                TimerVerdict::Ping(_) => {
                    let mut ping = Vec::with_capacity(6);
                    frames::encode_frame(&mut ping, frames::ping_opcode(), b"", conn.mask());
                    self.queue_or_close(key, Arc::from(ping), now);
                    let conn = &mut self.conns[key];
                    arm(&mut self.timers, key, conn, &self.limits);
                }
                TimerVerdict::Close(reason) => {
                    self.stats.keepalive_closes += 1;
                    log::info!("conn {} {}: {}", conn.id, conn.peer, reason.reason);
                    self.close(key, Some(&reason), true, now);
                }
                TimerVerdict::Expired => {
                    self.stats.token_expiry_closes += 1;
                    log::info!("conn {} {}: token expired", conn.id, conn.peer);
                    let reason = CloseReason::new(frames::CLOSE_POLICY, "token expired");
                    self.close(key, Some(&reason), true, now);
                }
                TimerVerdict::Drop => {
                    if conn.state() == State::Http {
                        self.stats.handshake_timeouts += 1;
                    }
                    self.drop_conn(key);
                }
            }
        }
    }

    /// Register a new connection and arm its handshake deadline.
    pub(crate) fn insert(&mut self, conn: Conn) -> usize {
        let key = self.conns.insert(conn);
        let conn = &mut self.conns[key];
        arm(&mut self.timers, key, conn, &self.limits);
        key
    }

    /// Deregister and free a connection, leaving its topics.
    pub(crate) fn drop_conn(&mut self, key: usize) {
        let Some(mut conn) = self.conns.try_remove(key) else { return };
        let _ = self.registry.deregister(conn.stream.tcp());
        if conn.client.is_none() {
            // Only accepted connections were admitted (counted per client IP).
            self.unadmit(conn.peer.ip());
        }
        match std::mem::replace(&mut conn.kind, Kind::Http) {
            Kind::Publish(topic) => {
                self.topics.remove_publisher(topic);
                if let Some(pool) = &mut self.pool {
                    pool.publisher_gone(conn.id);
                }
            }
            Kind::Subscribe(list) => {
                for &(topic, slot) in list.iter() {
                    self.topics.unsubscribe(topic, slot);
                }
            }
            Kind::Feed(slot) => {
                self.feed.try_remove(slot);
            }
            Kind::Echo | Kind::Http | Kind::Upstream => {}
        }
        if conn.client.is_some() {
            self.upstream_dropped(conn);
        }
    }

    pub(crate) fn registry(&self) -> &mio::Registry {
        &self.registry
    }
}

/// The monotonic instant of a Unix time (seconds), as seen from `now`.
fn instant_of_unix(unix: f64, now: Instant) -> Instant {
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let ahead = (unix - wall).clamp(0.0, 1e9);
    now + Duration::from_secs_f64(ahead)
}

pub(super) fn mark_dirty(dirty: &mut Vec<usize>, key: usize, conn: &mut Conn) {
    if !conn.dirty {
        conn.dirty = true;
        dirty.push(key);
    }
}

/// Make sure a timer is armed no later than the connection's next deadline. An earlier armed
/// timer is kept: when it fires, the connection re-arms for its real deadline.
pub(super) fn arm(timers: &mut Timers, key: usize, conn: &mut Conn, limits: &Limits) {
    let Some(at) = conn.next_deadline(limits) else { return };
    if conn.timer_at.is_some_and(|t| t <= at) {
        return;
    }
    conn.timer_at = Some(at);
    timers.arm(at, key, conn.id);
}
