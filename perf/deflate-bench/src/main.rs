//! `deflate-bench`: the building blocks of permessage-deflate (RFC 7692) as Sluice uses them,
//! measured on dashboard-like JSON, for the DEFLATE backend this binary was built with
//! (`perf/deflate.sh` builds it once per backend and runs them one after the other).
//!
//! ```text
//! deflate-bench [--quick]
//! ```
//!
//! Cells, each over a fixed set of distinct generated messages (`prices` order-book snapshots
//! and `metrics` host samples, ~1 KiB each; `small` 150-byte ticks; `16k` and `64k` arrays of
//! snapshots), for compression levels 1, 2, 4, 6 and 9:
//!
//! - **compress once**: reset the stream (no context takeover: each message on its own), compress
//!   with a sync flush into a reused buffer, strip the trailing `00 00 ff ff` — what the relay
//!   does once per published message. Nanoseconds per message (each message timed on its own:
//!   p50/p99/p99.9/max) and MB/s of input.
//! - **copy** (the baseline in the same run): copying the payload into a reused buffer, the
//!   work an uncompressed frame costs for the same message.
//! - **inflate**: reset, inflate the compressed payload with `00 00 ff ff` appended.
//! - **reset**: the stream reset alone, the fixed part of compress-once.
//! - **ratio**: compressed bytes / raw bytes.
//! - **window bits**: for 9..15, whether the backend can compress with that window, the size
//!   it reaches, and the longest back-reference it emits (read from the stream itself by
//!   `src/deflate/distance.rs`): a stream agreed at `server_max_window_bits=N` must not reach
//!   back further than 2^N bytes.
//! - **memory**: bytes held by one compressor and one decompressor (a counting global
//!   allocator; flate2 hands its backends Rust's allocator), after one message.
//!
//! Prints Markdown tables on standard output.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[path = "../../../src/deflate/distance.rs"]
#[allow(dead_code)]
mod distance;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

/// xorshift64*: deterministic data without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SYMBOLS: [&str; 8] = ["BTC-USD", "ETH-USD", "SOL-USD", "XRP-EUR", "ADA-USD", "DOGE-USD", "LTC-EUR", "AVAX-USD"];

/// An order-book snapshot like a trading screen draws: ~1 KiB.
fn prices(r: &mut Rng, seq: u64) -> String {
    let sym = SYMBOLS[r.below(8) as usize];
    let mid = 20_000.0 + r.below(5_000_000) as f64 / 100.0;
    let level = |side: f64, i: u64, r: &mut Rng| {
        format!(
            "[{:.2},{:.6}]",
            mid + side * (i as f64 * 0.5 + r.below(50) as f64 / 100.0),
            r.below(10_000_000) as f64 / 1e6
        )
    };
    let bids: Vec<String> = (0..12).map(|i| level(-1.0, i, r)).collect();
    let asks: Vec<String> = (0..12).map(|i| level(1.0, i, r)).collect();
    format!(
        r#"{{"type":"book","symbol":"{sym}","seq":{seq},"ts":{},"bids":[{}],"asks":[{}],"last":{{"price":{mid:.2},"size":{:.6},"side":"{}","trade_id":{}}},"stats":{{"open":{:.2},"high":{:.2},"low":{:.2},"volume_24h":{:.4},"change_pct":{:.3}}}}}"#,
        1_767_225_600_000u64 + seq * 7 + r.below(5),
        bids.join(","),
        asks.join(","),
        r.below(1_000_000) as f64 / 1e6,
        if r.below(2) == 0 { "buy" } else { "sell" },
        900_000_000 + seq,
        mid - 120.0,
        mid + 340.5,
        mid - 410.25,
        r.below(100_000_000) as f64 / 1e4,
        r.below(2000) as f64 / 1000.0 - 1.0,
    )
}

