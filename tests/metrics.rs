//! `/metrics` after a known workload: every counter checked exactly, the exposition parsed by
//! the reference parser (Python's `prometheus_client`, installed by `tests/run.sh`), and the
//! same numbers available from `Handle::stats()`.

mod util;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use tungstenite::Message;
use util::{connect, next_data, watchdog, Raw, Relay};

/// `GET path` on a fresh connection; returns (status, head, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut raw = Raw::connect(addr);
    raw.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    let all = String::from_utf8(raw.read_to_end()).expect("UTF-8 response");
    let (head, body) = all.split_once("\r\n\r\n").expect("a response head");
    (head[9..12].parse().unwrap(), head.to_string(), body.to_string())
}

/// Samples keyed by `name{k="v",…}` (labels sorted), parsed by prometheus_client; `None` when
/// the parser is not installed outside CI.
fn parse_with_prometheus_client(text: &str) -> Option<HashMap<String, f64>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/parse_prom.py");
    let mut child = Command::new(util::python::python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(3) {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{stderr}");
        eprintln!("skipping: {stderr}");
        return None;
    }
    assert!(out.status.success(), "prometheus_client rejected the exposition: {stderr}\n{text}");
    let mut samples = HashMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut labels: Vec<(String, String)> = v["labels"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        labels.sort();
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let key = if labels.is_empty() {
            v["name"].as_str().unwrap().to_string()
        } else {
            format!("{}{{{}}}", v["name"].as_str().unwrap(), labels.join(","))
        };
        samples.insert(key, v["value"].as_f64().unwrap());
    }
    Some(samples)
}

