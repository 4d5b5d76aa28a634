use flate2::{Compress, Compression, FlushCompress};

use super::*;
use crate::deflate::Compressor;

const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

fn one(inflater: &mut Inflater, z: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    inflater.push(z, true, &mut out, limit)?;
    Ok(out)
}

/// A compressor that keeps its context (what a client with context takeover does).
fn context_compressor(bits: u8) -> impl FnMut(&[u8]) -> Vec<u8> {
    let mut c = Compress::new_with_window_bits(Compression::new(6), false, bits.max(9));
    move |m| {
        let mut out = Vec::with_capacity(m.len() + 64);
        c.compress_vec(m, &mut out, FlushCompress::Sync).unwrap();
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - 4);
        out
    }
}

#[test]
fn rfc_7692_examples() {
    let mut i = Inflater::new(15);
    // §7.2.3.1: "Hello" in one frame, and in two.
    assert_eq!(one(&mut i, &HELLO, 100).unwrap(), b"Hello");
    i.reset();
    let mut out = Vec::new();
    i.push(&HELLO[..3], false, &mut out, 100).unwrap();
    i.push(&HELLO[3..], true, &mut out, 100).unwrap();
    assert_eq!(out, b"Hello");
    // §7.2.3.2: the second message refers back into the first (context takeover).
    i.reset();
    assert_eq!(one(&mut i, &HELLO, 100).unwrap(), b"Hello");
    assert_eq!(one(&mut i, &[0xf2, 0x00, 0x11, 0x00, 0x00], 100).unwrap(), b"Hello");
    // ... which a reset inflater cannot read.
    i.reset();
    assert!(matches!(
        one(&mut i, &[0xf2, 0x00, 0x11, 0x00, 0x00], 100),
        Err(InflateError::Invalid(_))
    ));
    // §7.2.3.3: a stored block.
    i.reset();
    let stored = [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
    assert_eq!(one(&mut i, &stored, 100).unwrap(), b"Hello");
    // §7.2.3.4: a final block; the next message is a new stream.
    let last = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    assert_eq!(one(&mut i, &last, 100).unwrap(), b"Hello");
    assert_eq!(one(&mut i, &HELLO, 100).unwrap(), b"Hello");
    // §7.2.3.5: two blocks in one message.
    i.reset();
    let two = [0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00];
    assert_eq!(one(&mut i, &two, 100).unwrap(), b"Hello");
    // An empty compressed message (one empty stored block header, its LEN stripped).
    i.reset();
    assert_eq!(one(&mut i, &[0x00], 100).unwrap(), b"");
}

#[test]
fn a_decompression_bomb_is_refused_within_the_limit() {
    const LIMIT: usize = 1 << 20;
    let mut c = Compressor::new(9);
    let zeros = vec![0u8; LIMIT + 1];
    let bomb = c.compress(&zeros, 15).unwrap().to_vec();
    assert!(bomb.len() < 1100, "{} bytes", bomb.len());
    let mut i = Inflater::new(15);
    let mut out = Vec::new();
    assert_eq!(i.push(&bomb, true, &mut out, LIMIT), Err(InflateError::TooBig { limit: LIMIT }));
    assert!(out.capacity() <= LIMIT, "allocated {}", out.capacity());
    assert_eq!(InflateError::TooBig { limit: LIMIT }.close_code(), 1009);
    // Exactly the limit is fine, and allocates no more.
    let exact = c.compress(&zeros[..LIMIT], 15).unwrap().to_vec();
    i.reset();
    let mut out = Vec::new();
    i.push(&exact, true, &mut out, LIMIT).unwrap();
    assert_eq!((out.len(), out.capacity()), (LIMIT, LIMIT));
    // The bomb in 64-byte frames: refused as soon as its output passes the limit, before
    // its last frame.
    i.reset();
    let mut out = Vec::new();
    let chunks: Vec<&[u8]> = bomb.chunks(64).collect();
    let mut refused_at = None;
    for (n, chunk) in chunks.iter().enumerate() {
        if let Err(e) = i.push(chunk, n + 1 == chunks.len(), &mut out, LIMIT / 4) {
            assert_eq!(e.close_code(), 1009);
            refused_at = Some(n);
            break;
        }
        assert!(out.capacity() <= LIMIT / 4);
    }
    assert!(refused_at.is_some_and(|n| n + 1 < chunks.len()), "{refused_at:?} of {}", chunks.len());
}

#[test]
fn bad_streams_are_invalid_data() {
    let bad: [&[u8]; 4] = [
        &[0xff, 0xff, 0xff],                         // BTYPE 11 (reserved)
        &[0x00, 0x05, 0x00, 0x00, 0x00, b'a'],       // stored block, NLEN not ~LEN
        &[0xf2, 0x00, 0x11, 0x00, 0x00],             // a distance before the stream's start
        &[0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // a dynamic block with no codes
    ];
    for z in bad {
        let mut i = Inflater::new(15);
        let e = one(&mut i, z, 1000).unwrap_err();
        assert_eq!(e.close_code(), 1007, "{z:02x?}: {e}");
        assert!(e.to_string().starts_with("invalid compressed data"), "{e}");
    }
}

#[test]
fn window_bits_matrix_round_trips() {
    let messages: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            format!("{{\"seq\":{i},\"bids\":[{}]}}", "[101.5,2.25],".repeat(40 + i * 30))
                .into_bytes()
        })
        .collect();
    for bits in 8..=15u8 {
        // Peers without context: every message on its own, inflated by a reset inflater of
        // any window at least as large.
        let mut c = Compressor::new(6);
        for inflate_bits in bits..=15 {
            let mut i = Inflater::new(inflate_bits);
            for m in &messages {
                i.reset();
                let z = c.compress(m, bits).unwrap().to_vec();
                assert_eq!(&one(&mut i, &z, 1 << 20).unwrap(), m, "{bits}/{inflate_bits}");
            }
        }
        // Peers keeping their context: each message refers back into the earlier ones.
        let mut compress = context_compressor(bits);
        let mut i = Inflater::new(bits);
        let (mut with, mut alone) = (0, 0);
        for m in &messages {
            let z = compress(m);
            with += z.len();
            alone += c.compress(m, bits).unwrap().len();
            // In frames of 7 bytes, as a fragmenting peer might send them.
            let mut out = Vec::new();
            let frames: Vec<&[u8]> = z.chunks(7).collect();
            for (n, f) in frames.iter().enumerate() {
                i.push(f, n + 1 == frames.len(), &mut out, 1 << 20).unwrap();
            }
            assert_eq!(&out, m, "context, bits {bits}");
        }
        assert!(with < alone, "bits {bits}: context takeover pays ({with} vs {alone} bytes)");
    }
}