/// A host metrics sample like a monitoring console draws: ~1 KiB.
fn metrics(r: &mut Rng, seq: u64) -> String {
    let cores: Vec<String> = (0..16).map(|_| format!("{:.1}", r.below(1000) as f64 / 10.0)).collect();
    let disks: Vec<String> = ["nvme0n1", "nvme1n1", "sda"]
        .iter()
        .map(|d| {
            format!(
                r#"{{"dev":"{d}","read_bps":{},"write_bps":{},"util":{:.2},"await_ms":{:.3}}}"#,
                r.below(500_000_000),
                r.below(300_000_000),
                r.below(10_000) as f64 / 100.0,
                r.below(50_000) as f64 / 1000.0
            )
        })
        .collect();
    format!(
        r#"{{"host":"web-{:02}.eu-west-1.example.internal","ts":{},"seq":{seq},"cpu":{{"user":{:.2},"system":{:.2},"iowait":{:.2},"cores":[{}]}},"load":[{:.2},{:.2},{:.2}],"memory":{{"total":68719476736,"used":{},"cached":{},"swap_used":{}}},"disks":[{}],"net":{{"eth0":{{"rx_bps":{},"tx_bps":{},"rx_drops":{},"tx_errors":0}}}},"tags":{{"service":"checkout","env":"production","version":"2.41.{}"}}}}"#,
        r.below(40),
        1_767_225_600_000u64 + seq * 1000,
        r.below(10_000) as f64 / 100.0,
        r.below(3000) as f64 / 100.0,
        r.below(500) as f64 / 100.0,
        cores.join(","),
        r.below(1600) as f64 / 100.0,
        r.below(1600) as f64 / 100.0,
        r.below(1600) as f64 / 100.0,
        r.below(68_719_476_736),
        r.below(8_000_000_000),
        r.below(1_000_000),
        disks.join(","),
        r.below(1_250_000_000),
        r.below(1_250_000_000),
        r.below(100),
        r.below(30),
    )
}

/// A price tick: ~150 bytes (below a sensible compression threshold).
fn small(r: &mut Rng, seq: u64) -> String {
    format!(
        r#"{{"type":"tick","symbol":"{}","seq":{seq},"ts":{},"price":{:.2},"size":{:.6},"side":"{}"}}"#,
        SYMBOLS[r.below(8) as usize],
        1_767_225_600_000u64 + seq * 3,
        20_000.0 + r.below(5_000_000) as f64 / 100.0,
        r.below(1_000_000) as f64 / 1e6,
        if r.below(2) == 0 { "buy" } else { "sell" },
    )
}

/// A JSON array of snapshots of about `bytes` bytes.
fn array(r: &mut Rng, seq: u64, bytes: usize) -> String {
    let mut s = String::from("[");
    let mut i = 0;
    while s.len() < bytes {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&prices(r, seq * 1000 + i));
        i += 1;
    }
    s.push(']');
    s
}

/// Which backend this binary was built with.
fn backend() -> &'static str {
    if cfg!(feature = "libdeflate") {
        "libdeflater (libdeflate: whole-buffer only, final blocks)"
    } else if cfg!(feature = "zlib-rs") {
        "flate2 + zlib-rs"
    } else if cfg!(feature = "zlib-ng") {
        "flate2 + zlib-ng"
    } else if cfg!(feature = "zlib") {
        "flate2 + zlib (C, the system's libz)"
    } else {
        "flate2 + miniz_oxide"
    }
}

/// One compressor, used once per message (no context takeover).
#[cfg(not(feature = "libdeflate"))]
struct Comp(flate2::Compress);
/// One decompressor, reset per message.
#[cfg(not(feature = "libdeflate"))]
struct Decomp(flate2::Decompress);

#[cfg(not(feature = "libdeflate"))]
impl Comp {
    fn new(level: u32, bits: u8) -> Comp {
        use flate2::{Compress, Compression};
        #[cfg(feature = "window-bits")]
        return Comp(Compress::new_with_window_bits(Compression::new(level), false, bits));
        #[cfg(not(feature = "window-bits"))]
        {
            let _ = bits;
            Comp(Compress::new(Compression::new(level), false))
        }
    }

    /// The reset that starts every message (no context takeover), alone.
    fn reset(&mut self) -> bool {
        self.0.reset();
        true
    }

    /// Compress `input` on its own (reset first), sync flush, tail stripped.
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        use flate2::FlushCompress;
        self.0.reset();
        out.clear();
        out.reserve(input.len() + input.len() / 16 + 64);
        loop {
            let done = self.0.total_in() as usize;
            self.0.compress_vec(&input[done..], out, FlushCompress::Sync).expect("compress");
            if self.0.total_in() as usize == input.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        assert!(out.ends_with(&TAIL), "a sync flush ends with 00 00 ff ff");
        out.truncate(out.len() - 4);
    }
}

#[cfg(not(feature = "libdeflate"))]
impl Decomp {
    fn new(bits: u8) -> Decomp {
        #[cfg(feature = "window-bits")]
        return Decomp(flate2::Decompress::new_with_window_bits(false, bits));
        #[cfg(not(feature = "window-bits"))]
        {
            let _ = bits;
            Decomp(flate2::Decompress::new(false))
        }
    }

