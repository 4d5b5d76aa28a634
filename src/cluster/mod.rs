//! The relay's side of a cluster: one NATS connection (driven by the reactor, no async runtime)
//! over which the relay publishes its topics to JetStream and consumes the topics it has local
//! readers for.
//!
//! ```text
//!  local publish ──▶ Cluster::publish ──HPUB──▶ JetStream stream of the topic (offset = seq)
//!                                                       │ ordered push consumer, one per
//!                                                       ▼ (node, topic) with local readers
//!  local subscribers ◀── fan-out (route) ◀── Inbound::Message (offset, publisher, payload)
//! ```
//!
//! This module is sans-IO: the reactor owns the socket and feeds bytes in ([`Cluster::feed`]);
//! writes come out of `session.out`. It owns the session, the JetStream requests in flight,
//! the publishes waiting for their acknowledgement ([`inflight`]) and the map from a consumer's
//! subscription id to its topic. What a topic's stream and consumer *mean* to subscribers
//! (epochs, offsets, who waits for what) is the router's (`route/cluster.rs`).

pub(crate) mod headers;
pub(crate) mod inflight;
pub(crate) mod jetstream;
mod names;
pub(crate) mod proto;
pub(crate) mod session;
mod url;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

pub use self::url::NatsUrl;
pub(crate) use names::valid_name;

use self::headers::{Headers, Meta};
use self::inflight::{Entry, Inflight};
use self::jetstream::{ApiError, ConsumerInfo, Delivery, StreamInfo, StreamSpec};
use self::session::{Phase, Session, SessionError, Step};
use crate::config::ClusterConfig;
use crate::metrics::ClusterStats;

/// Subscription id of the publish acknowledgements (`<inbox>a.<id>`).
const SID_ACKS: u64 = 1;
/// Subscription id of API answers (`<inbox>r.<id>`).
const SID_REPLIES: u64 = 2;

/// A message or a heartbeat of one of the relay's consumers.
pub(crate) enum Inbound<'a> {
    Message {
        topic: &'a Arc<str>,
        sid: u64,
        delivery: Delivery,
        meta: Option<Meta>,
        payload: &'a [u8],
    },
    /// An idle heartbeat: what the consumer last delivered (to find lost messages).
    Heartbeat { topic: &'a Arc<str>, sid: u64, last_consumer: u64 },
}

/// Something the router must act on, collected during [`Cluster::feed`].
#[derive(Debug)]
pub(crate) enum Control {
    /// The session is usable: (re)create streams and consumers.
    Ready,
    Stream {
        topic: Arc<str>,
        result: Result<StreamInfo, ApiError>,
    },
    Consumer {
        topic: Arc<str>,
        sid: u64,
        result: Result<ConsumerInfo, ApiError>,
    },
    /// No stream took a message (503): it is held again; ask for the stream.
    NoStream {
        topic: Arc<str>,
    },
    /// A publish failed (the stream refused it): the message is lost to the cluster.
    PublishFailed {
        topic: Arc<str>,
        why: String,
    },
}

/// What an API request was for.
#[derive(Debug)]
enum Request {
    Stream(Arc<str>),
    Consumer(Arc<str>, u64),
}

/// The cluster connection's state.
pub(crate) struct Cluster {
    pub(crate) config: ClusterConfig,
    pub(crate) urls: Vec<NatsUrl>,
    inbox: String,
    boot: u64,
    pub(crate) session: Session,
    next_id: u64,
    requests: BTreeMap<u64, (Request, Instant)>,
    pub(crate) inflight: Inflight,
    consumers: HashMap<u64, Arc<str>>,
    next_sid: u64,
    /// Collected by `feed`, taken by the router.
    pub(crate) controls: Vec<Control>,
    /// Counters (the gauges are filled in by [`Cluster::snapshot`]).
    pub(crate) stats: ClusterStats,
    /// The last error, for `/readyz` and logs.
    pub(crate) last_error: Option<String>,
    /// The server's last `-ERR` on the current connection.
    server_error: Option<String>,
    scratch: Vec<u8>,
}

impl Cluster {
    /// A cluster side from a validated configuration.
    pub(crate) fn new(config: ClusterConfig) -> Cluster {
        let urls = config.nats.iter().filter_map(|u| NatsUrl::parse(u).ok()).collect();
        let boot: u64 = rand::random::<u64>() >> 16;
        let stats = ClusterStats { node: config.node.clone(), ..ClusterStats::default() };
        Cluster {
            inbox: names::inbox(&config.prefix, &config.node, boot),
            boot,
            config,
            urls,
            session: Session::new(),
            next_id: 1,
            requests: BTreeMap::new(),
            inflight: Inflight::default(),
            consumers: HashMap::new(),
            next_sid: 100,
            controls: Vec::new(),
            stats,
            last_error: None,
            server_error: None,
            scratch: Vec::new(),
        }
    }

