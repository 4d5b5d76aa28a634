//! A NATS server that stops reading (frozen with SIGSTOP) does not make a node's memory grow
//! past `max_pending_bytes`: a publisher keeps writing 64 MiB while the server is frozen, the
//! messages waiting for NATS stay within the bound, the rest are counted as not sent (owed as a
//! gap), the node's peak RSS grows by far less than what was published, and once the server
//! runs again the node joins again.

mod util;

use std::process::Command;

use tungstenite::Message;
use util::attack::{peak_rss_kib, rss_kib};
use util::cluster::{self, metric};
use util::nats::NatsCluster;
use util::{connect, watchdog, Binary};

const MESSAGE: usize = 64 * 1024;
const MESSAGES: usize = 1024;
const MAX_PENDING: u64 = 1024 * 1024;
const PENDING: &str = "sluice_cluster_pending_bytes{node=\"a\"}";
const PUBLISHED: &str = "sluice_cluster_published_total{node=\"a\"}";
const NOT_SENT: &str = "sluice_cluster_not_sent_total{node=\"a\"}";

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill").args([sig, &pid.to_string()]).status().expect("kill").success();
    assert!(ok, "kill {sig} {pid}");
}

#[test]
fn a_frozen_nats_server_costs_at_most_max_pending_bytes() {
    watchdog(300, || {
        let nats = NatsCluster::start(1);
        let extra = "[limits]\nmax_history_bytes = \"2MiB\"\n";
        let path = nats.dir().join("a.toml");
        let text = format!(
            "{}max_pending_bytes = \"1MiB\"\nping_interval = \"1s\"\n",
            cluster::toml(&nats, &["a"], 0, extra)
        );
        std::fs::write(&path, text).unwrap();
        let node = Binary::start(&["--config", path.to_str().unwrap()]);
        cluster::wait_ready(&node);
        let pid = node.pid();

        // Warm up: the topic's stream exists and a message went through.
        let mut p = connect(&format!("ws://{}/pub/big", node.addr));
        let mut sub = connect(&format!("ws://{}/sub/big", node.addr));
        p.send(Message::binary(vec![1u8; MESSAGE])).unwrap();
        let first = sub.read().unwrap();
        assert!(first.is_binary() && first.len() == MESSAGE, "{first:?}");
        let before = rss_kib(pid);

        drop(sub);
        let nats_pid = nats.pid(0).expect("nats-server runs");
        signal(nats_pid, "-STOP");
        for i in 0..MESSAGES {
            p.send(Message::binary(vec![(i % 251) as u8; MESSAGE])).unwrap();
            let pending = metric(node.addr, PENDING);
            assert!(pending <= MAX_PENDING, "{pending} bytes pending after {i} messages");
        }
        // Every message was read: each one either went to NATS (sent or waiting) or not.
        let handled = || metric(node.addr, PUBLISHED) + metric(node.addr, NOT_SENT);
        while handled() < MESSAGES as u64 + 1 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let not_sent = metric(node.addr, NOT_SENT);
        let grown = peak_rss_kib(pid).saturating_sub(before);
        eprintln!("peak RSS grew by {grown} KiB; {not_sent} messages not sent to NATS");
        assert!(not_sent >= (MESSAGES / 2) as u64, "{not_sent} not sent of {MESSAGES}");
        assert!(grown < 32 * 1024, "RSS grew by {grown} KiB for 64 MiB published");

        signal(nats_pid, "-CONT");
        cluster::wait_ready(&node);
        assert!(metric(node.addr, PENDING) <= MAX_PENDING);
    });
}
