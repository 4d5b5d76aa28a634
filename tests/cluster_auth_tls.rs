//! Nodes join a NATS server that requires a token, a user and password, or TLS (with the CA in
//! `ca_file`), and carry messages between them; a node with wrong credentials does not join,
//! says why on `/readyz`, and delivers locally.

mod util;

use tungstenite::Message;
use util::cluster;
use util::flink::http_get;
use util::nats::{NatsCluster, NatsOptions};
use util::{connect, envelope, watchdog, Relay};

const NODES: [&str; 2] = ["a", "b"];

/// Two nodes with `auth` (lines of `[cluster]`): a message published on a reaches b.
fn two_nodes_carry_a_message(nats: &NatsCluster, auth: &str) {
    let nodes: Vec<Relay> = (0..2)
        .map(|i| {
            let text = format!("{}{auth}", cluster::toml(nats, &NODES, i, ""));
            Relay::start_with(sluice::Config::from_toml_str(&text, None).unwrap())
        })
        .collect();
    for n in &nodes {
        cluster::wait_joined(n);
    }
    carry(&nodes[0], &nodes[1], "across");
}

#[test]
fn a_token() {
    watchdog(180, || {
        let nats = NatsOptions::new().token("s3cret").start(1);
        two_nodes_carry_a_message(&nats, "token = \"s3cret\"\n");
        let wrong = format!("{}token = \"guess\"\n", cluster::toml(&nats, &NODES, 0, ""));
        refused(wrong);
    });
}

#[test]
fn a_user_and_password() {
    watchdog(180, || {
        let nats = NatsOptions::new().user_password("sluice", "pa55").start(1);
        two_nodes_carry_a_message(&nats, "user = \"sluice\"\npassword = \"pa55\"\n");
        let wrong = format!(
            "{}user = \"sluice\"\npassword = \"nope\"\n",
            cluster::toml(&nats, &NODES, 0, "")
        );
        refused(wrong);
    });
}

#[test]
fn tls_with_a_private_ca() {
    watchdog(180, || {
        let nats = NatsOptions::new().tls().start(1);
        let ca = nats.ca_file().expect("a CA").display().to_string();
        let auth = format!("ca_file = \"{ca}\"\n");
        // tls:// asks for TLS; the server also requires it for nats:// (its INFO says so).
        let toml = |i: usize| cluster::toml(&nats, &NODES, i, "").replace("nats://", "tls://");
        let nodes: Vec<Relay> = (0..2)
            .map(|i| {
                let text = format!(
                    "{}{auth}",
                    if i == 0 { toml(i) } else { cluster::toml(&nats, &NODES, i, "") }
                );
                Relay::start_with(sluice::Config::from_toml_str(&text, None).unwrap())
            })
            .collect();
        for n in &nodes {
            cluster::wait_joined(n);
        }
        carry(&nodes[0], &nodes[1], "over TLS");
        // Without the CA the server's certificate is not trusted: no join.
        refused(toml(0));
    });
}

/// A node started with `text` does not join; `/readyz` says why; it still delivers locally.
fn refused(text: String) {
    let node = Relay::start_with(sluice::Config::from_toml_str(&text, None).unwrap());
    let deadline = std::time::Instant::now() + util::IO_TIMEOUT;
    let why = loop {
        let body = http_get(node.addr, "/readyz");
        let lower = body.to_lowercase();
        if lower.contains("authorization") || lower.contains("certificate") {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "no reason on /readyz: {body}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!why.starts_with("ready"), "{why}");
    carry(&node, &node, "local");
}

/// A message published on `from` reaches an envelope subscriber of `to` (subscribed first).
fn carry(from: &Relay, to: &Relay, text: &str) {
    let mut sub = envelope::connect(&to.url("/sub/t"));
    assert_eq!(envelope::next(&mut sub)["type"], "subscribed");
    let mut p = connect(&from.url("/pub/t"));
    p.send(Message::text(text)).unwrap();
    let got = envelope::next(&mut sub);
    assert_eq!(got["data"], text, "{got}");
}
