//! What a chaos-test subscriber checks of one topic's envelope stream: every offset it was
//! subscribed over is accounted for exactly once — delivered, inside a `gap`, replaced by a
//! `"conflated":n` value, or lost explicitly by a `recovered:false` — with no duplicate and no
//! hole, and every resume answered all or nothing.
//!
//! The publishers of the chaos test write `{"k":<key>,"n":<n>,"pad":…}` as message `n` (from 0)
//! of a topic only they publish to, so the topic's offset of message `n` is `n + 1` and its key
//! is [`key_of`]`(n)`: a subscriber can check each payload against its offset, and each
//! conflated value against the offsets it replaced.

#![allow(dead_code)]

use std::collections::BTreeSet;

use serde_json::Value;

/// Keys of the `latest` topic.
pub const KEYS: u64 = 8;

/// A small deterministic generator (splitmix64): the same seed gives the same decisions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The key of message `n` of a topic.
pub fn key_of(n: u64) -> String {
    format!("k{}", mix(n) % KEYS)
}

/// The payload of message `n`.
pub fn payload(n: u64, pad: usize) -> String {
    format!(r#"{{"k":"{}","n":{n},"pad":"{}"}}"#, key_of(n), "x".repeat(pad))
}

/// The topic's slow-consumer policy, as the test configured it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slow {
    Close,
    Skip,
    Latest,
}

/// What the relay was configured with, and the largest envelope the publishers' messages make.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The topic's `max_recovery`.
    pub max_recovery: u64,
    /// The topic's `history.size` (nothing else evicts in the test).
    pub history: u64,
    /// `limits.max_queued_bytes`: a replay must fit it whole.
    pub queue: u64,
    /// An upper bound on one message's envelope frame.
    pub max_envelope: u64,
}

/// Counts a subscriber keeps of one topic (cumulative; phases subtract snapshots).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages received live (not in a resume's replay).
    pub live: u64,
    /// Messages received in replays.
    pub replayed: u64,
    /// Offsets inside `gap` messages.
    pub gapped: u64,
    /// Sum of `conflated` counts.
    pub conflated: u64,
    /// Offsets given up by `recovered:false` in the same epoch.
    pub lost: u64,
    /// Resumes answered `recovered:true`, and `recovered:false` by reason.
    pub recovered: u64,
    pub expired: u64,
    pub too_many: u64,
    pub epoch_changed: u64,
    /// Messages whose offset was past the next one expected (the `latest` policy).
    pub jumps: u64,
}

/// How a topic's stream starts on a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Joining {
    /// Nothing asked yet (no connection).
    Idle,
    /// Waiting for `subscribed`.
    Live,
    /// Waiting for `recovery`.
    Resume,
    /// Started.
    Open,
}

/// One subscriber's view of one topic.
#[derive(Debug)]
pub struct View {
    pub topic: String,
    slow: Slow,
    bounds: Bounds,
    pub epoch: Option<String>,
    /// The highest offset accounted for (all below it are, except `missing`).
    pub seen: u64,
    /// Offsets below `seen` not yet accounted for (a `latest` catch-up under way).
    missing: BTreeSet<u64>,
    /// A replay under way: offsets up to this one come from history.
    replay_to: Option<u64>,
    joining: Joining,
    /// Offsets covered in earlier epochs, and where this epoch's coverage began.
    covered_before: u64,
    start: u64,
    pub tally: Tally,
}

impl View {
    pub fn new(topic: &str, slow: Slow, bounds: Bounds) -> View {
        View {
            topic: topic.into(),
            slow,
            bounds,
            epoch: None,
            seen: 0,
            missing: BTreeSet::new(),
            replay_to: None,
            joining: Joining::Idle,
            covered_before: 0,
            start: 0,
            tally: Tally::default(),
        }
    }

    /// The `since=` position, if this topic was ever joined.
    pub fn position(&self) -> Option<String> {
        self.epoch.as_ref().map(|e| format!("{}@{e}:{}", self.topic, self.seen))
    }

    /// A new connection asks for this topic (live if it has no position yet).
    pub fn connecting(&mut self) {
        self.joining = if self.epoch.is_some() { Joining::Resume } else { Joining::Live };
    }

    /// The connection ended (either side): nothing may be half-accounted.
    pub fn disconnected(&mut self) -> Result<(), String> {
        self.joining = Joining::Idle;
        // A replay cut short: what was not received is asked for again by the next resume.
        self.replay_to = None;
        if !self.missing.is_empty() {
            return Err(format!(
                "{}: a hole at the end of a connection: {:?}",
                self.topic, self.missing
            ));
        }
        Ok(())
    }

