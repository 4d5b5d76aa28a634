//! The window cases of the conformance tests: generated event streams for every window kind
//! (several keys, out-of-order jitter, events beyond the allowed lateness, negative timestamps,
//! window offsets), and the pipelines that window them. `tests/flink_conformance.rs` holds
//! Sluice to Apache Flink with them; `tests/cluster_windows.rs` holds three nodes to one.

#![allow(dead_code)]

use std::fmt::Write as _;

/// One window configuration and its generated input.
pub struct Case {
    pub id: String,
    pub kind: &'static str,
    pub size: i64,
    pub slide: i64,
    pub offset: i64,
    pub ooo: i64,
    pub lateness: i64,
    pub keys: usize,
    pub events: usize,
    /// Per mille of events thrown far back in time (beyond any lateness).
    pub very_late: u64,
    /// Timestamps are multiples of this: a coarse grain makes events land exactly on window
    /// boundaries and watermarks exactly on window ends, where off-by-one mistakes show.
    pub grain: i64,
}

/// The cases: every window kind, on and off the edges.
pub fn cases() -> Vec<Case> {
    let c = |id: &str, kind, size, slide, offset, ooo, lateness, keys, very_late, grain| Case {
        id: id.to_string(),
        kind,
        size,
        slide,
        offset,
        ooo,
        lateness,
        keys,
        events: 1500,
        very_late,
        grain,
    };
    vec![
        c("tumbling", "tumbling", 1000, 0, 0, 0, 0, 6, 30, 1),
        c("tumbling_on_the_edges", "tumbling", 100, 0, 0, 20, 50, 3, 30, 10),
        c("tumbling_offset_lateness", "tumbling", 1000, 0, 250, 200, 500, 5, 30, 10),
        c("tumbling_negative_offset", "tumbling", 700, 0, -300, 50, 2000, 7, 40, 1),
        c("sliding", "sliding", 3000, 1000, 0, 100, 0, 4, 30, 10),
        c("sliding_uneven_lateness", "sliding", 1000, 300, 100, 0, 700, 5, 30, 1),
        c("sliding_negative_offset", "sliding", 500, 500, -100, 20, 300, 3, 30, 10),
        c("sliding_on_the_edges", "sliding", 200, 50, 0, 30, 100, 3, 30, 10),
        c("session", "session", 300, 0, 0, 0, 0, 6, 20, 1),
        c("session_lateness", "session", 150, 0, 0, 100, 1000, 4, 30, 10),
        c("session_jumbled", "session", 50, 0, 0, 300, 200, 8, 40, 1),
        c("session_on_the_edges", "session", 40, 0, 0, 20, 60, 3, 30, 10),
        c("count", "count", 3, 0, 0, 0, 0, 5, 0, 1),
        c("count_one", "count", 1, 0, 0, 0, 0, 2, 0, 1),
    ]
}

/// A small deterministic generator (PCG-style LCG).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 =
            self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// JSON lines: time mostly moves forward from a negative start, with jitter across the
/// out-of-orderness and the allowed lateness, some events far back, prices in quarters (sums are exact in binary
/// floating point, so merge order cannot change them), `qty` missing or `null` at times.
pub fn generate(case: &Case, seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut base: i64 = -5_000;
    let mut out = String::new();
    for seq in 0..case.events {
        base += rng.below(40) as i64;
        // Up to 1.3× (out-of-orderness + lateness) back: both sides of both limits.
        let jitter = rng.below(((case.ooo + case.lateness) as u64 * 13 / 10).max(1) + 1) as i64;
        let mut ts = base - jitter;
        if rng.below(1000) < case.very_late {
            ts = base - 300 - rng.below(3_000) as i64;
        }
        ts = ts.div_euclid(case.grain) * case.grain;
        let key = format!("k{}", rng.below(case.keys as u64));
        let price = (4 + rng.below(800)) as f64 / 4.0;
        let qty = match rng.below(10) {
            0 => String::new(),
            1 => ",\"qty\":null".to_string(),
            _ => format!(",\"qty\":{}", 1 + rng.below(100)),
        };
        writeln!(out, "{{\"k\":\"{key}\",\"ts\":{ts}{qty},\"price\":{price:?},\"seq\":{seq}}}")
            .unwrap();
    }
    out
}

/// One pipeline per case, reading `in.<id>`, writing `out.<id>`, late events to `late(id)`
/// (not for count windows).
pub fn config(cases: &[Case], late: impl Fn(&str) -> String) -> String {
    let mut t = String::from("[workers]\ncount = 1\n");
    for c in cases {
        let window = match c.kind {
            "tumbling" => format!("{{ tumbling = \"{}ms\", offset = \"{}ms\" }}", c.size, c.offset),
            "sliding" => format!(
                "{{ sliding = \"{}ms\", slide = \"{}ms\", offset = \"{}ms\" }}",
                c.size, c.slide, c.offset
            ),
            "session" => format!("{{ session = \"{}ms\" }}", c.size),
            _ => format!("{{ count = {} }}", c.size),
        };
        let late = match c.kind {
            "count" => String::new(),
            _ => format!("late = \"{}\"\n", late(&c.id)),
        };
        write!(
            t,
            "\n[[pipeline]]\nname = \"{id}\"\nfrom = \"in.{id}\"\nto = \"out.{id}\"\nkey = \".k\"\n\
             time = {{ event = \".ts\", out_of_orderness = \"{ooo}ms\", allowed_lateness = \"{l}ms\" }}\n\
             window = {window}\n{late}\
             aggregate = {{ n = \"count\", nq = \"count(.qty)\", vol = \"sum(.qty)\", lo = \"min(.price)\", \
             hi = \"max(.price)\", mean = \"avg(.price)\", aq = \"avg(.qty)\", open = \"first(.price)\", \
             close = \"last(.price)\", notional = \"sum(.price * (.qty // 0))\" }}\n",
            id = c.id,
            ooo = c.ooo,
            l = c.lateness,
        )
        .unwrap();
    }
    t
}