#[test]
fn counters_after_a_known_workload_are_exact_and_the_exposition_parses() {
    watchdog(120, || {
        let mut config = util::test_config();
        config.metrics.max_topic_series = 2;
        let relay = Relay::start_with(config);
        // Series are given in order of first use: alpha, beta, then the cap is reached.
        let mut sub_alpha = connect(&relay.url("/sub/alpha"));
        let mut sub_both = connect(&relay.url("/sub/alpha,beta"));
        let mut pub_alpha = connect(&relay.url("/pub/alpha"));
        let mut pub_beta = connect(&relay.url("/pub/beta"));
        let mut pub_delta = connect(&relay.url("/pub/delta"));
        for i in 0..100 {
            pub_alpha.send(Message::text(format!("msg-{i:06}"))).unwrap(); // 10 bytes
        }
        for _ in 0..20 {
            pub_beta.send(Message::binary(vec![7u8; 300])).unwrap();
        }
        for _ in 0..7 {
            pub_delta.send(Message::text("d")).unwrap(); // nobody listens
        }
        for _ in 0..5 {
            relay.handle.publish("gamma", "hello").unwrap(); // no such topic
        }
        for _ in 0..100 {
            next_data(&mut sub_alpha);
        }
        for _ in 0..120 {
            next_data(&mut sub_both);
        }
        relay.wait_stats("unrouted messages", |s| s.messages_unrouted == 12);
        assert_eq!(Raw::http(relay.addr, b"GET /nope HTTP/1.1\r\n\r\n").0, 404);
        assert_eq!(Raw::http(relay.addr, b"GET /pub/bad%20name HTTP/1.1\r\n\r\n").0, 400);

        let (status, head, body) = get(relay.addr, "/metrics");
        assert_eq!(status, 200);
        assert!(head.contains("Content-Type: text/plain; version=0.0.4"), "{head}");
        let Some(m) = parse_with_prometheus_client(&body) else { return };
        let at = |key: &str| -> f64 {
            *m.get(key).unwrap_or_else(|| panic!("no sample {key} in:\n{body}"))
        };
        let expect = [
            ("sluice_connections_accepted_total", 8.0), // 5 WebSockets, 2 refused, this scrape
            ("sluice_upgrades_total", 5.0),
            ("sluice_http_rejected_total{status=\"400\"}", 1.0),
            ("sluice_http_rejected_total{status=\"404\"}", 1.0),
            ("sluice_messages_in_total", 132.0),
            ("sluice_bytes_in_total", 1000.0 + 6000.0 + 7.0 + 25.0),
            ("sluice_messages_out_total", 220.0),
            ("sluice_bytes_out_total", 200.0 * 12.0 + 20.0 * 304.0),
            // alpha, beta, delta (its publisher is connected), gamma (kept by its history).
            ("sluice_topics", 4.0),
            ("sluice_topic_subscribers{topic=\"alpha\"}", 2.0),
            ("sluice_topic_subscribers{topic=\"beta\"}", 1.0),
            ("sluice_topic_subscribers{topic=\"~other\"}", 0.0),
            ("sluice_topic_publishers{topic=\"alpha\"}", 1.0),
            ("sluice_topic_publishers{topic=\"~other\"}", 1.0),
            ("sluice_topic_messages_in_total{topic=\"alpha\"}", 100.0),
            ("sluice_topic_bytes_in_total{topic=\"alpha\"}", 1000.0),
            ("sluice_topic_messages_out_total{topic=\"alpha\"}", 200.0),
            ("sluice_topic_bytes_out_total{topic=\"alpha\"}", 2400.0),
            ("sluice_topic_messages_in_total{topic=\"beta\"}", 20.0),
            ("sluice_topic_bytes_in_total{topic=\"beta\"}", 6000.0),
            ("sluice_topic_messages_out_total{topic=\"beta\"}", 20.0),
            ("sluice_topic_bytes_out_total{topic=\"beta\"}", 6080.0),
            ("sluice_topic_messages_in_total{topic=\"~other\"}", 12.0),
            ("sluice_topic_bytes_in_total{topic=\"~other\"}", 32.0),
            ("sluice_topic_messages_out_total{topic=\"~other\"}", 0.0),
            ("sluice_topic_dropped_total{reason=\"no_subscriber\",topic=\"~other\"}", 12.0),
            ("sluice_topic_dropped_total{reason=\"no_subscriber\",topic=\"alpha\"}", 0.0),
            ("sluice_topic_dropped_total{reason=\"slow_consumer\",topic=\"alpha\"}", 0.0),
            ("sluice_connections_closed_total{reason=\"slow_consumer\"}", 0.0),
            // One latency value per message per subscriber, once its write completed.
            ("sluice_delivery_latency_seconds_count", 220.0),
            ("sluice_delivery_latency_seconds_bucket{le=\"+Inf\"}", 220.0),
        ];
        for (key, want) in expect {
            assert_eq!(at(key), want, "{key}");
        }
        assert_eq!(
            m.keys().filter(|k| k.starts_with("sluice_topic_messages_in_total")).count(),
            3,
            "two named series and ~other: the cap holds"
        );
        // Buckets are cumulative and end at the count; the sum is positive.
        let mut last = 0.0;
        for le in sluice::metrics::BUCKETS_NS {
            let key =
                format!("sluice_delivery_latency_seconds_bucket{{le=\"{}\"}}", le as f64 / 1e9);
            let key = m
                .keys()
                .find(|k| {
                    k.starts_with("sluice_delivery_latency_seconds_bucket")
                        && k.split("le=\"")
                            .nth(1)
                            .and_then(|v| v.trim_end_matches("\"}").parse::<f64>().ok())
                            == Some(le as f64 / 1e9)
                })
                .unwrap_or_else(|| panic!("no bucket {key}"));
            assert!(m[key] >= last, "buckets must not decrease");
            last = m[key];
        }
        assert!(last <= 220.0);
        assert!(at("sluice_delivery_latency_seconds_sum") > 0.0);
        assert!(at("sluice_loop_duration_seconds_count") > 0.0);

        // The library reports the same numbers.
        let s = relay.stats();
        assert_eq!((s.messages_in, s.messages_out, s.messages_unrouted), (132, 220, 12));
        assert_eq!(s.delivery.count, 220);
        assert_eq!(s.drops.no_subscriber, 12);
        assert_eq!(s.rejected_by_status, vec![(400, 1), (404, 1)]);
        let names: Vec<&str> = s.per_topic.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["alpha", "beta", sluice::metrics::OTHER_TOPICS]);
        assert_eq!(s.per_topic[0].messages_out, 200);
        assert!(s.delivery.p50 <= s.delivery.p99 && s.delivery.p99 <= s.delivery.max);
    });
}