    /// Nothing is owed to this view now (it may be cut without a hole).
    pub fn settled(&self) -> bool {
        self.missing.is_empty()
    }

    /// Offsets this view was subscribed over.
    pub fn covered(&self) -> u64 {
        self.covered_before + (self.seen - self.start)
    }

    /// The accounting identity: covered = delivered + gaps + conflated + explicit losses.
    pub fn check_identity(&self) -> Result<(), String> {
        let t = &self.tally;
        let accounted = t.live + t.replayed + t.gapped + t.conflated + t.lost;
        if !self.missing.is_empty() || accounted != self.covered() {
            return Err(format!(
                "{}: covered {} offsets, accounted {accounted} ({t:?}), missing {:?}",
                self.topic,
                self.covered(),
                self.missing
            ));
        }
        Ok(())
    }

    /// Check and account one message of this topic; `received` bytes of messages came on this
    /// connection before it.
    pub fn on(&mut self, v: &Value, received: u64) -> Result<(), String> {
        let kind = v["type"].as_str();
        let topic = self.topic.clone();
        let why = |s: String| format!("{topic}: {s}: {v}");
        match (kind, self.joining) {
            (Some("subscribed"), Joining::Live) => {
                let top = v["offset"].as_u64().ok_or_else(|| why("no offset".into()))?;
                self.epoch = Some(text(v, "epoch")?);
                (self.start, self.seen) = (top, top);
                self.joining = Joining::Open;
                Ok(())
            }
            (Some("recovery"), Joining::Resume) => {
                self.joining = Joining::Open;
                self.on_recovery(v, received).map_err(why)
            }
            (_, Joining::Live | Joining::Resume | Joining::Idle) => {
                Err(why(format!("before the subscription's answer ({:?})", self.joining)))
            }
            (Some("gap"), Joining::Open) => self.on_gap(v).map_err(why),
            (None, Joining::Open) => self.on_data(v).map_err(why),
            (Some(_), Joining::Open) => Err(why("unexpected control message".into())),
        }
    }

    fn on_recovery(&mut self, v: &Value, received: u64) -> Result<(), String> {
        let epoch = text(v, "epoch")?;
        if self.epoch.as_deref() != Some(&epoch) && v["recovered"] == true {
            // The stream this view had all of ended; the resume continues into the next one
            // from its start.
            self.tally.epoch_changed += 1;
            self.covered_before = self.covered();
            self.epoch = Some(epoch.clone());
            (self.start, self.seen) = (0, 0);
        }
        let same = self.epoch.as_deref() == Some(&epoch);
        if v["recovered"] == true {
            let (from, to) = (num(v, "from")?, num(v, "to")?);
            if !same
                || from != self.seen + 1
                || to + 1 < from
                || to - self.seen > self.bounds.max_recovery
            {
                return Err(format!("a recovery that is not exactly the gap after {}", self.seen));
            }
            self.tally.recovered += 1;
            self.replay_to = (to >= from).then_some(to);
            return Ok(());
        }
        if v["recovered"] != false {
            return Err("`recovered` is not a boolean".into());
        }
        let (top, oldest) = (num(v, "offset")?, num(v, "oldest")?);
        let kept_from = top.saturating_sub(self.bounds.history) + 1;
        if same && oldest != kept_from {
            return Err(format!(
                "a history of {} should start at {kept_from}",
                self.bounds.history
            ));
        }
        // A replay of `top - seen` messages is refused for the subscriber's queue only if it
        // may not fit the room left after what this connection already took.
        let b = &self.bounds;
        let n = top.saturating_sub(self.seen);
        let too_big = n > b.max_recovery || n * b.max_envelope + 1024 + received > b.queue;
        match text(v, "reason")?.as_str() {
            // A new stream (or, when this view had all of a stream that ended, the next one
            // refused from its start): this view starts over at its top.
            "epoch_changed" | "position_expired" | "too_many" if !same || top < self.seen => {
                self.tally.epoch_changed += 1;
                self.covered_before = self.covered();
                self.epoch = Some(epoch);
                (self.start, self.seen) = (top, top);
                return Ok(());
            }
            "position_expired" if same && self.seen + 1 < oldest => self.tally.expired += 1,
            // Over max_recovery, or more than the subscriber's queue takes whole.
            "too_many" if same && self.seen < top && self.seen + 1 >= oldest && too_big => {
                self.tally.too_many += 1
            }
            other => {
                return Err(format!("refused as `{other}` though at {} of {epoch} ", self.seen))
            }
        }
        // Same stream: the offsets up to its top are an explicit loss.
        self.tally.lost += top - self.seen;
        self.seen = top;
        Ok(())
    }