    /// The counters and gauges now; `detached` topics are on a local stream.
    pub(crate) fn snapshot(&self, detached: usize) -> ClusterStats {
        ClusterStats {
            connected: self.is_ready(),
            pending_messages: self.inflight.len() as u64,
            pending_bytes: self.inflight.bytes() as u64,
            detached_topics: detached as u64,
            ..self.stats.clone()
        }
    }

    /// Whether the session is usable.
    pub(crate) fn is_ready(&self) -> bool {
        self.session.phase == Phase::Ready
    }

    /// The subject of `topic`.
    pub(crate) fn subject(&self, topic: &str) -> String {
        names::subject(&self.config.prefix, topic)
    }

    /// A socket is connected: start the handshake.
    pub(crate) fn connected(&mut self) {
        self.session.start();
        self.stats.connects += 1;
    }

    /// The connection is gone: requests and consumers died with it (the router recreates what
    /// it needs on the next [`Control::Ready`]); publishes not acknowledged are sent again then.
    pub(crate) fn disconnected(&mut self, why: &str) {
        if self.session.phase != Phase::Down {
            self.stats.disconnects += 1;
        }
        self.session.stop();
        self.requests.clear();
        self.consumers.clear();
        // The server's `-ERR` (a refused authorization…) says more than the close after it.
        self.last_error = Some(match self.server_error.take() {
            Some(e) => format!("{why}, after the server's error: {e}"),
            None => why.to_string(),
        });
    }

    /// The `CONNECT` options: no echo of verbose `+OK`s, headers, and "no responders" answers
    /// for publishes nobody stores.
    pub(crate) fn connect_json(&self, tls: bool) -> String {
        let mut v = serde_json::json!({
            "verbose": false,
            "pedantic": false,
            "tls_required": tls,
            "name": format!("sluice-{}", self.config.node),
            "lang": "rust",
            "version": env!("CARGO_PKG_VERSION"),
            "protocol": 1,
            "headers": true,
            "no_responders": true,
        });
        if let Some(t) = &self.config.token {
            v["auth_token"] = t.0.clone().into();
        }
        if let (Some(u), Some(p)) = (&self.config.user, &self.config.password) {
            v["user"] = u.clone().into();
            v["pass"] = p.0.clone().into();
        }
        v.to_string()
    }

    /// Parse what the server sent; messages of the relay's consumers go to `on`, everything
    /// else is handled here or collected in `controls`.
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        want_tls: bool,
        now: Instant,
        mut on: impl FnMut(Inbound<'_>),
    ) -> Result<(), SessionError> {
        let mut session = std::mem::replace(&mut self.session, Session::new());
        let result = session.feed(data, want_tls, |out, step| match step {
            Step::None => {}
            Step::Ready => self.on_ready(out, now),
            Step::Error(e) => {
                log::warn!("cluster: NATS server error: {e}");
                self.last_error = Some(format!("NATS server error: {e}"));
                self.server_error = Some(e.to_string());
            }
            Step::Msg(m) => self.on_msg(out, m, &mut on),
        });
        self.session = session;
        result
    }

    fn on_ready(&mut self, out: &mut Vec<u8>, now: Instant) {
        proto::encode_sub(out, &format!("{}a.*", self.inbox), SID_ACKS);
        proto::encode_sub(out, &format!("{}r.*", self.inbox), SID_REPLIES);
        let before = out.len();
        self.inflight.resend(out, now);
        if out.len() > before {
            self.stats.resent += 1;
        }
        self.last_error = None;
        self.controls.push(Control::Ready);
    }

