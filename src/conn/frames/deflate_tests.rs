//! The reader with permessage-deflate negotiated.

use super::*;
use crate::deflate::Compressor;

const LIMITS: FrameLimits =
    FrameLimits { max_frame: 1000, max_message: 2000, max_fragments: 10, max_empty_fragments: 3 };

/// RFC 7692 §7.2.3.1: "Hello", compressed.
const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

/// A masked frame with RSV1 as given.
fn frame(opcode: u8, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let header = FrameHeader {
        is_final: fin,
        rsv1,
        opcode: OpCode::from(opcode),
        mask: Some([9, 8, 7, 6]),
        ..FrameHeader::default()
    };
    header.format(payload.len() as u64, &mut out).unwrap();
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], [9, 8, 7, 6]);
    out
}

fn reader(receive: Receive) -> FrameReader {
    let mut r = FrameReader::new(Role::Server);
    r.set_receive(receive);
    r
}

/// Run `r` over `input` with `inflate`, collecting events as strings.
fn run_with(
    r: &mut FrameReader,
    inflate: &mut Inflate,
    input: &[u8],
) -> (Result<Progress, CloseReason>, Vec<String>) {
    let mut buf = input.to_vec();
    let mut events = Vec::new();
    let result = r.process_with(&mut buf, &LIMITS, Some(inflate), |e| {
        events.push(match e {
            Event::Message { text, payload, .. } => {
                format!("{}:{}", if text { "t" } else { "b" }, String::from_utf8_lossy(payload))
            }
            Event::Ping(p) => format!("ping:{}", String::from_utf8_lossy(p)),
            Event::Pong => "pong".into(),
            Event::Close(c) => format!("close:{c:?}"),
        });
        Flow::Continue
    });
    (result, events)
}

fn run(receive: Receive, input: &[u8]) -> (Result<Progress, CloseReason>, Vec<String>) {
    run_with(&mut reader(receive), &mut Inflate::new(), input)
}

fn code(receive: Receive, input: &[u8]) -> u16 {
    run(receive, input).0.unwrap_err().code
}

#[test]
fn compressed_messages_are_ordinary_messages() {
    for receive in [Receive::NoContext, Receive::Context { window_bits: 15 }] {
        // One frame; two frames (RFC 7692 §7.2.3.1) with a ping between them; then an
        // uncompressed message, which negotiation does not change.
        let mut input = frame(1, true, true, &HELLO);
        input.extend(frame(1, false, true, &HELLO[..3]));
        input.extend(frame(9, true, false, b"p"));
        input.extend(frame(0, true, false, &HELLO[3..]));
        input.extend(frame(2, true, false, b"raw"));
        let (result, events) = run(receive, &input);
        assert_eq!(result.unwrap().consumed, input.len());
        assert_eq!(events, ["t:Hello", "ping:p", "t:Hello", "b:raw"], "{receive:?}");
    }
}

#[test]
fn rsv1_is_refused_where_the_rfc_forbids_it() {
    let hello = frame(1, true, true, &HELLO);
    // Not negotiated.
    assert_eq!(code(Receive::Off, &hello), CLOSE_PROTOCOL);
    let negotiated = Receive::NoContext;
    // On control frames.
    assert_eq!(code(negotiated, &frame(9, true, true, b"")), CLOSE_PROTOCOL);
    assert_eq!(code(negotiated, &frame(8, true, true, &[])), CLOSE_PROTOCOL);
    // On a continuation frame (of a compressed or an uncompressed message).
    for first_rsv1 in [true, false] {
        let mut input = frame(2, false, first_rsv1, &HELLO[..3]);
        input.extend(frame(0, true, true, &HELLO[3..]));
        let (result, _) = run(negotiated, &input);
        let e = result.unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (CLOSE_PROTOCOL, "RSV1 set on a continuation frame")
        );
    }
    // RSV2 and RSV3 stay reserved.
    let mut f = frame(1, true, false, b"x");
    f[0] |= 0x20;
    assert_eq!(code(negotiated, &f), CLOSE_PROTOCOL);
}

#[test]
fn a_decompression_bomb_closes_with_1009() {
    let mut c = Compressor::new(9);
    let bomb = c.compress(&[0u8; 100_000], 15).unwrap().to_vec();
    assert!(bomb.len() < LIMITS.max_frame);
    let mut inflate = Inflate::new();
    let mut r = reader(Receive::NoContext);
    let (result, events) = run_with(&mut r, &mut inflate, &frame(2, true, true, &bomb));
    assert_eq!(result.unwrap_err().code, CLOSE_TOO_BIG);
    assert!(events.is_empty());
    // Fragmented: refused at the frame that passes the limit, counted, nothing kept.
    let mut input = Vec::new();
    let pieces: Vec<&[u8]> = bomb.chunks(bomb.len() / 4 + 1).collect();
    for (n, p) in pieces.iter().enumerate() {
        input.extend(frame(if n == 0 { 2 } else { 0 }, n + 1 == pieces.len(), n == 0, p));
    }
    let mut r = reader(Receive::NoContext);
    let (result, _) = run_with(&mut r, &mut inflate, &input);
    assert_eq!(result.unwrap_err().code, CLOSE_TOO_BIG);
    assert_eq!(inflate.counters.inflate_refused_too_big, 2);
    assert_eq!(inflate.context_inflaters(), 1, "the fragmented message's inflater");
    drop(r);
    assert_eq!(inflate.context_inflaters(), 0);
}

