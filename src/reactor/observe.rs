//! What the reactor tells about itself: the [`Stats`] snapshot, `/metrics`, `/readyz`, and the
//! once-a-second tick that closes a history interval and pushes the dashboard feed.
//!
//! Everything here runs on the reactor thread, off the message path: a snapshot is built per
//! scrape, per `Handle::stats` call and per tick, never per message.

use std::sync::Arc;

use crate::conn::out::Stamp;
use std::time::{Duration, Instant};

use super::Reactor;
use crate::conn::frames;
use crate::conn::http::Response;
use crate::dashboard::feed;
use crate::metrics::{self, CompressionStats, Drops, Stats};

/// How often the history advances and the dashboard feed is pushed.
pub(crate) const TICK: Duration = Duration::from_secs(1);

impl Reactor {
    /// A snapshot of every counter, table and histogram.
    pub(super) fn snapshot(&self) -> Stats {
        let m = &self.observe.metrics;
        let per_topic = self.router.topic_stats();
        let mut drops = Drops::default();
        for t in &per_topic {
            drops.add(&t.drops);
        }
        let pool = self.router.pool.as_ref();
        let (worker_queues, result_queue) = pool.map(|p| p.queues()).unwrap_or_default();
        let c = self.router.counters;
        Stats {
            uptime: Instant::now().saturating_duration_since(m.started),
            connections_open: self.conns.len() as u64,
            topics: self.router.topics.len() as u64,
            history_bytes: self.router.history_bytes() as u64,
            dashboards: self.observe.feed.len() as u64,
            messages_in: c.messages_in,
            bytes_in: c.bytes_in,
            messages_out: c.messages_out,
            bytes_out: c.bytes_out,
            messages_unrouted: c.messages_unrouted,
            rejected_by_status: m.rejected.iter().map(|(&s, &n)| (s, n)).collect(),
            drops,
            per_topic,
            delivery: m.delivery.snapshot(),
            loop_time: m.loop_time.snapshot(),
            workers: pool.map_or(0, |p| p.workers() as u64),
            worker_queues,
            result_queue,
            pipelines: self.router.pipeline_stats(),
            connectors: self.connectors.stats(),
            cluster: self
                .router
                .cluster
                .as_deref()
                .map(|c| c.snapshot(self.router.detached_topics())),
            compression: self.compression_stats(),
            ..self.observe.stats.clone()
        }
    }

    /// permessage-deflate: the reactor's negotiation counters, the compressor's and the
    /// inflaters'.
    fn compression_stats(&self) -> CompressionStats {
        let z = self.router.deflate.counters();
        let inflate = &self.scratch.inflate;
        let i = inflate.counters;
        CompressionStats {
            compressed_messages: z.compressed_messages,
            compressed_bytes_in: z.compressed_bytes_in,
            compressed_bytes_out: z.compressed_bytes_out,
            compress_nanos: z.compress_nanos,
            uncompressed_small: z.uncompressed_small,
            uncompressed_incompressible: z.uncompressed_incompressible,
            compress_failed: z.compress_failed,
            inflated_messages: i.inflated_messages,
            inflated_bytes_in: i.inflated_bytes_in,
            inflated_bytes_out: i.inflated_bytes_out,
            inflate_refused_too_big: i.inflate_refused_too_big,
            inflate_refused_invalid: i.inflate_refused_invalid,
            context_inflaters: inflate.context_inflaters() as u64,
            ..self.observe.stats.compression
        }
    }

    /// `GET /metrics`.
    pub(super) fn metrics_response(&self) -> Response {
        Response::new(200, metrics::CONTENT_TYPE, metrics::render(&self.snapshot()))
    }

    /// The `/readyz` check of upstream connectors: ok when every connector's connection is open.
    fn connectors_check(&self) -> (&'static str, bool, String) {
        let all: Vec<_> = self.connectors.states().collect();
        let down: Vec<String> = all
            .iter()
            .filter(|(_, s)| !s.is_open())
            .map(|(n, s)| format!("{n}: {}", s.as_str()))
            .collect();
        let detail = match (all.len(), down.is_empty()) {
            (0, _) => "none".to_string(),
            (n, true) => format!("{n} open"),
            (n, false) => format!("{} of {n} open; {}", n - down.len(), down.join(", ")),
        };
        ("connectors", down.is_empty(), detail)
    }

    /// The `/readyz` check of the cluster: ok when alone, or when NATS is connected.
    fn cluster_check(&self) -> (&'static str, bool, String) {
        let Some(c) = self.router.cluster.as_deref() else {
            return ("cluster", true, "none: this relay runs alone".into());
        };
        let detached = self.router.detached_topics();
        match (c.is_ready(), &c.last_error) {
            (true, _) if detached == 0 => {
                ("cluster", true, format!("node `{}` connected to NATS", c.config.node))
            }
            (true, _) => (
                "cluster",
                true,
                format!("node `{}` connected to NATS; {detached} topics rejoining", c.config.node),
            ),
            (false, why) => (
                "cluster",
                false,
                format!(
                    "node `{}` not connected to NATS ({}); topics go on locally and owe their gaps",
                    c.config.node,
                    why.as_deref().unwrap_or("connecting")
                ),
            ),
        }
    }