    fn on_msg(&mut self, out: &mut Vec<u8>, m: proto::Msg<'_>, on: &mut impl FnMut(Inbound<'_>)) {
        let headers = m.headers.and_then(Headers::parse);
        match m.sid {
            SID_ACKS => self.on_ack(m.subject, headers.and_then(|h| h.status), m.payload),
            SID_REPLIES => self.on_reply(m.subject, headers.and_then(|h| h.status), m.payload),
            sid => {
                let Some(topic) = self.consumers.get(&sid) else { return };
                match headers.and_then(|h| h.status.map(|s| (s, h))) {
                    Some((100, h)) => {
                        // Flow control: answer so the server keeps delivering. A heartbeat of
                        // a consumer waiting for a lost answer names it again.
                        let fc =
                            m.reply.filter(|r| !r.is_empty()).or(h.get("Nats-Consumer-Stalled"));
                        if let Some(reply) = fc {
                            log::trace!("cluster: flow control of `{topic}` answered");
                            proto::encode_pub(out, &String::from_utf8_lossy(reply), None, b"");
                        }
                        if let Some(last) = h.number("Nats-Last-Consumer") {
                            on(Inbound::Heartbeat { topic, sid, last_consumer: last });
                        }
                    }
                    Some(_) => {}
                    None => {
                        let Some(delivery) = m.reply.and_then(jetstream::delivery) else { return };
                        self.stats.received += 1;
                        let meta = headers.and_then(|h| h.meta());
                        on(Inbound::Message { topic, sid, delivery, meta, payload: m.payload });
                    }
                }
            }
        }
    }

    fn on_ack(&mut self, subject: &[u8], status: Option<u16>, payload: &[u8]) {
        let Some(id) = last_number(subject) else { return };
        let result = match status {
            // No stream took it (the stream has no leader now, or is gone): held again, sent
            // once the stream answers (JetStream keeps one copy if it did store it).
            Some(503) => {
                if let Some(topic) = self.inflight.fail(id) {
                    self.controls.push(Control::NoStream { topic });
                }
                return;
            }
            Some(s) => Err(format!("status {s}")),
            None => jetstream::pub_ack(payload).map_err(|e| e.to_string()),
        };
        let Some(acked) = self.inflight.ack(id) else { return };
        if acked.given_up > 0 {
            self.stats.publish_failed += acked.given_up;
            for _ in 0..acked.given_up {
                let why = "no stream took it, and a later message was stored".to_string();
                self.controls.push(Control::PublishFailed { topic: acked.topic.clone(), why });
            }
        }
        match result {
            Ok(ack) => {
                self.stats.acked += 1;
                self.stats.duplicates += u64::from(ack.duplicate);
                if let Some(reply) = acked.reply {
                    let _ = reply.try_send(ack.seq);
                }
            }
            Err(why) => {
                self.stats.publish_failed += 1;
                self.controls.push(Control::PublishFailed { topic: acked.topic, why });
            }
        }
    }

    fn on_reply(&mut self, subject: &[u8], status: Option<u16>, payload: &[u8]) {
        let Some(id) = last_number(subject) else { return };
        let Some((request, _)) = self.requests.remove(&id) else { return };
        let unanswered = |s: u16| ApiError {
            code: s,
            err_code: 0,
            description: "JetStream did not answer (is it enabled, with a meta leader?)".into(),
        };
        match request {
            Request::Stream(topic) => {
                let result = match status {
                    Some(s) => Err(unanswered(s)),
                    None => jetstream::stream_info(payload),
                };
                self.controls.push(Control::Stream { topic, result });
            }
            Request::Consumer(topic, sid) => {
                let result = match status {
                    Some(s) => Err(unanswered(s)),
                    None => jetstream::consumer_info(payload),
                };
                self.controls.push(Control::Consumer { topic, sid, result });
            }
        }
    }

    fn request(&mut self, subject: &str, body: &str, what: Request, now: Instant) {
        let id = self.next_id;
        self.next_id += 1;
        let reply = format!("{}r.{id}", self.inbox);
        proto::encode_pub(&mut self.session.out, subject, Some(&reply), body.as_bytes());
        self.requests.insert(id, (what, now));
    }

    /// Create (or find) the stream of `topic`; answered by [`Control::Stream`].
    pub(crate) fn create_stream(&mut self, topic: &Arc<str>, spec: &StreamSpec, now: Instant) {
        let name = names::stream(&self.config.prefix, topic);
        let body = jetstream::stream_create(&name, &self.subject(topic), spec);
        self.request(
            &format!("$JS.API.STREAM.CREATE.{name}"),
            &body,
            Request::Stream(topic.clone()),
            now,
        );
    }

    /// Read the stream of `topic` as it is (made with other settings by another node or an
    /// operator); answered by [`Control::Stream`].
    pub(crate) fn stream_info(&mut self, topic: &Arc<str>, now: Instant) {
        let name = names::stream(&self.config.prefix, topic);
        self.request(
            &format!("$JS.API.STREAM.INFO.{name}"),
            "",
            Request::Stream(topic.clone()),
            now,
        );
    }

    /// Start an ordered consumer of `topic` from `from`; returns its subscription id. Answered
    /// by [`Control::Consumer`]; its messages come to `feed`'s callback.
    pub(crate) fn create_consumer(
        &mut self,
        topic: &Arc<str>,
        from: jetstream::From,
        now: Instant,
    ) -> u64 {
        let sid = self.next_sid;
        self.next_sid += 1;
        let deliver = format!("{}d.{sid}", self.inbox);
        proto::encode_sub(&mut self.session.out, &deliver, sid);
        self.consumers.insert(sid, topic.clone());
        let stream = names::stream(&self.config.prefix, topic);
        let body = jetstream::consumer_create(
            &stream,
            &self.subject(topic),
            &deliver,
            from,
            self.config.heartbeat,
        );
        self.request(
            &format!("$JS.API.CONSUMER.CREATE.{stream}"),
            &body,
            Request::Consumer(topic.clone(), sid),
            now,
        );
        sid
    }

    /// Stop a consumer (the server removes it once its subscription is gone).
    pub(crate) fn drop_consumer(&mut self, sid: u64) {
        if self.consumers.remove(&sid).is_some() && self.is_ready() {
            proto::encode_unsub(&mut self.session.out, sid);
        }
    }

    /// Queue one message of `topic` for its stream: sent now if `send`, else held until
    /// [`Cluster::send_held`]. `Err` (nothing queued) past `max_pending_bytes`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn publish(
        &mut self,
        topic: &Arc<str>,
        subject: &str,
        meta: &Meta,
        payload: &[u8],
        send: bool,
        reply: Option<Sender<u64>>,
        now: Instant,
    ) -> Result<(), Option<Sender<u64>>> {
        if self.inflight.bytes() + payload.len() + 256 > self.config.max_pending_bytes {
            self.stats.not_sent += 1;
            return Err(reply);
        }
        let max = self.session.info.max_payload;
        if max > 0 && payload.len() + 256 > max {
            // The server would refuse it and close the connection.
            self.stats.publish_failed += 1;
            return Err(reply);
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut block = std::mem::take(&mut self.scratch);
        block.clear();
        headers::encode(&mut block, (&self.config.node, self.boot, id), meta);
        let mut frame = Vec::with_capacity(subject.len() + block.len() + payload.len() + 64);
        let ack = format!("{}a.{id}", self.inbox);
        proto::encode_hpub(&mut frame, subject, Some(&ack), &block, payload);
        self.scratch = block;
        let sent = (send && self.is_ready()).then_some(now);
        if sent.is_some() {
            self.session.out.extend_from_slice(&frame);
        }
        self.stats.published += 1;
        let entry = Entry {
            id,
            topic: topic.clone(),
            frame: frame.into(),
            sent,
            acked: false,
            failed: false,
            reply,
        };
        self.inflight.push(entry);
        Ok(())
    }

    /// Send the held messages of `topic` (its stream exists now).
    pub(crate) fn send_held(&mut self, topic: &str, now: Instant) {
        if self.is_ready() {
            self.inflight.send_held(Some(topic), &mut self.session.out, now);
        }
    }

    /// Answers that are late: an API request is given up (its owner asks again), a publish
    /// is sent again (JetStream keeps one copy). The connection itself is judged by `PING`s,
    /// so a slow JetStream (a stream electing its leader) does not make it reconnect.
    pub(crate) fn expire(&mut self, now: Instant) {
        let limit = self.config.request_timeout;
        let late = |at: Instant| now.saturating_duration_since(at) >= limit;
        let expired: Vec<u64> =
            self.requests.iter().filter(|(_, (_, at))| late(*at)).map(|(&id, _)| id).collect();
        for id in expired {
            let Some((request, _)) = self.requests.remove(&id) else { continue };
            let error = ApiError {
                code: 408,
                err_code: 0,
                description: format!("no answer from JetStream within {limit:?}"),
            };
            self.controls.push(match request {
                Request::Stream(topic) => Control::Stream { topic, result: Err(error) },
                Request::Consumer(topic, sid) => {
                    Control::Consumer { topic, sid, result: Err(error) }
                }
            });
        }
        // Only once what was queued before went out: a stalled server does not make the
        // outgoing buffer grow past the messages in flight (twice `max_pending_bytes` at most).
        let idle = self.session.out.is_empty();
        if idle && self.is_ready() && self.inflight.oldest_sent().is_some_and(late) {
            self.inflight.resend_older(now - limit, &mut self.session.out, now);
            self.stats.resent += 1;
        }
    }

    /// When [`Cluster::expire`] next has something to do.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let limit = self.config.request_timeout;
        let requests = self.requests.values().map(|(_, at)| *at).min();
        [requests, self.inflight.oldest_sent()].into_iter().flatten().min().map(|at| at + limit)
    }

    /// The consumer heartbeat interval.
    pub(crate) fn heartbeat(&self) -> Duration {
        self.config.heartbeat
    }
}

/// The number after the last `.` of a subject.
fn last_number(subject: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(subject).ok()?;
    s.rsplit('.').next()?.parse().ok()
}
