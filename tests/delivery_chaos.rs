//! Chaos, bounded: 3 publishers and 20 envelope subscribers for 30 s, the subscribers
//! disconnecting at random (cleanly or not), staying away a random while, resuming with
//! `?since=`, and reading fast, slowly or not at all for a while — on three topics whose
//! slow-consumer policies are `close`, `skip` and `latest` (with a key). For every subscriber
//! and topic the accounting identity holds over the envelope stream: the offsets it was
//! subscribed over = delivered + `gap` ranges + conflated counts + explicit losses, with no
//! duplicate and no hole, and every resume is the exact gap (`recovered:true`) or refused with
//! a reason (`tests/util/chaos.rs` checks each message as it comes).
//!
//! Then the relay's counters: messages in per topic exactly, over the whole run; and, over a
//! last phase where no subscriber disconnects by itself (some stop reading while the
//! publishers send), drops by reason (`skipped`, `conflated`), messages out and slow-consumer
//! closes exactly. (During the chaos the relay may count a skip or a conflation for a
//! subscriber that leaves before it hears of it, so there they are bounds.)
//!
//! Every decision comes from one seed, printed first: `CHAOS_SEED=<seed>` replays the same
//! decisions (the timing differs). Pauses between actions shape the load; nothing waits by
//! sleeping for something to have happened.

mod util;

use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::error::ProtocolError;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};
use util::chaos::{payload, small_socket, Bounds, Rng, Slow, Tally, View};
use util::{watchdog, Relay, IO_TIMEOUT};

const TOPICS: [(&str, Slow); 3] =
    [("chaos.close", Slow::Close), ("chaos.skip", Slow::Skip), ("chaos.latest", Slow::Latest)];
const SUBSCRIBERS: usize = 20;
/// Subscribers `0..CLOSE_ONLY` read `chaos.close` alone (only they can be closed by the relay);
/// the others read `chaos.skip`, `chaos.latest` or both.
const CLOSE_ONLY: usize = 7;
const CHAOS: Duration = Duration::from_secs(30);
const CHAOS_MAX: u64 = 20_000;
/// The last phase publishes until every subscriber that stopped reading is over its bound (the
/// relay's counters say so), at most this many messages per publisher.
const LAST_MAX: u64 = 30_000;
/// As configured below; an envelope of the publishers' messages is under 600 bytes.
const BOUNDS: Bounds =
    Bounds { max_recovery: 400, history: 1500, queue: 64 << 10, max_envelope: 600 };
const MAX_SESSIONS: u64 = 1_000;

const CONFIG: &str = r#"
listen = "127.0.0.1:0"
[limits]
max_queued_bytes = "64KiB"
idle_ping = "10m"
close_timeout = "30s"
[[topic]]
match = "chaos.close"
history = { size = 1500, ttl = "10m" }
max_recovery = 400
slow = "close"
[[topic]]
match = "chaos.skip"
history = { size = 1500, ttl = "10m" }
max_recovery = 400
slow = "skip"
[[topic]]
match = "chaos.latest"
history = { size = 1500, ttl = "10m" }
max_recovery = 400
slow = "latest"
key = ".k"
"#;

const CHAOS_PHASE: u8 = 0;
const SETTLE: u8 = 1;
const LAST: u8 = 2;
const DONE: u8 = 3;

/// What the test thread tells every client.
struct Control {
    phase: AtomicU8,
    /// The top offset of each topic once the publishers have stopped (a settle's target).
    tops: [AtomicU64; 3],
    /// Bumped at each settle: a subscriber reports once per settle.
    settle: AtomicU64,
    /// The last phase's messages are all published.
    published: AtomicBool,
}

impl Control {
    fn phase(&self) -> u8 {
        self.phase.load(SeqCst)
    }
}

/// A subscriber's report: settled (every view at its topic's top), or failed.
enum Report {
    Settled { id: usize, settle: u64, tallies: Vec<(usize, Tally)>, closes: u64 },
    Failed { id: usize, why: String },
}

/// What a subscriber ends with.
struct End {
    views: Vec<(usize, View)>,
    closes: u64,
    sessions: u64,
}