    /// `GET /readyz`: `200` when every check passes, else `503`; one line per check.
    pub(super) fn readiness(&self) -> Response {
        let workers = match &self.router.pool {
            Some(pool) => {
                let failed: Vec<String> = self
                    .router
                    .pipeline_stats()
                    .iter()
                    .filter(|p| p.operator_panics > 0)
                    .map(|p| format!("`{}` {}", p.name, p.operator_panics))
                    .collect();
                match failed.is_empty() {
                    true => format!("{} running", pool.workers()),
                    false => format!(
                        "{} running; operator failures, each reset a pipeline's state on a worker: {}",
                        pool.workers(),
                        failed.join(", ")
                    ),
                }
            }
            None => "no pipelines".to_string(),
        };
        let checks = [
            (
                "listening",
                self.observe.listening,
                if self.observe.listening { "accepting connections" } else { "stopping" }
                    .to_string(),
            ),
            ("workers", true, workers),
            self.connectors_check(),
            self.cluster_check(),
        ];
        let ready = checks.iter().all(|c| c.1);
        let mut body = String::from(if ready { "ready\n" } else { "not ready\n" });
        for (name, ok, detail) in checks {
            body.push_str(&format!("{name}: {} ({detail})\n", if ok { "ok" } else { "FAIL" }));
        }
        Response::text(if ready { 200 } else { 503 }, body)
    }

    /// A feed message as an encoded text frame.
    pub(super) fn feed_frame(&self, hello: bool) -> Arc<[u8]> {
        let stats = self.snapshot();
        let history = &self.observe.metrics.history;
        let json = if hello {
            feed::render(&stats, history.iter(), true, metrics::unix_ms())
        } else {
            feed::render(&stats, history.last().into_iter(), false, metrics::unix_ms())
        };
        let mut frame = Vec::with_capacity(json.len() + 10);
        frames::encode_frame(&mut frame, frames::data_opcode(true), json.as_bytes(), None);
        Arc::from(frame)
    }

    /// Close the history interval and push one feed message to every dashboard.
    pub(super) fn tick(&mut self, now: Instant) {
        self.router.expire_histories(now);
        if self.router.cluster.is_some() {
            self.route(now, |router, _, out| router.cluster_tick(out));
        }
        let c = self.router.counters;
        self.observe.metrics.tick(c.messages_in, c.messages_out);
        if self.observe.feed.is_empty() {
            return;
        }
        let frame = self.feed_frame(false);
        // Feed connections leave the set when they close, so every key here is open.
        let keys: Vec<usize> = self.observe.feed.iter().map(|(_, &k)| k).collect();
        for key in keys {
            if self.conns.queue(key, frame.clone(), Stamp::NONE).is_err() {
                self.scratch.slow.push(key);
            }
        }
        self.close_slow(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn core() -> Reactor {
        let config = Config { listen: "127.0.0.1:0".parse().unwrap(), ..Config::default() };
        Reactor::bind(config).unwrap()
    }

    #[test]
    fn readiness_fails_once_not_listening() {
        let mut c = core();
        let ok = c.readiness();
        assert_eq!(ok.status, 200);
        c.observe.listening = false;
        let down = c.readiness();
        assert_eq!(down.status, 503);
        assert_eq!(
            down.body,
            b"not ready\nlistening: FAIL (stopping)\nworkers: ok (no pipelines)\nconnectors: ok (none)\n\
              cluster: ok (none: this relay runs alone)\n"
        );
    }

    #[test]
    fn readiness_fails_while_a_connector_is_not_open() {
        let mut c = core();
        let feed = crate::Connector::source("feed", "ws://127.0.0.1:9/", "raw");
        c.add_connector(feed).unwrap();
        let down = c.readiness();
        assert_eq!(down.status, 503);
        let body = String::from_utf8(down.body).unwrap();
        assert!(body.contains("\nconnectors: FAIL (0 of 1 open; feed: idle)\n"), "{body}");
        let idx = c.connectors.find("feed").unwrap();
        c.connectors.live[idx].state = crate::ConnectorState::Open;
        let up = c.readiness();
        assert_eq!(up.status, 200);
        assert!(String::from_utf8(up.body).unwrap().contains("\nconnectors: ok (1 open)\n"));
    }

    #[test]
    fn ticks_build_the_history_from_counter_deltas() {
        let mut c = core();
        c.router.counters.messages_in = 10;
        c.router.counters.messages_out = 30;
        c.tick(Instant::now());
        c.router.counters.messages_in = 15;
        c.tick(Instant::now());
        let samples: Vec<_> =
            c.observe.metrics.history.iter().map(|s| (s.messages_in, s.messages_out)).collect();
        assert_eq!(samples, [(10, 30), (5, 0)]);
    }
}