#[test]
fn latency_histograms_can_be_turned_off_and_counters_stay() {
    watchdog(60, || {
        let mut config = util::test_config();
        config.metrics.latency_histograms = false;
        let relay = Relay::start_with(config);
        let mut sub = connect(&relay.url("/sub/t"));
        let mut publisher = connect(&relay.url("/pub/t"));
        for _ in 0..10 {
            publisher.send(Message::text("x")).unwrap();
        }
        for _ in 0..10 {
            next_data(&mut sub);
        }
        let s = relay.stats();
        assert_eq!((s.messages_in, s.messages_out), (10, 10));
        assert_eq!((s.delivery.count, s.loop_time.count), (0, 0));
        let (_, _, body) = get(relay.addr, "/metrics");
        assert!(body.contains("sluice_delivery_latency_seconds_count 0"));
    });
}

#[test]
fn a_slow_consumer_is_counted_as_a_drop_on_its_topic() {
    watchdog(120, || {
        let mut config = util::test_config();
        config.limits.max_queued_bytes = 64 << 10;
        config.limits.close_timeout = std::time::Duration::from_secs(60);
        let relay = Relay::start_with(config);
        let _stalled = Raw::upgraded(relay.addr, "/sub/feed");
        let mut publisher = connect(&relay.url("/pub/feed"));
        let payload = "x".repeat(1000);
        let mut sent = 0;
        while relay.stats().slow_consumer_closes == 0 {
            assert!(sent < 100_000, "the stalled subscriber was never closed");
            for _ in 0..50 {
                publisher.send(Message::text(payload.clone())).unwrap();
                sent += 1;
            }
        }
        let s = relay.wait_stats("all messages counted", |s| s.messages_in == sent);
        let feed = &s.per_topic[0];
        // The batch that did not fit is counted (a read batch may hold several messages).
        assert!(feed.drops.slow_consumer >= 1);
        assert_eq!(s.drops.slow_consumer, feed.drops.slow_consumer);
        // Messages published while the closed subscriber flushes its close frame are not meant
        // for it any more, and once it is gone they count as no_subscriber drops.
        assert!(feed.messages_out + feed.drops.total() <= sent);
        assert!(feed.messages_out > 0);
        let (_, _, body) = get(relay.addr, "/metrics");
        assert!(body.contains("sluice_connections_closed_total{reason=\"slow_consumer\"} 1"));
        assert!(body.contains(&format!(
            "sluice_topic_dropped_total{{topic=\"feed\",reason=\"slow_consumer\"}} {}",
            feed.drops.slow_consumer
        )));
    });
}

#[test]
fn an_invalid_message_is_counted_as_a_drop_on_its_topic() {
    watchdog(60, || {
        let relay = Relay::start();
        let mut raw = Raw::upgraded(relay.addr, "/pub/sensors");
        raw.send(&util::encode_frame(true, 1, b"fine", true));
        raw.send(&util::encode_frame(true, 1, &[0xce, 0xba, 0xff], true));
        assert_eq!(raw.expect_close().0, 1007);
        let s = relay.wait_stats("the protocol close", |s| s.protocol_closes == 1);
        let t = &s.per_topic[0];
        assert_eq!((t.name.as_str(), t.messages_in, t.drops.invalid), ("sensors", 1, 1));
        let (_, _, body) = get(relay.addr, "/metrics");
        assert!(body.contains("sluice_topic_dropped_total{topic=\"sensors\",reason=\"invalid\"} 1"));
    });
}

#[test]
fn pipeline_counters_are_exported_and_its_input_is_not_a_drop() {
    watchdog(120, || {
        let config = sluice::Config::from_toml_str(
            "listen = \"127.0.0.1:0\"\n[[pipeline]]\nname = \"double\"\nfrom = \"in\"\nto = \"out\"\n\
             steps = [{ map = \"{v: (.v * 2)}\" }]\n",
            None,
        )
        .unwrap();
        let relay = Relay::start_with(config);
        let mut sub = connect(&relay.url("/sub/out"));
        let mut publisher = connect(&relay.url("/pub/in"));
        for i in 0..5 {
            publisher.send(Message::text(format!("{{\"v\":{i}}}"))).unwrap();
        }
        for _ in 0..5 {
            next_data(&mut sub);
        }
        let s = relay.wait_stats("worker counters", |s| {
            s.pipelines.first().is_some_and(|p| p.records_out == 5)
        });
        let input = s.per_topic.iter().find(|t| t.name == "in").unwrap();
        assert_eq!((input.messages_in, input.drops.no_subscriber), (5, 0));
        let (_, _, body) = get(relay.addr, "/metrics");
        let Some(m) = parse_with_prometheus_client(&body) else { return };
        assert_eq!(m["sluice_pipeline_messages_in_total{pipeline=\"double\"}"], 5.0);
        assert_eq!(m["sluice_pipeline_records_out_total{pipeline=\"double\"}"], 5.0);
        assert_eq!(m["sluice_pipeline_errors_total{kind=\"expr\",pipeline=\"double\"}"], 0.0);
        assert_eq!(m["sluice_topic_messages_out_total{topic=\"out\"}"], 5.0);
        assert!(m["sluice_workers"] >= 1.0);
    });
}