#[test]
fn every_offset_is_accounted_for_under_disconnects_resumes_and_slow_readers() {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Rng::new(std::process::id().into()).next_u64() ^ clock_seed());
    eprintln!("chaos seed {seed} (replay: CHAOS_SEED={seed} cargo test --test delivery_chaos)");
    watchdog(420, move || chaos(seed));
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn chaos(seed: u64) {
    let config = sluice::Config::from_toml_str(CONFIG, None).expect("config");
    let relay = Relay::start_with(config);
    let SocketAddr::V4(addr) = relay.addr else { panic!("an IPv4 address") };
    let ctl = Arc::new(Control {
        phase: AtomicU8::new(CHAOS_PHASE),
        tops: Default::default(),
        settle: AtomicU64::new(0),
        published: AtomicBool::new(false),
    });
    let (tx, rx) = mpsc::channel();
    let subs: Vec<_> = (0..SUBSCRIBERS)
        .map(|id| {
            let (ctl, tx) = (ctl.clone(), tx.clone());
            thread::spawn(move || {
                let end = subscriber(id, seed, addr, &ctl, &tx);
                if let Err(why) = &end {
                    let _ = tx.send(Report::Failed { id, why: why.clone() });
                }
                end
            })
        })
        .collect();

    // The chaos.
    let deadline = Instant::now() + CHAOS;
    let published =
        publish_all(seed, addr, [0; 3], |_, n| n < CHAOS_MAX && Instant::now() < deadline, 300);
    let (s1, t1) = settle(&relay, &ctl, &rx, published, 1);

    // The last phase: no disconnects of their own; some subscribers stop reading until every
    // message is published, and the publishers go on until each of those is over its bound.
    ctl.phase.store(LAST, SeqCst);
    let start = published;
    let pressed = AtomicBool::new(false);
    let stalled_close = (0..CLOSE_ONLY).filter(|id| stalls_last(*id)).count() as u64;
    let published = thread::scope(|s| {
        s.spawn(|| {
            // Polls the counters (as `Relay::wait_stats` does) until the publishers may stop.
            while !ctl.published.load(SeqCst) {
                let now = relay.stats();
                if now.slow_consumer_closes >= s1.slow_consumer_closes + stalled_close
                    && topic(&now, 1).drops.skipped > topic(&s1, 1).drops.skipped
                    && topic(&now, 2).drops.conflated > topic(&s1, 2).drops.conflated
                {
                    pressed.store(true, SeqCst);
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
        });
        let go = |i: usize, n: u64| n < start[i] + LAST_MAX && !pressed.load(SeqCst);
        let published = publish_all(seed ^ 1, addr, start, go, 400);
        ctl.published.store(true, SeqCst);
        published
    });
    let (s2, t2) = settle(&relay, &ctl, &rx, published, 2);
    ctl.phase.store(DONE, SeqCst);
    let ends: Vec<End> = subs
        .into_iter()
        .enumerate()
        .map(|(id, h)| {
            h.join().expect("subscriber thread").unwrap_or_else(|e| panic!("sub {id}: {e}"))
        })
        .collect();

    // Each subscriber, each topic: the identity.
    let mut total = [Tally::default(); 3];
    for (id, end) in ends.iter().enumerate() {
        for (t, view) in &end.views {
            view.check_identity().unwrap_or_else(|e| panic!("subscriber {id}: {e}"));
            add(&mut total[*t], &view.tally);
        }
    }
    let closes: u64 = ends.iter().map(|e| e.closes).sum();
    let sessions: u64 = ends.iter().map(|e| e.sessions).sum();
    for (i, (name, _)) in TOPICS.iter().enumerate() {
        eprintln!("{name}: {} published; subscribers saw {:?}", published[i], total[i]);
    }
    eprintln!("{sessions} connections, {closes} closed by the relay (1008)");

    // The relay's counters over the whole run.
    let end = relay.stats();
    for (i, (name, _)) in TOPICS.iter().enumerate() {
        let t = topic(&end, i);
        assert_eq!(t.messages_in, published[i], "{name}: messages in");
        assert_eq!((t.drops.lost, t.drops.invalid), (0, 0), "{name}: {:?}", t.drops);
    }
    let (close, skip, latest) = (topic(&end, 0), topic(&end, 1), topic(&end, 2));
    assert!(skip.drops.skipped >= total[1].gapped, "{:?} vs {:?}", skip.drops, total[1]);
    assert!(latest.drops.conflated >= total[2].conflated, "{:?} vs {:?}", latest.drops, total[2]);
    assert!(end.slow_consumer_closes >= closes && close.drops.slow_consumer >= closes);
    assert_eq!(skip.drops.slow_consumer + latest.drops.slow_consumer, 0, "only chaos.close closes");

    // The last phase, exactly.
    let delta = |t: usize, f: fn(&Tally) -> u64| -> u64 {
        t2.iter().map(|(_, v)| sum(v, t, f)).sum::<u64>()
            - t1.iter().map(|(_, v)| sum(v, t, f)).sum::<u64>()
    };
    let (a, b) = (topic(&s1, 1), topic(&s2, 1));
    assert_eq!(b.drops.skipped - a.drops.skipped, delta(1, |t| t.gapped), "chaos.skip: skipped");
    assert_eq!(b.messages_out - a.messages_out, delta(1, |t| t.live), "chaos.skip: messages out");
    let (a, b) = (topic(&s1, 2), topic(&s2, 2));
    assert_eq!(
        b.drops.conflated - a.drops.conflated,
        delta(2, |t| t.conflated),
        "chaos.latest: conflated"
    );
    assert_eq!(b.messages_out - a.messages_out, delta(2, |t| t.live), "chaos.latest: messages out");
    let closed = t2.iter().map(|(c, _)| c).sum::<u64>() - t1.iter().map(|(c, _)| c).sum::<u64>();
    assert_eq!(s2.slow_consumer_closes - s1.slow_consumer_closes, closed, "slow-consumer closes");
    eprintln!(
        "last phase: {} skipped, {} conflated, {closed} closed",
        delta(1, |t| t.gapped),
        delta(2, |t| t.conflated)
    );

    // Every policy, and both answers to a resume, were exercised.
    let (skipped, conflated) = (delta(1, |t| t.gapped), delta(2, |t| t.conflated));
    assert!(
        skipped > 0 && conflated > 0 && closed > 0,
        "the last phase must exercise every policy: {skipped} skipped, {conflated} conflated, {closed} closed"
    );
    let all = total.iter().fold(Tally::default(), |mut a, t| {
        add(&mut a, t);
        a
    });
    assert!(all.recovered > 0 && all.expired + all.too_many > 0, "resumes: {all:?}");
}

/// Run one publisher per topic from message `start[i]` while `go(i, n)`, with up to `pad`
/// bytes of padding per message; their counts.
fn publish_all(
    seed: u64,
    addr: SocketAddrV4,
    start: [u64; 3],
    go: impl Fn(usize, u64) -> bool + Sync,
    pad: u64,
) -> [u64; 3] {
    let mut out = start;
    thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                s.spawn({
                    let go = &go;
                    move || publisher(i, seed, addr, start[i], go, pad)
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            out[i] = h.join().expect("publisher thread");
        }
    });
    out
}

/// Publish messages `n = start…` to topic `i` in bursts, reconnecting now and then (after a
/// close handshake, so the relay has read everything sent before); returns the next `n`.
fn publisher(
    i: usize,
    seed: u64,
    addr: SocketAddrV4,
    start: u64,
    go: &(impl Fn(usize, u64) -> bool + Sync),
    pad: u64,
) -> u64 {
    let mut rng = Rng::new(seed ^ (0x5eed + i as u64));
    let url = format!("ws://{addr}/pub/{}", TOPICS[i].0);
    let mut ws = util::connect(&url);
    let mut n = start;
    while go(i, n) {
        for _ in 0..rng.range(1, 30) {
            let pad = rng.range(0, pad) as usize;
            ws.send(Message::text(payload(n, pad))).expect("publish");
            n += 1;
        }
        if rng.chance(0.01) {
            ws.close(None).expect("close");
            while ws.read().is_ok() {}
            ws = util::connect(&url);
        }
        thread::sleep(Duration::from_millis(rng.range(5, 70))); // load shaping
    }
    ws.close(None).expect("close");
    while ws.read().is_ok() {}
    n
}

/// Stop the publishers' traffic (they have returned `published`), wait until the relay has
/// read it all and every subscriber holds every topic to its top; the relay's counters and
/// every subscriber's tallies at that point.
fn settle(
    relay: &Relay,
    ctl: &Control,
    rx: &mpsc::Receiver<Report>,
    published: [u64; 3],
    round: u64,
) -> (sluice::Stats, Vec<Snapshot>) {
    relay.wait_stats("the publishes", |s| {
        TOPICS.iter().enumerate().all(|(i, (name, _))| {
            s.per_topic.iter().any(|t| t.name == *name && t.messages_in == published[i])
        })
    });
    for (i, top) in published.iter().enumerate() {
        ctl.tops[i].store(*top, SeqCst);
    }
    ctl.phase.store(SETTLE, SeqCst);
    ctl.settle.store(round, SeqCst);
    let mut tallies: Vec<Option<Snapshot>> = (0..SUBSCRIBERS).map(|_| None).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while tallies.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Report::Settled { id, settle, tallies: t, closes }) if settle == round => {
                tallies[id] = Some((closes, t))
            }
            Ok(Report::Settled { .. }) => {}
            Ok(Report::Failed { id, why }) => panic!("subscriber {id}: {why}"),
            Err(_) => {
                let late: Vec<usize> = (0..SUBSCRIBERS).filter(|&i| tallies[i].is_none()).collect();
                panic!("settle {round}: subscribers {late:?} did not reach {published:?}")
            }
        }
    }
    (relay.stats(), tallies.into_iter().map(Option::unwrap).collect())
}