#[test]
fn bad_data_closes_with_1007() {
    assert_eq!(code(Receive::NoContext, &frame(2, true, true, &[0xff, 0xff])), CLOSE_INVALID);
    // Valid DEFLATE, but the text it inflates to is not UTF-8: whole, and fragmented.
    let mut c = Compressor::new(6);
    let z = c.compress(b"caf\xe9 au lait", 15).unwrap().to_vec();
    assert_eq!(code(Receive::NoContext, &frame(1, true, true, &z)), CLOSE_INVALID);
    let mut input = frame(1, false, true, &z[..4]);
    input.extend(frame(0, true, false, &z[4..]));
    assert_eq!(code(Receive::NoContext, &input), CLOSE_INVALID);
    // A text message split inside a character is fine.
    let euro = c.compress("12 €".as_bytes(), 15).unwrap().to_vec();
    let mut input = frame(1, false, true, &euro[..euro.len() - 1]);
    input.extend(frame(0, true, false, &euro[euro.len() - 1..]));
    assert_eq!(run(Receive::NoContext, &input).1, ["t:12 €"]);
}

#[test]
fn context_is_kept_per_connection_only_when_negotiated() {
    // RFC 7692 §7.2.3.2: the second "Hello" refers back into the first message.
    let mut input = frame(1, true, true, &HELLO);
    input.extend(frame(1, true, true, &[0xf2, 0x00, 0x11, 0x00, 0x00]));
    let mut inflate = Inflate::new();
    let mut r = reader(Receive::Context { window_bits: 15 });
    let (result, events) = run_with(&mut r, &mut inflate, &input);
    result.unwrap();
    assert_eq!(events, ["t:Hello", "t:Hello"]);
    assert_eq!(inflate.context_inflaters(), 1, "kept between messages");
    // A second connection keeps its own, separate context.
    let mut other = reader(Receive::Context { window_bits: 12 });
    let (result, _) =
        run_with(&mut other, &mut inflate, &frame(1, true, true, &[0xf2, 0x00, 0x11, 0x00, 0x00]));
    assert_eq!(result.unwrap_err().code, CLOSE_INVALID);
    drop((r, other));
    assert_eq!(inflate.context_inflaters(), 0);
    // Without context takeover the back-reference is invalid data.
    assert_eq!(code(Receive::NoContext, &input), CLOSE_INVALID);
}

#[test]
fn an_idle_reader_owns_nothing_without_context() {
    let mut inflate = Inflate::new();
    let mut r = reader(Receive::NoContext);
    let mut input = frame(2, false, true, &HELLO[..2]);
    input.extend(frame(0, true, false, &HELLO[2..]));
    let (result, events) = run_with(&mut r, &mut inflate, &input);
    result.unwrap();
    assert_eq!(events, ["b:Hello"]);
    assert!(r.frag.is_none() && r.own.is_none());
    // Inline: 8 bytes more than without the extension (16), whatever was negotiated.
    assert!(std::mem::size_of::<FrameReader>() <= 24);
    assert_eq!(inflate.context_inflaters(), 0);
    let c = inflate.counters;
    assert_eq!((c.inflated_messages, c.inflated_bytes_in, c.inflated_bytes_out), (1, 7, 5));
    // A message split across two reads keeps its state in between.
    let (first, second) = input.split_at(8);
    let (p, _) = run_with(&mut r, &mut inflate, first);
    assert_eq!(p.unwrap().consumed, first.len());
    assert_eq!(inflate.context_inflaters(), 1);
    assert_eq!(run_with(&mut r, &mut inflate, second).1, ["b:Hello"]);
    assert_eq!(inflate.context_inflaters(), 0);
}

#[test]
fn encoded_compressed_frames_round_trip_both_roles() {
    let mut c = Compressor::new(2);
    let message = "{\"price\":101.25,\"size\":3}".repeat(30);
    let z = c.compress(message.as_bytes(), 15).unwrap().to_vec();
    // Client → server: masked.
    let mut out = Vec::new();
    encode_compressed_frame(&mut out, data_opcode(true), &z, Some([1, 2, 3, 4]));
    assert_eq!(out[0], 0x80 | 0x40 | 0x01, "FIN, RSV1, text");
    let (_, events) = run(Receive::NoContext, &out);
    assert_eq!(events, [format!("t:{message}")]);
    // Server → client: unmasked, read with `process` (no shared state given).
    let mut out = Vec::new();
    encode_compressed_frame(&mut out, data_opcode(false), &z, None);
    let mut r = FrameReader::new(Role::Client);
    r.set_receive(Receive::Context { window_bits: 15 });
    let mut got = Vec::new();
    r.process(&mut out, &LIMITS, |e| {
        if let Event::Message { text: false, payload, .. } = e {
            got.extend_from_slice(payload);
        }
        Flow::Continue
    })
    .unwrap();
    assert_eq!(got, message.as_bytes());
    // The uncompressed encoder is unchanged: no RSV bit.
    let mut plain = Vec::new();
    encode_frame(&mut plain, data_opcode(true), b"hi", None);
    assert_eq!(plain, [0x81, 2, b'h', b'i']);
}
