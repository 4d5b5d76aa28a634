//! What the reactor tells about itself: the [`Stats`] snapshot, `/metrics`, `/readyz`, and the
//! once-a-second tick that closes a history interval and pushes the dashboard feed.
//!
//! Everything here runs on the reactor thread, off the message path: a snapshot is built per
//! scrape, per `Handle::stats` call and per tick, never per message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::core::Core;
use crate::conn::frames;
use crate::conn::http::Response;
use crate::conn::Kind;
use crate::dashboard::feed;
use crate::metrics::{self, Drops};
use crate::reactor::stats::Stats;

/// How often the history advances and the dashboard feed is pushed.
pub(crate) const TICK: Duration = Duration::from_secs(1);

impl Core {
    /// A snapshot of every counter, table and histogram.
    pub(crate) fn snapshot(&self) -> Stats {
        let m = &self.metrics;
        // Live gauges per series: a topic's subscribers and publishers (several topics may
        // share the overflow series).
        let mut live = vec![(0u64, 0u64); m.topics.counters.len()];
        for t in self.topics.iter() {
            let g = &mut live[t.series];
            g.0 += t.subscribers.len() as u64;
            g.1 += t.publishers as u64;
        }
        let per_topic = m.topics.snapshot(|id| live[id]);
        let mut drops = Drops::default();
        for t in &per_topic {
            drops.add(&t.drops);
        }
        let (worker_queues, result_queue) =
            self.pool.as_ref().map(|p| p.queues()).unwrap_or_default();
        Stats {
            uptime: Instant::now().saturating_duration_since(m.started),
            connections_open: self.conns.len() as u64,
            topics: self.topics.len() as u64,
            dashboards: self.feed.len() as u64,
            rejected_by_status: m.rejected.iter().map(|(&s, &n)| (s, n)).collect(),
            drops,
            per_topic,
            delivery: m.delivery.snapshot(),
            loop_time: m.loop_time.snapshot(),
            workers: self.pool.as_ref().map_or(0, |p| p.workers() as u64),
            worker_queues,
            result_queue,
            pipelines: self.pipeline_stats(),
            connectors: self.connectors.stats(),
            ..self.stats.clone()
        }
    }

    /// `GET /metrics`.
    pub(crate) fn metrics_response(&self) -> Response {
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

    /// `GET /readyz`: `200` when every check passes, else `503`; one line per check.
    pub(crate) fn readiness(&self) -> Response {
        let workers = match &self.pool {
            Some(pool) => format!("{} running", pool.workers()),
            None => "no pipelines".to_string(),
        };
        let checks = [
            (
                "listening",
                self.listening,
                if self.listening { "accepting connections" } else { "stopping" }.to_string(),
            ),
            ("workers", true, workers),
            self.connectors_check(),
        ];
        let ready = checks.iter().all(|c| c.1);
        let mut body = String::from(if ready { "ready\n" } else { "not ready\n" });
        for (name, ok, detail) in checks {
            body.push_str(&format!("{name}: {} ({detail})\n", if ok { "ok" } else { "FAIL" }));
        }
        Response::text(if ready { 200 } else { 503 }, body)
    }

    /// A feed message as an encoded text frame.
    pub(crate) fn feed_frame(&self, hello: bool) -> Arc<[u8]> {
        let stats = self.snapshot();
        let history = &self.metrics.history;
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
    pub(crate) fn tick(&mut self, now: Instant) {
        self.metrics.tick(self.stats.messages_in, self.stats.messages_out);
        if self.feed.is_empty() {
            return;
        }
        let frame = self.feed_frame(false);
        let keys: Vec<usize> = self.feed.iter().map(|(_, &k)| k).collect();
        for key in keys {
            let open = self.conns.get(key).is_some_and(|c| {
                matches!(c.kind, Kind::Feed(_)) && c.state() == crate::conn::State::Open
            });
            if open {
                self.queue_or_close(key, frame.clone(), now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Limits, MetricsConfig};

    fn core() -> Core {
        let poll = mio::Poll::new().unwrap();
        let registry = poll.registry().try_clone().unwrap();
        let gate = crate::access::Gate::new(&crate::config::Access::default()).unwrap();
        Core::new(Limits::default(), &MetricsConfig::default(), registry, Instant::now(), gate)
    }

    #[test]
    fn readiness_fails_once_not_listening() {
        let mut c = core();
        let ok = c.readiness();
        assert_eq!(ok.status, 200);
        c.listening = false;
        let down = c.readiness();
        assert_eq!(down.status, 503);
        assert_eq!(
            down.body,
            b"not ready\nlistening: FAIL (stopping)\nworkers: ok (no pipelines)\nconnectors: ok (none)\n"
        );
    }

    #[test]
    fn readiness_fails_while_a_connector_is_not_open() {
        let mut c = core();
        let now = Instant::now();
        let feed = crate::Connector::source("feed", "ws://127.0.0.1:9/", "raw");
        c.add_connector(feed.prepare().unwrap(), now).unwrap();
        let down = c.readiness();
        assert_eq!(down.status, 503);
        let body = String::from_utf8(down.body).unwrap();
        assert!(body.ends_with("connectors: FAIL (0 of 1 open; feed: idle)\n"), "{body}");
        let idx = c.connectors.find("feed").unwrap();
        c.connectors.live[idx].state = crate::ConnectorState::Open;
        let up = c.readiness();
        assert_eq!(up.status, 200);
        assert!(String::from_utf8(up.body).unwrap().ends_with("connectors: ok (1 open)\n"));
    }

    #[test]
    fn ticks_build_the_history_from_counter_deltas() {
        let mut c = core();
        c.stats.messages_in = 10;
        c.stats.messages_out = 30;
        c.tick(Instant::now());
        c.stats.messages_in = 15;
        c.tick(Instant::now());
        let samples: Vec<_> =
            c.metrics.history.iter().map(|s| (s.messages_in, s.messages_out)).collect();
        assert_eq!(samples, [(10, 30), (5, 0)]);
    }
}
