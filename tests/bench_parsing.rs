//! sluice-bench: command-line values, payload stamps (also upper-cased and re-wrapped), frames,
//! and the binary's answers to bad arguments.

#![allow(dead_code)]

#[path = "../src/bin/sluice-bench/clock.rs"]
mod clock;
#[path = "../src/bin/sluice-bench/frame.rs"]
mod frame;
#[path = "../src/bin/sluice-bench/payload.rs"]
mod payload;
#[path = "../src/bin/sluice-bench/track.rs"]
mod track;
#[path = "../src/bin/sluice-bench/units.rs"]
mod units;

use std::process::Command;
use std::time::Duration;

use payload::{read_stamp, stamp_offset, template, write_stamp, Format, Stamp, STAMP_LEN};

#[test]
fn rates_counts_and_durations() {
    assert_eq!(units::parse_rate("10000"), Ok(10_000.0));
    assert_eq!(units::parse_rate("10k"), Ok(10_000.0));
    assert_eq!(units::parse_rate("1.5M"), Ok(1_500_000.0));
    assert_eq!(units::parse_rate("200k/s"), Ok(200_000.0));
    assert_eq!(units::parse_rate("0"), Ok(0.0));
    assert!(units::parse_rate("fast").is_err());
    assert!(units::parse_rate("-5").is_err());
    assert!(units::parse_rate("2G").is_err());
    assert_eq!(units::parse_count("10k"), Ok(10_000));
    assert!(units::parse_count("1.5").is_err());
    assert_eq!(units::parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(units::parse_duration("10s"), Ok(Duration::from_secs(10)));
    assert!(units::parse_duration("10").unwrap_err().contains("needs a unit"));
}

fn stamp(sender: u32, seq: u64) -> Stamp {
    Stamp { sender, seq, intended: 123_456_789_012_345, sent: 123_456_789_099_999 }
}

#[test]
fn stamps_round_trip_in_both_formats_and_sizes() {
    for format in [Format::Json, Format::Raw] {
        for size in [format.min_size(), 64, 1000] {
            let mut p = template(format, size);
            assert_eq!(p.len(), size);
            let s = stamp(42, 987_654_321);
            write_stamp(&mut p, stamp_offset(format), &s);
            assert_eq!(read_stamp(&p), Some(s), "{format:?} {size}");
        }
    }
    let mut p = template(Format::Json, 64);
    write_stamp(&mut p, stamp_offset(Format::Json), &stamp(1, 2));
    let v: serde_json::Value = serde_json::from_slice(&p).expect("the json format is JSON");
    assert!(v["sb"].as_str().unwrap().starts_with("0001000000000002"));
}

#[test]
fn stamps_survive_upper_casing_and_rewrapping() {
    let s = stamp(7, 31_337);
    let mut p = template(Format::Json, 80);
    write_stamp(&mut p, stamp_offset(Format::Json), &s);
    let upper = p.to_ascii_uppercase();
    assert_ne!(upper, p);
    assert_eq!(read_stamp(&upper), Some(s));
    // A pipeline that wraps the message in another object, with digits around it.
    let text = String::from_utf8(upper).unwrap();
    let wrapped = format!("{{\"ts\":17,\"n\":12345,\"V\":{text}}}");
    assert_eq!(read_stamp(wrapped.as_bytes()), Some(s));
    // Too few digits anywhere: no stamp.
    assert_eq!(read_stamp(&[b'1'; STAMP_LEN - 1]), None);
    assert_eq!(read_stamp(b"{\"sb\":\"hello\"}"), None);
}

#[test]
fn sequence_tracking_tells_loss_duplicates_and_reordering_apart() {
    let mut t = track::Track::default();
    for seq in (0..1000u64).filter(|s| s % 10 != 3) {
        assert!(t.on_seq(seq));
    }
    assert!(!t.on_seq(999), "a repeat is a duplicate");
    assert!(t.on_seq(993), "a late arrival is new but out of order");
    assert!(!t.on_seq(993));
    let c = t.counts;
    assert_eq!(c.unique, 901);
    assert_eq!(c.duplicates, 2);
    assert_eq!(c.out_of_order, 1);
    assert_eq!(1000 - c.unique, 99, "the rest is lost");
}

#[test]
fn server_frames_parse_in_place() {
    let mut m = frame::Masker::new(3);
    assert_ne!(m.next(), m.next());
    let mut buf = vec![0x81, 3, b'a', b'b', b'c', 0x82, 126, 0, 200];
    buf.extend(std::iter::repeat_n(7u8, 200));
    let (f, n) = frame::parse(&buf).unwrap().unwrap();
    assert_eq!((f.fin, f.opcode, f.payload, n), (true, 1, &b"abc"[..], 5));
    let (f, n) = frame::parse(&buf[5..]).unwrap().unwrap();
    assert_eq!((f.opcode, f.payload.len(), n), (2, 200, 204));
    assert_eq!(frame::parse(&buf[5..100]), Ok(None), "incomplete");
    assert_eq!(frame::parse(&[0x81, 0x83, 0, 0, 0, 0, 1, 2, 3]), Err(frame::FrameError::Masked));
}

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice-bench")).args(args).output().expect("run sluice-bench")
}

#[test]
fn bad_arguments_get_clear_answers() {
    let out =
        bench(&["pubsub", "--pub", "ws://127.0.0.1:1/pub/t", "--sub", "x", "--duration", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a unit"));
    let out = bench(&["echo", "--url", "http://127.0.0.1:1/echo", "--duration", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only ws:// URLs"));
    let out = bench(&["echo", "--url", "ws://127.0.0.1:1/echo", "--size", "20"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("too small"));
    let out =
        bench(&["pubsub", "--pub", "ws://127.0.0.1:1/pub/t", "--sub", "ws://127.0.0.1:1/sub/t"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed"), "connection refused is named");
    let out = bench(&[]);
    assert_eq!(out.status.code(), Some(2));
}