    fn on_gap(&mut self, v: &Value) -> Result<(), String> {
        let (from, to) = (num(v, "from")?, num(v, "to")?);
        if self.slow != Slow::Skip || text(v, "reason")? != "slow_consumer" {
            return Err("a gap on a topic whose policy does not skip".into());
        }
        if self.replay_to.is_some() || from != self.seen + 1 || to < from {
            return Err(format!("a gap that does not follow offset {}", self.seen));
        }
        self.tally.gapped += to - from + 1;
        self.seen = to;
        Ok(())
    }

    fn on_data(&mut self, v: &Value) -> Result<(), String> {
        if v["epoch"].as_str() != self.epoch.as_deref() {
            return Err("another epoch".into());
        }
        let offset = num(v, "offset")?;
        let n = num(&v["data"], "n")?;
        let key = text(&v["data"], "k")?;
        if n + 1 != offset || key != key_of(n) {
            return Err(format!("offset {offset} carries message {n} (key {key})"));
        }
        let conflated = v.get("conflated").map_or(Ok(0), |_| num(v, "conflated"))?;
        if offset <= self.seen {
            return Err(format!("a duplicate (already at {})", self.seen));
        }
        if let Some(to) = self.replay_to {
            if offset != self.seen + 1 || conflated > 0 {
                return Err(format!("a replay that is not contiguous (at {})", self.seen));
            }
            self.tally.replayed += 1;
            self.seen = offset;
            if offset == to {
                self.replay_to = None;
            }
            return Ok(());
        }
        if offset > self.seen + 1 {
            if self.slow != Slow::Latest {
                return Err(format!("a hole after {}", self.seen));
            }
            self.tally.jumps += 1;
            self.missing.extend(self.seen + 1..offset);
        }
        if self.slow == Slow::Latest {
            // The value replaced exactly the earlier missing offsets of its key.
            let same: Vec<u64> =
                self.missing.iter().copied().filter(|&m| key_of(m - 1) == key).collect();
            if same.len() as u64 != conflated {
                return Err(format!("conflated {conflated}, but missing of its key: {same:?}"));
            }
            same.iter().for_each(|m| {
                self.missing.remove(m);
            });
        } else if conflated > 0 {
            return Err("conflated on a topic whose policy is not latest".into());
        }
        self.tally.conflated += conflated;
        self.tally.live += 1;
        self.seen = offset;
        Ok(())
    }
}

fn num(v: &Value, field: &str) -> Result<u64, String> {
    v[field].as_u64().ok_or_else(|| format!("`{field}` is not a number"))
}

fn text(v: &Value, field: &str) -> Result<String, String> {
    v[field].as_str().map(str::to_string).ok_or_else(|| format!("`{field}` is not a string"))
}

/// A TCP connection to `addr` whose receive buffer is `rcvbuf` bytes and whose segments carry
/// at most `mss` bytes, both set before the handshake: a subscriber that stops reading then
/// pushes back on the relay's queue after a few kilobytes, not after the megabytes loopback
/// autotuning would buffer (the relay's send buffer grows with the peer's segment size).
pub fn small_socket(
    addr: std::net::SocketAddrV4,
    rcvbuf: i32,
    mss: i32,
) -> std::io::Result<std::net::TcpStream> {
    use std::os::fd::FromRawFd;
    let last = std::io::Error::last_os_error;
    // SAFETY: plain socket calls on a descriptor this function owns; every pointer passed
    // points at a local of the size passed with it. On error the descriptor is closed.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(last());
        }
        let fail = |fd| {
            let e = last();
            libc::close(fd);
            Err(e)
        };
        let len = std::mem::size_of::<i32>() as libc::socklen_t;
        let opt = |level, name, value: &i32| {
            libc::setsockopt(fd, level, name, (value as *const i32).cast(), len)
        };
        if opt(libc::SOL_SOCKET, libc::SO_RCVBUF, &rcvbuf) != 0
            || opt(libc::IPPROTO_TCP, libc::TCP_MAXSEG, &mss) != 0
        {
            return fail(fd);
        }
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: addr.port().to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from(*addr.ip()).to_be() },
            sin_zero: [0; 8],
        };
        let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::connect(fd, (&sin as *const libc::sockaddr_in).cast(), size) != 0 {
            return fail(fd);
        }
        Ok(std::net::TcpStream::from_raw_fd(fd))
    }
}