    /// Inflate a payload (tail included) on its own (reset first) into `out`.
    fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>) {
        use flate2::FlushDecompress;
        self.0.reset(false);
        out.clear();
        loop {
            let done = self.0.total_in() as usize;
            self.0.decompress_vec(&input[done..], out, FlushDecompress::Sync).expect("inflate");
            if self.0.total_in() as usize == input.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(1024));
        }
    }
}

#[cfg(feature = "libdeflate")]
struct Comp(libdeflater::Compressor);
#[cfg(feature = "libdeflate")]
struct Decomp(libdeflater::Decompressor);

#[cfg(feature = "libdeflate")]
impl Comp {
    fn new(level: u32, _bits: u8) -> Comp {
        let lvl = libdeflater::CompressionLvl::new(level as i32).expect("level");
        Comp(libdeflater::Compressor::new(lvl))
    }

    /// No stream to reset: every call starts afresh.
    fn reset(&mut self) -> bool {
        false
    }

    /// Whole-buffer compression: one final block, nothing to strip (RFC 7692 §7.2.3.3).
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.resize(self.0.deflate_compress_bound(input.len()), 0);
        let n = self.0.deflate_compress(input, out).expect("compress");
        out.truncate(n);
    }
}

#[cfg(feature = "libdeflate")]
impl Decomp {
    fn new(_bits: u8) -> Decomp {
        Decomp(libdeflater::Decompressor::new())
    }

    /// Whole-buffer inflate: the output must fit in `out`'s capacity (the caller reserves it).
    fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let cap = out.capacity();
        out.clear();
        out.resize(cap, 0);
        let n = self.0.deflate_decompress(input, out).expect("inflate");
        out.truncate(n);
    }
}

struct Timing {
    ns: Vec<u64>,
    bytes: usize,
}

impl Timing {
    fn pct(&self, p: f64) -> u64 {
        let mut v = self.ns.clone();
        v.sort_unstable();
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
    }
    fn mean(&self) -> f64 {
        self.ns.iter().sum::<u64>() as f64 / self.ns.len() as f64
    }
    fn mbps(&self) -> f64 {
        self.bytes as f64 / (self.ns.iter().sum::<u64>() as f64 / 1e9) / 1e6
    }
    fn row(&self) -> String {
        format!(
            "{:.0} | {} | {} | {} | {} | {:.0}",
            self.mean(),
            self.pct(0.5),
            self.pct(0.99),
            self.pct(0.999),
            self.pct(1.0),
            self.mbps()
        )
    }
}