#[test]
fn worker_queue_depths_count_the_batches_waiting() {
    watchdog(120, || {
        // Two workers with queues of 16 batches. The operator holds the first message until the
        // test releases it, so the worker that took it leaves the rest in its queue: one batch
        // per read, and each message below is read on its own (the test waits for it).
        const K: u64 = 6;
        let (entered_tx, entered) = crossbeam_channel::unbounded::<()>();
        let (release, release_rx) = crossbeam_channel::unbounded::<()>();
        let config = sluice::Config {
            workers: sluice::WorkerConfig { count: 2, queue: 16, pin: false, ..Default::default() },
            ..util::test_config()
        };
        let mut reactor = sluice::Reactor::bind(config).unwrap();
        reactor
            .add_pipeline(
                sluice::Pipeline::from_topic("in")
                    .name("hold")
                    .map(move |r: sluice::Record| {
                        if r.as_str() == Some("hold") {
                            entered_tx.send(()).unwrap();
                            release_rx.recv_timeout(util::IO_TIMEOUT).unwrap();
                        }
                        r
                    })
                    .to_topic("out"),
            )
            .unwrap();
        let relay = Relay::run(reactor);
        let mut out = connect(&relay.url("/sub/out"));
        let mut publisher = connect(&relay.url("/pub/in"));
        publisher.send(Message::text("hold")).unwrap();
        entered.recv_timeout(util::IO_TIMEOUT).unwrap();
        for i in 2..=K {
            publisher.send(Message::text(format!("queued {i}"))).unwrap();
            relay.wait_stats("the message handed over", |s| s.pipelines[0].messages_in == i);
        }

        // Handle::stats: all of them wait on the publisher's worker, none on the other.
        let s = relay.stats();
        let mut depths: Vec<u64> = s.worker_queues.iter().map(|q| q.queued).collect();
        depths.sort();
        assert_eq!(depths, [0, K - 1]);
        assert!(s.worker_queues.iter().all(|q| q.capacity == 16));
        assert_eq!((s.result_queue.queued, s.result_queue.capacity), (0, 4096));
        assert_eq!(s.pipelines[0].dropped_full, 0);

        // /metrics: the same numbers, one series per worker.
        let (_, _, body) = get(relay.addr, "/metrics");
        if let Some(m) = parse_with_prometheus_client(&body) {
            let mut depths: Vec<f64> = (0..2)
                .map(|w| m[&format!("sluice_worker_queue_depth{{worker=\"{w}\"}}")])
                .collect();
            depths.sort_by(f64::total_cmp);
            assert_eq!(depths, [0.0, (K - 1) as f64]);
            for w in 0..2 {
                assert_eq!(m[&format!("sluice_worker_queue_capacity{{worker=\"{w}\"}}")], 16.0);
            }
            assert_eq!(m["sluice_result_queue_depth"], 0.0);
            assert_eq!(m["sluice_result_queue_capacity"], 4096.0);
        }

        // Released, the worker drains its queue in order.
        release.send(()).unwrap();
        assert_eq!(next_data(&mut out), Message::text("hold"));
        for i in 2..=K {
            assert_eq!(next_data(&mut out), Message::text(format!("queued {i}")));
        }
        let s = relay.wait_stats("all processed", |s| s.pipelines[0].records_out == K);
        assert!(s.worker_queues.iter().all(|q| q.queued == 0), "{:?}", s.worker_queues);
    });
}