#[test]
fn the_shared_inflater_is_reset_and_counted() {
    let mut inflate = Inflate::new();
    assert_eq!(inflate.message(None, &HELLO, 100).unwrap(), b"Hello");
    // Reset per message: the same bytes again mean "Hello" again.
    assert_eq!(inflate.message(None, &HELLO, 100).unwrap(), b"Hello");
    assert!(inflate.message(None, &[0xff, 0xff], 100).is_err());
    assert_eq!(inflate.message(None, &HELLO, 4).unwrap_err().close_code(), 1009);
    let c = inflate.counters;
    assert_eq!((c.inflated_messages, c.inflated_bytes_in, c.inflated_bytes_out), (2, 14, 10));
    assert_eq!(
        (c.inflate_refused_invalid, c.inflate_refused_too_big, c.inflate_refused()),
        (1, 1, 2)
    );
    // A large message's buffer is given back by the next one.
    let mut comp = Compressor::new(1);
    let big = vec![b'x'; 200_000];
    let z = comp.compress(&big, 15).unwrap().to_vec();
    assert_eq!(inflate.message(None, &z, 1 << 20).unwrap().len(), big.len());
    inflate.message(None, &HELLO, 100).unwrap();
    assert!(inflate.out.capacity() <= KEEP_BUFFER);
}

#[test]
fn owned_inflaters_are_counted_while_they_live() {
    let inflate = Inflate::new();
    assert_eq!(inflate.context_inflaters(), 0);
    let a = inflate.owned_inflater(15);
    let b = inflate.owned_inflater(9);
    assert_eq!(inflate.context_inflaters(), 2);
    drop(a);
    assert_eq!(inflate.context_inflaters(), 1);
    drop(b);
    assert_eq!(inflate.context_inflaters(), 0);
}
