//! The relay is killed (SIGKILL) and replaced twice while a `SluiceSink` job runs with
//! parallelism 2. The job does not fail; every record reaches a subscriber at least once, in
//! order per subtask on each relay; the duplicates are counted, reported, and bounded by what
//! the sink says it sent again.
//!
//! The two kills cover the two ways a record can be in flight when a relay dies:
//!
//! - **Lost on the way** (relay A): the relay never got it. The sink must send it again.
//! - **Delivered, acknowledgement lost** (relay B): subscribers got it, but the pong that
//!   acknowledges it never reached the sink. The sink must send it again, and subscribers of
//!   the next relay receive it twice: these duplicates are certain, and counted.
//!
//! Every step waits for an event, never for time:
//!
//! 1. The sink reaches the relay through a gated proxy (tests/util/proxy.rs); a subscriber reads
//!    the relay directly. Each sink subtask stops before its records `GATES[i]` on a gate socket
//!    the test holds, so the job is running when a relay dies.
//! 2. Once the subscriber has every record before the gate, the proxy holds one direction
//!    (A: the sink's bytes, until 64 KiB are held; B: the relay's replies, until the subscriber
//!    has 2,000 records past the gate), and the gate opens.
//! 3. The proxy's gate closes and the relay is killed: the sink's reconnect attempts wait at
//!    the gate. The next relay starts, a subscriber subscribes to it, and only then does the
//!    gate open: the subscriber is there before the sink can send anything again.
//! 4. The job ends (its end of input waits for every acknowledgement); the last subscriber then
//!    reads exactly as many messages as its relay counted in.

mod util;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use tungstenite::Message;
use util::flink::{flink, http_get, label};
use util::proxy::{Direction, Proxy};
use util::{connect, next_data, watchdog, Binary, Ws};

const RECORDS: u64 = 100_000;
/// Room for every record in the relay's queue to the test's (debug-built) subscriber, so a
/// slow test process is never closed as a slow consumer: the subscriber is not under test.
const QUEUE: &[&str] = &["--max-queued-bytes", "64MiB"];
const PARALLELISM: u64 = 2;
const GATES: [u64; 2] = [10_000, 30_000];
const TOPIC: &str = "results";
/// Records subscribers of relay B receive past the second gate before B dies, unacknowledged.
const DELIVERED_UNACKED: u64 = 2_000;

/// A subscriber and, per subtask, the sequence numbers it received in arrival order.
struct Sub {
    ws: Ws,
    seen: BTreeMap<u64, Vec<u64>>,
}

impl Sub {
    fn to(relay: SocketAddr) -> Sub {
        Sub { ws: connect(&format!("ws://{relay}/sub/{TOPIC}")), seen: BTreeMap::new() }
    }

    fn record(&mut self, m: &Message) -> (u64, u64) {
        let (subtask, seq) = label(m.to_text().unwrap());
        self.seen.entry(subtask).or_default().push(seq);
        (subtask, seq)
    }

    fn read(&mut self) -> (u64, u64) {
        let m = next_data(&mut self.ws);
        self.record(&m)
    }

    /// Read until every subtask's record `seq` has arrived.
    fn read_through(&mut self, seq: u64) {
        while (0..PARALLELISM).any(|s| self.seen.get(&s).and_then(|v| v.last()) < Some(&seq)) {
            self.read();
        }
    }

