//! What a `SluiceSink` reconnect duplicates, as an envelope subscriber sees it: the relay stays
//! up, a sink connection is cut after the relay delivered records whose acknowledgements were
//! held, and the sink sends them again. Each copy is a new message with its own offset (the
//! topic's offsets stay contiguous, none repeats); per subtask, the copies are one contiguous
//! run of its records that restarts at the first unacknowledged one, followed by the rest in
//! order; and the duplicates never exceed `sluice.recordsResent`.
//!
//! Every step waits for an event: each sink subtask stops before its record `GATE` on a gate
//! socket the test holds; once the subscriber has every record before the gate, the proxy
//! between the sink and the relay holds the relay's replies (the acknowledgements), the gate
//! opens, and once the subscriber has `DELIVERED_UNACKED` records past the gate the proxy cuts
//! every connection and forwards again.

mod util;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

use util::flink::flink;
use util::proxy::{Direction, Proxy};
use util::{envelope, watchdog, Binary, Ws};

const RECORDS: u64 = 20_000;
const PARALLELISM: u64 = 2;
const GATE: u64 = 3_000;
const DELIVERED_UNACKED: u64 = 1_000;
const TOPIC: &str = "results";

/// An envelope subscriber: per subtask, its sequence numbers in offset order; and every offset.
struct Sub {
    ws: Ws,
    seen: BTreeMap<u64, Vec<u64>>,
    offsets: Vec<u64>,
}

impl Sub {
    fn read(&mut self) -> (u64, u64) {
        loop {
            let v = envelope::next(&mut self.ws);
            if v["type"].is_string() {
                assert_eq!(v["type"], "subscribed", "{v}");
                continue;
            }
            self.offsets.push(v["offset"].as_u64().unwrap());
            let (s, n) =
                (v["data"]["subtask"].as_u64().unwrap(), v["data"]["seq"].as_u64().unwrap());
            self.seen.entry(s).or_default().push(n);
            return (s, n);
        }
    }

    fn last(&self, subtask: u64) -> Option<u64> {
        self.seen.get(&subtask).and_then(|v| v.last().copied())
    }
}

#[test]
fn a_reconnect_duplicates_one_run_under_new_offsets() {
    watchdog(900, || {
        let Some(f) = flink() else { return };
        let relay = Binary::start(&["--max-queued-bytes", "64MiB"]);
        let proxy = Proxy::start(Some(relay.addr));
        let mut sub = Sub {
            ws: envelope::connect(&format!("ws://{}/sub/{TOPIC}", relay.addr)),
            seen: BTreeMap::new(),
            offsets: Vec::new(),
        };
        let gate = TcpListener::bind("127.0.0.1:0").unwrap();
        let job = f.spawn(
            "SluiceSinkJob",
            &[
                format!("url=ws://{}", proxy.addr),
                format!("topic={TOPIC}"),
                format!("records={RECORDS}"),
                format!("parallelism={PARALLELISM}"),
                format!("gate={}", gate.local_addr().unwrap().port()),
                format!("gate_at={GATE}"),
            ],
        );
        let gated: Vec<TcpStream> = (0..PARALLELISM)
            .map(|_| {
                let (s, _) = gate.accept().unwrap();
                BufReader::new(s.try_clone().unwrap()).read_line(&mut String::new()).unwrap();
                s
            })
            .collect();
        while (0..PARALLELISM).any(|s| sub.last(s) < Some(GATE - 1)) {
            sub.read();
        }
        proxy.pause(Direction::Replies);
        for mut s in gated {
            s.write_all(b"go").unwrap();
        }
        let mut past_gate = 0;
        while past_gate < DELIVERED_UNACKED {
            if sub.read().1 >= GATE {
                past_gate += 1;
            }
        }
        proxy.cut();
        proxy.resume();

        let end = job.wait(600);
        assert!(end.status.success(), "the job failed:\n{}", end.stderr_tail(60));
        let last = RECORDS / PARALLELISM - 1;
        while (0..PARALLELISM).any(|s| sub.last(s) < Some(last)) {
            sub.read();
        }

        // Offsets: contiguous, each once, whatever the payloads.
        let first = sub.offsets[0];
        let want: Vec<u64> = (first..first + sub.offsets.len() as u64).collect();
        assert!(sub.offsets == want, "the topic's offsets are contiguous and distinct");
        // Per subtask: 0..=k, then one run from r <= k + 1 to the end.
        let mut duplicates = 0;
        for s in 0..PARALLELISM {
            let seqs = &sub.seen[&s];
            let Some(k) = seqs.windows(2).position(|w| w[1] != w[0] + 1) else {
                // Everything this subtask had sent was acknowledged before the cut.
                assert!(seqs.iter().copied().eq(0..=last), "subtask {s}: every record once");
                continue;
            };
            let (head, tail) = seqs.split_at(k + 1);
            assert!(head.iter().copied().eq(0..=head[head.len() - 1]), "subtask {s}: 0..k");
            let r = tail[0];
            assert!(r <= head[k], "subtask {s}: the run restarts at {r}, after {}", head[k]);
            assert!(tail.iter().copied().eq(r..=last), "subtask {s}: one run from {r} to the end");
            duplicates += head[k] - r + 1;
        }
        assert_eq!(sub.offsets.len() as u64, RECORDS + duplicates, "every copy has its own offset");
        let resent = end.metric("sluice.recordsResent") as u64;
        assert!(duplicates >= DELIVERED_UNACKED, "{duplicates} duplicates");
        assert!(duplicates <= resent, "{duplicates} duplicates but only {resent} records resent");
        eprintln!(
            "{RECORDS} records, {duplicates} duplicates under new offsets ({} in all), \
             {resent} re-sent",
            sub.offsets.len()
        );
    });
}