/// The relay's counters of topic `i`.
fn topic(s: &sluice::Stats, i: usize) -> sluice::metrics::TopicStats {
    s.per_topic.iter().find(|t| t.name == TOPICS[i].0).cloned().expect("a topic series")
}

/// Subscribers that stop reading in the last phase until everything is published.
fn stalls_last(id: usize) -> bool {
    id % 2 == 0
}

fn sum(tallies: &[(usize, Tally)], topic: usize, f: fn(&Tally) -> u64) -> u64 {
    tallies.iter().filter(|(t, _)| *t == topic).map(|(_, v)| f(v)).sum()
}

fn add(a: &mut Tally, b: &Tally) {
    a.live += b.live;
    a.replayed += b.replayed;
    a.gapped += b.gapped;
    a.conflated += b.conflated;
    a.lost += b.lost;
    a.recovered += b.recovered;
    a.expired += b.expired;
    a.too_many += b.too_many;
    a.epoch_changed += b.epoch_changed;
    a.jumps += b.jumps;
}

type Ws = WebSocket<TcpStream>;

/// A subscriber at a settle: the closes by the relay it has seen, its tally of each topic.
type Snapshot = (u64, Vec<(usize, Tally)>);

/// How a subscriber reads during one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    Fast,
    /// A pause of 1–3 ms after each message.
    Trickle,
    /// Stops reading for 0.5–5 s now and then.
    Stall,
}