fn time_each(msgs: &[Vec<u8>], rounds: usize, mut f: impl FnMut(&[u8])) -> Timing {
    let mut ns = Vec::with_capacity(msgs.len() * rounds);
    let mut bytes = 0;
    for _ in 0..rounds {
        for m in msgs {
            let t = Instant::now();
            f(m);
            ns.push(t.elapsed().as_nanos() as u64);
            bytes += m.len();
        }
    }
    Timing { ns, bytes }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let sets: Vec<(&str, Vec<Vec<u8>>, usize)> = vec![
        ("small", (0..2000).map(|i| small(&mut r, i).into_bytes()).collect(), 20 / scale),
        ("prices", (0..2000).map(|i| prices(&mut r, i).into_bytes()).collect(), 10 / scale),
        ("metrics", (0..2000).map(|i| metrics(&mut r, i).into_bytes()).collect(), 10 / scale),
        ("16k", (0..200).map(|i| array(&mut r, i, 16 << 10).into_bytes()).collect(), 10 / scale),
        ("64k", (0..50).map(|i| array(&mut r, i, 64 << 10).into_bytes()).collect(), 10 / scale),
    ];
    println!("## {}\n", backend());
    println!("Window bits when compressing: {}.\n", if cfg!(feature = "window-bits") { "yes (9..15)" } else { "no (always a 32 KiB window)" });
    println!("| set | mean bytes | level | ratio | compress ns mean | p50 | p99 | p99.9 | max | MB/s | inflate ns mean | p50 | p99 | p99.9 | max | MB/s |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut out = Vec::new();
    let mut back = Vec::new();
    for (name, msgs, rounds) in &sets {
        let rounds = (*rounds).max(1);
        let mean = msgs.iter().map(Vec::len).sum::<usize>() / msgs.len();
        let copy = time_each(msgs, rounds, |m| {
            out.clear();
            out.extend_from_slice(m);
            std::hint::black_box(&out);
        });
        println!("| {name} | {mean} | copy (baseline) | 1.000 | {} | | | | | | |", copy.row());
        for level in [1, 2, 4, 6, 9] {
            let mut comp = Comp::new(level, 15);
            let mut decomp = Decomp::new(15);
            let mut compressed = Vec::with_capacity(msgs.len());
            let mut total = (0, 0);
            for m in msgs {
                comp.compress(m, &mut out);
                let mut z = out.clone();
                total = (total.0 + m.len(), total.1 + z.len());
                if !cfg!(feature = "libdeflate") {
                    z.extend_from_slice(&TAIL);
                }
                back.reserve(m.len());
                decomp.inflate(&z, &mut back);
                assert_eq!(&back, m, "round trip");
                compressed.push(z);
            }
            let c = time_each(msgs, rounds, |m| {
                comp.compress(m, &mut out);
                std::hint::black_box(&out);
            });
            back.reserve(msgs.iter().map(Vec::len).max().unwrap());
            let d = time_each(&compressed, rounds, |z| {
                decomp.inflate(z, &mut back);
                std::hint::black_box(&back);
            });
            // MB/s of inflate is over the inflated bytes, like compress's over its input.
            let d = Timing { bytes: d.bytes * total.0 / total.1.max(1), ..d };
            let ratio = total.1 as f64 / total.0 as f64;
            println!("| {name} | {mean} | {level} | {ratio:.3} | {} | {} |", c.row(), d.row());
        }
    }
    // The fixed part of compress-once: the stream reset before every message.
    let mut comp = Comp::new(2, 15);
    let resets: Vec<Vec<u8>> = vec![Vec::new(); 20_000 / scale];
    let r = time_each(&resets, 1, |_| {
        std::hint::black_box(comp.reset());
    });
    if comp.reset() {
        println!(
            "\nStream reset alone (level 2, part of every compress above): p50 {} ns, p99 {} ns.",
            r.pct(0.5),
            r.pct(0.99)
        );
    }

    println!("\n### Window bits (level 6): total compressed size and longest back-reference\n");
    println!("| bits | window | prices bytes | prices max distance | 64k bytes | 64k max distance | honoured |");
    println!("|---|---|---|---|---|---|---|");
    for bits in 9..=15u8 {
        let mut comp = Comp::new(6, bits);
        let mut row = format!("| {bits} | {} |", 1usize << bits);
        let mut honoured = true;
        for set in [&sets[1].1, &sets[4].1] {
            let (mut size, mut dist) = (0, 0);
            for m in set.iter() {
                comp.compress(m, &mut out);
                size += out.len();
                if !cfg!(feature = "libdeflate") {
                    out.extend_from_slice(&TAIL);
                }
                let s = distance::scan(&out).expect("scan");
                assert_eq!(s.len, m.len());
                dist = dist.max(s.max_distance);
            }
            honoured &= dist <= 1 << bits;
            row.push_str(&format!(" {size} | {dist} |"));
        }
        println!("{row} {} |", if honoured { "yes" } else { "**no**" });
    }

    println!("\n### Memory held (bytes, counting allocator) after one 64 KiB message\n");
    if cfg!(feature = "libdeflate") {
        println!("libdeflate allocates with C malloc, which the counting allocator does not see.");
        return;
    }
    println!("| bits | compressor | decompressor before input | decompressor after input |");
    println!("|---|---|---|---|");
    let big = &sets[4].1[0];
    let mut z = Vec::new();
    Comp::new(6, 15).compress(big, &mut z);
    if !cfg!(feature = "libdeflate") {
        z.extend_from_slice(&TAIL);
    }
    for bits in [9u8, 12, 15] {
        out = Vec::with_capacity(big.len() * 2);
        let before = LIVE.load(Ordering::Relaxed);
        let mut comp = Comp::new(6, bits);
        comp.compress(big, &mut out);
        let compressor = LIVE.load(Ordering::Relaxed) - before;
        drop(comp);
        back = Vec::with_capacity(big.len() * 2);
        let before = LIVE.load(Ordering::Relaxed);
        let mut decomp = Decomp::new(bits);
        let bare = LIVE.load(Ordering::Relaxed) - before;
        // A decompressor whose window is smaller than the stream's cannot read it: inflate
        // the 15-bit stream only with a 15-bit (or unsized) decompressor.
        let after = if bits == 15 || !cfg!(feature = "window-bits") {
            decomp.inflate(&z, &mut back);
            (LIVE.load(Ordering::Relaxed) - before).to_string()
        } else {
            let mut small = Vec::new();
            Comp::new(6, bits).compress(big, &mut small);
            small.extend_from_slice(&TAIL);
            let before2 = LIVE.load(Ordering::Relaxed);
            decomp.inflate(&small, &mut back);
            (LIVE.load(Ordering::Relaxed) - before2 + bare).to_string()
        };
        println!("| {bits} | {compressor} | {bare} | {after} |");
    }
}