    /// Read until the connection ends (the relay was killed).
    fn drain_until_gone(&mut self) {
        loop {
            match self.ws.read() {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                    self.record(&m);
                }
                Ok(Message::Close(_)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    fn total(&self) -> usize {
        self.seen.values().map(Vec::len).sum()
    }
}

fn messages_in(addr: SocketAddr) -> u64 {
    let series = format!("sluice_topic_messages_in_total{{topic=\"{TOPIC}\"}} ");
    http_get(addr, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(&series).map(|v| v.trim().parse::<f64>().unwrap() as u64))
        .unwrap_or(0)
}

/// Accept every subtask at the gate.
fn at_gate(gate: &TcpListener) -> Vec<TcpStream> {
    (0..PARALLELISM)
        .map(|_| {
            let (s, _) = gate.accept().unwrap();
            BufReader::new(s.try_clone().unwrap()).read_line(&mut String::new()).unwrap();
            s
        })
        .collect()
}

fn release(gated: Vec<TcpStream>) {
    for mut s in gated {
        s.write_all(b"go").unwrap();
    }
}

/// Kill `relay` with its subscriber, start the next one and its subscriber, then let the
/// sink's held reconnects through.
fn replace(proxy: &Proxy, relay: Binary, sub: &mut Sub) -> (Binary, Sub) {
    proxy.close_gate();
    drop(relay); // SIGKILL
    sub.drain_until_gone();
    proxy.wait_for("the sink's reconnect attempts", |_, waiting| waiting >= 1);
    let next = Binary::start(QUEUE);
    let next_sub = Sub::to(next.addr);
    proxy.resume();
    proxy.open_gate(next.addr);
    (next, next_sub)
}

/// A subscriber's records of one subtask must be consecutive: (first, last).
fn run_of(relay: &str, subtask: u64, sub: &Sub) -> (u64, u64) {
    let seqs = sub.seen.get(&subtask).map_or(&[][..], |v| v);
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1, "relay {relay}, subtask {subtask}: {} then {}", w[0], w[1]);
    }
    let first = seqs.first().unwrap_or_else(|| panic!("relay {relay}: none from {subtask}"));
    (*first, *seqs.last().unwrap())
}

#[test]
fn relay_restarts_lose_nothing_and_duplicates_are_counted() {
    watchdog(900, || {
        let Some(f) = flink() else { return };
        let relay_a = Binary::start(QUEUE);
        let proxy = Proxy::start(Some(relay_a.addr));
        let mut sub_a = Sub::to(relay_a.addr);
        let gate = TcpListener::bind("127.0.0.1:0").unwrap();
        let job = f.spawn(
            "SluiceSinkJob",
            &[
                format!("url=ws://{}", proxy.addr),
                format!("topic={TOPIC}"),
                format!("records={RECORDS}"),
                format!("parallelism={PARALLELISM}"),
                format!("gate={}", gate.local_addr().unwrap().port()),
                format!("gate_at={},{}", GATES[0], GATES[1]),
            ],
        );

        // Relay A dies with records on their way to it.
        let gated = at_gate(&gate);
        sub_a.read_through(GATES[0] - 1);
        proxy.pause(Direction::Requests);
        release(gated);
        proxy.wait_for("64 KiB from the sink", |held, _| held >= 64 * 1024);
        let (relay_b, mut sub_b) = replace(&proxy, relay_a, &mut sub_a);

        // Relay B dies after delivering records whose acknowledgements are held.
        let gated = at_gate(&gate);
        sub_b.read_through(GATES[1] - 1);
        proxy.pause(Direction::Replies);
        release(gated);
        let mut past_gate = 0;
        while past_gate < DELIVERED_UNACKED {
            if sub_b.read().1 >= GATES[1] {
                past_gate += 1;
            }
        }
        let (relay_c, mut sub_c) = replace(&proxy, relay_b, &mut sub_b);

        let end = job.wait(600);
        assert!(end.status.success(), "the job failed:\n{}", end.stderr_tail(60));
        for _ in 0..messages_in(relay_c.addr) {
            sub_c.read();
        }

        let (mut unique, mut received) = (0, 0);
        for s in 0..PARALLELISM {
            let (a0, a1) = run_of("A", s, &sub_a);
            let (b0, b1) = run_of("B", s, &sub_b);
            let (c0, c1) = run_of("C", s, &sub_c);
            assert_eq!(a0, 0, "subtask {s} starts at 0");
            assert!(b0 <= a1 + 1, "subtask {s}: a hole between {a1} (A) and {b0} (B)");
            assert!(c0 <= b1 + 1, "subtask {s}: a hole between {b1} (B) and {c0} (C)");
            assert!(c1 >= b1 && b1 >= a1, "subtask {s}: each relay carries the stream on");
            unique += c1 + 1;
            received += (a1 - a0 + 1) + (b1 - b0 + 1) + (c1 - c0 + 1);
        }
        assert_eq!(unique, RECORDS, "every record, at least once");
        let duplicates = received - unique;
        let resent = end.metric("sluice.recordsResent") as u64;
        let reconnects = end.metric("sluice.reconnects");
        assert!(
            reconnects >= 2 * PARALLELISM as i64,
            "each subtask reconnected twice: {reconnects}"
        );
        assert!(
            duplicates >= DELIVERED_UNACKED,
            "the {DELIVERED_UNACKED} records B delivered unacknowledged must come again: {duplicates}"
        );
        assert!(duplicates <= resent, "{duplicates} duplicates but only {resent} records resent");
        eprintln!(
            "two relay restarts: {RECORDS} records delivered at least once ({} via A, {} via B, \
             {} via C); {duplicates} duplicates; the sink re-sent {resent} records after \
             {reconnects} reconnects",
            sub_a.total(),
            sub_b.total(),
            sub_c.total(),
        );
    });
}