fn subscriber(
    id: usize,
    seed: u64,
    addr: SocketAddrV4,
    ctl: &Control,
    tx: &mpsc::Sender<Report>,
) -> Result<End, String> {
    let mut rng = Rng::new(seed ^ (0xc0ffee * (id as u64 + 1)));
    let topics: Vec<usize> = match id {
        id if id < CLOSE_ONLY => vec![0],
        id if id % 3 == 0 => vec![1],
        id if id % 3 == 1 => vec![2],
        _ => vec![1, 2],
    };
    let mut views: Vec<(usize, View)> =
        topics.iter().map(|&t| (t, View::new(TOPICS[t].0, TOPICS[t].1, BOUNDS))).collect();
    let names: Vec<&str> = topics.iter().map(|&t| TOPICS[t].0).collect();
    // In the last phase, these stop reading until everything is published.
    let stalls_last = stalls_last(id);
    let (mut closes, mut sessions, mut reported) = (0u64, 0u64, 0u64);
    while ctl.phase() != DONE {
        sessions += 1;
        if sessions > MAX_SESSIONS {
            return Err("too many connections".into());
        }
        let since: Vec<String> = views.iter().filter_map(|(_, v)| v.position()).collect();
        let mut path = format!("/sub/{}", names.join(","));
        if !since.is_empty() {
            path = format!("{path}?since={}", since.join(","));
        }
        views.iter_mut().for_each(|(_, v)| v.connecting());
        let mut ws = open(addr, &path)?;
        // Subscribers of `chaos.close` stall more often: that is what closes them.
        let pace = match (rng.range(0, 5), id < CLOSE_ONLY) {
            (0 | 1, _) => Pace::Fast,
            (2, false) => Pace::Trickle,
            _ => Pace::Stall,
        };
        let ms = |rng: &mut Rng, lo, hi| Duration::from_millis(rng.range(lo, hi));
        let leave_at = Instant::now() + ms(&mut rng, 300, 4000);
        let mut stall_at = Instant::now() + ms(&mut rng, 200, 2000);
        let mut closed_by_relay = false;
        // Bytes of messages received on this connection.
        let mut received = 0u64;
        loop {
            let phase = ctl.phase();
            let round = ctl.settle.load(SeqCst);
            if phase == DONE {
                let _ = ws.close(None);
                break;
            }
            if phase == SETTLE && round > reported && at_tops(&views, ctl) {
                reported = round;
                let tallies = views.iter().map(|(t, v)| (*t, v.tally)).collect();
                let _ = tx.send(Report::Settled { id, settle: round, tallies, closes });
            }
            if phase == CHAOS_PHASE {
                if Instant::now() >= leave_at && views.iter().all(|(_, v)| v.settled()) {
                    leave(&mut ws, &mut views, rng.chance(0.5), received)?;
                    // Away for a while: mostly short, sometimes longer than the history.
                    let away = match rng.range(0, 10) {
                        0..=4 => ms(&mut rng, 0, 500),
                        5..=7 => ms(&mut rng, 500, 3000),
                        _ => ms(&mut rng, 3000, 5000),
                    };
                    pause(ctl, away, |_| false);
                    break;
                }
                if pace == Pace::Stall && Instant::now() >= stall_at {
                    pause(ctl, ms(&mut rng, 500, 5000), |p| p != CHAOS_PHASE);
                    stall_at = Instant::now() + ms(&mut rng, 200, 2000);
                }
            }
            if phase == LAST && stalls_last && !ctl.published.load(SeqCst) {
                pause(ctl, Duration::from_millis(20), |_| false);
                continue;
            }
            match ws.read() {
                Ok(Message::Text(t)) => {
                    let v: Value =
                        serde_json::from_str(&t).map_err(|e| format!("not JSON: {e}: {t}"))?;
                    let topic = v["topic"].as_str().unwrap_or_default();
                    let (_, view) = views
                        .iter_mut()
                        .find(|(_, v)| v.topic == topic)
                        .ok_or_else(|| format!("a message of another topic: {v}"))?;
                    view.on(&v, received)?;
                    received += t.len() as u64 + 4;
                    if pace == Pace::Trickle && phase == CHAOS_PHASE {
                        thread::sleep(Duration::from_millis(rng.range(1, 4))); // load shaping
                    }
                }
                Ok(Message::Close(frame)) => {
                    let code = frame.map(|f| f.code);
                    if id >= CLOSE_ONLY || code != Some(CloseCode::Policy) {
                        return Err(format!("closed by the relay: {code:?}"));
                    }
                    closes += 1;
                    closed_by_relay = true;
                }
                Ok(Message::Binary(_)) => return Err("a binary message in envelope mode".into()),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                // A slow subscriber that does not read its close frame in time is dropped.
                Err(tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake))
                    if id < CLOSE_ONLY && !closed_by_relay =>
                {
                    closes += 1;
                    for (_, v) in views.iter_mut() {
                        v.disconnected()?;
                    }
                    break;
                }
                Err(tungstenite::Error::ConnectionClosed) if closed_by_relay => {
                    for (_, v) in views.iter_mut() {
                        v.disconnected()?;
                    }
                    break;
                }
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }
    Ok(End { views, closes, sessions })
}

/// Every view holds its topic up to the top the publishers reached.
fn at_tops(views: &[(usize, View)], ctl: &Control) -> bool {
    views.iter().all(|(t, v)| v.settled() && v.seen == ctl.tops[*t].load(SeqCst))
}

/// Leave: a close handshake (reading, and accounting, what still arrives), or just the socket
/// closed under the relay.
fn leave(
    ws: &mut Ws,
    views: &mut [(usize, View)],
    clean: bool,
    mut received: u64,
) -> Result<(), String> {
    if clean {
        ws.close(None).map_err(|e| format!("close: {e}"))?;
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
                    let topic = v["topic"].as_str().unwrap_or_default();
                    if let Some((_, view)) = views.iter_mut().find(|(_, v)| v.topic == topic) {
                        view.on(&v, received)?;
                    }
                    received += t.len() as u64 + 4;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
    } else {
        let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
    }
    views.iter_mut().try_for_each(|(_, v)| v.disconnected())
}

/// Pause for `d` (load shaping), ending early if `stop(phase)`.
fn pause(ctl: &Control, d: Duration, stop: impl Fn(u8) -> bool) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop(ctl.phase()) && ctl.phase() != DONE {
        thread::sleep(Duration::from_millis(10).min(end.saturating_duration_since(Instant::now())));
    }
}

/// Connect in envelope mode through a small socket; reads then time out after 100 ms, so the
/// subscriber can look at the phase between messages.
fn open(addr: SocketAddrV4, path: &str) -> Result<Ws, String> {
    let stream = small_socket(addr, 4096, 1024).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut req = format!("ws://{addr}{path}").into_client_request().expect("a request");
    req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sluice.v1"));
    let (ws, resp) =
        tungstenite::client(req, stream).map_err(|e| format!("upgrade {path}: {e}"))?;
    if resp.headers().get("sec-websocket-protocol").map(|v| v.as_bytes()) != Some(b"sluice.v1") {
        return Err("the relay did not choose sluice.v1".into());
    }
    ws.get_ref().set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    Ok(ws)
}
