//! Sluice nodes of a cluster for tests: relays (in this process, or the real binary) whose
//! `[cluster]` points at a [`NatsCluster`], and waits on what the nodes say of the cluster.
//!
//! Node `i` lists the NATS servers starting with server `i`, so the nodes of a test are spread
//! over the servers and messages cross NATS routes.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use sluice::Config;

use super::nats::NatsCluster;
use super::{Binary, Relay, IO_TIMEOUT};

/// The `[cluster]` table (and `listen`) of node `name`, the `index`-th of `nodes`; `extra` is
/// appended (topics, pipelines, more cluster keys go before it in `[cluster]`).
pub fn toml(nats: &NatsCluster, nodes: &[&str], index: usize, extra: &str) -> String {
    let mut urls = nats.urls();
    let n = urls.len();
    urls.rotate_left(index % n);
    let urls: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    let names: Vec<String> = nodes.iter().map(|n| format!("\"{n}\"")).collect();
    let replicas = nats.len().min(3);
    format!(
        "listen = \"127.0.0.1:0\"\n{extra}\n[cluster]\nnats = [{}]\nnode = \"{}\"\nnodes = [{}]\n\
         replicas = {replicas}\nheartbeat = \"1s\"\nrequest_timeout = \"3s\"\n\
         backoff = {{ initial = \"50ms\", max = \"1s\" }}\n",
        urls.join(", "),
        nodes[index],
        names.join(", ")
    )
}

/// The configuration of node `index` of `nodes`.
pub fn config(nats: &NatsCluster, nodes: &[&str], index: usize, extra: &str) -> Config {
    let text = toml(nats, nodes, index, extra);
    Config::from_toml_str(&text, None).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Start every node in this process and wait until each has joined the cluster.
pub fn start_all(nats: &NatsCluster, nodes: &[&str], extra: &str) -> Vec<Relay> {
    let relays: Vec<Relay> =
        (0..nodes.len()).map(|i| Relay::start_with(config(nats, nodes, i, extra))).collect();
    for r in &relays {
        wait_joined(r);
    }
    relays
}

/// Wait until `relay` is connected to NATS with no topic left on a local stream.
pub fn wait_joined(relay: &Relay) {
    relay.wait_stats("the node to join the cluster", |s| {
        s.cluster.as_ref().is_some_and(|c| c.connected && c.detached_topics == 0)
    });
}

/// Wait until `relay` has lost NATS (its topics go on locally).
pub fn wait_detached(relay: &Relay) {
    relay.wait_stats("the node to lose NATS", |s| s.cluster.as_ref().is_some_and(|c| !c.connected));
}

/// A node as the real binary, with its configuration in a file of `dir`.
pub fn start_binary(
    nats: &NatsCluster,
    nodes: &[&str],
    index: usize,
    extra: &str,
    dir: &Path,
) -> Binary {
    let path = dir.join(format!("{}.toml", nodes[index]));
    std::fs::write(&path, toml(nats, nodes, index, extra)).unwrap();
    let bin = Binary::start(&["--config", path.to_str().unwrap()]);
    wait_ready(&bin);
    bin
}

/// Wait until a binary node's `/readyz` says it is ready (connected to the cluster).
pub fn wait_ready(bin: &Binary) {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let body = super::flink::http_get(bin.addr, "/readyz");
        if body.starts_with("ready")
            && body.contains("connected to NATS")
            && !body.contains("rejoining")
        {
            return;
        }
        assert!(Instant::now() < deadline, "node at {} not ready: {body}", bin.addr);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A metric of a binary node (`name{labels}` as rendered), 0 if absent.
pub fn metric(addr: std::net::SocketAddr, series: &str) -> u64 {
    let body = super::flink::http_get(addr, "/metrics");
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// What an envelope subscriber received: messages as `(epoch, offset, data)` with `data` the
/// text payload, and control messages, in order.
#[derive(Debug, Default)]
pub struct Seen {
    pub messages: Vec<(String, u64, String)>,
    pub controls: Vec<serde_json::Value>,
}

impl Seen {
    /// Read from `ws` until `done` holds for what was seen.
    pub fn read_until(&mut self, ws: &mut super::Ws, done: impl Fn(&Seen) -> bool) {
        while !done(self) {
            let v = super::envelope::next(ws);
            self.push(v);
        }
    }

    /// Read from `ws` until its node is gone (the socket fails or closes).
    pub fn read_until_gone(&mut self, ws: &mut super::Ws) {
        loop {
            match ws.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    let v: serde_json::Value = serde_json::from_str(&t).expect("JSON");
                    self.push(v);
                }
                Ok(tungstenite::Message::Close(_)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    fn push(&mut self, v: serde_json::Value) {
        if v.get("type").is_some() {
            self.controls.push(v);
            return;
        }
        let data = match &v["data"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let epoch = v["epoch"].as_str().expect("an epoch").to_string();
        self.messages.push((epoch, v["offset"].as_u64().expect("an offset"), data));
    }

    /// The payloads received, in order.
    pub fn data(&self) -> Vec<&str> {
        self.messages.iter().map(|(_, _, d)| d.as_str()).collect()
    }

    /// The last position: `(epoch, offset)` of the last message.
    pub fn position(&self) -> (String, u64) {
        let (e, o, _) = self.messages.last().expect("a message");
        (e.clone(), *o)
    }

    /// Control messages of type `kind` (and `reason`, if given).
    pub fn told(&self, kind: &str, reason: Option<&str>) -> usize {
        self.controls
            .iter()
            .filter(|c| c["type"] == kind && reason.is_none_or(|r| c["reason"] == r))
            .count()
    }
}

/// A publisher on its own thread, paced at about one message (`m0`, `m1`, …) per millisecond
/// until [`Paced::stop`].
pub struct Paced {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(super::Ws, usize)>,
}

impl Paced {
    /// Start publishing on `url` (`ws://…/pub/<topic>`).
    pub fn start(url: String) -> Paced {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut ws = super::connect(&url);
            let mut n = 0;
            while !flag.load(Ordering::Relaxed) {
                ws.send(tungstenite::Message::text(format!("m{n}"))).unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            (ws, n)
        });
        Paced { stop, thread }
    }

    /// Stop; the publisher's connection and how many it sent.
    pub fn stop(self) -> (super::Ws, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("the publisher")
    }
}
