use super::*;

const LIMITS: FrameLimits =
    FrameLimits { max_frame: 1000, max_message: 2000, max_fragments: 10, max_empty_fragments: 3 };

fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let header = FrameHeader {
        is_final: fin,
        opcode: OpCode::from(opcode),
        mask: Some([1, 2, 3, 4]),
        ..FrameHeader::default()
    };
    header.format(payload.len() as u64, &mut out).unwrap();
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], [1, 2, 3, 4]);
    out
}

/// Run the reader over `input`, collecting events as owned values.
fn run(input: &[u8]) -> (Result<Progress, CloseReason>, Vec<String>) {
    let mut reader = FrameReader::new(Role::Server);
    let mut buf = input.to_vec();
    let mut events = Vec::new();
    let r = reader.process(&mut buf, &LIMITS, |e| {
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
    (r, events)
}

#[test]
fn mask_matches_bytewise_xor() {
    for len in 0..40 {
        let data: Vec<u8> = (0..len as u8).collect();
        let mut fast = data.clone();
        apply_mask(&mut fast, [9, 8, 7, 6]);
        let slow: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ [9, 8, 7, 6][i % 4]).collect();
        assert_eq!(fast, slow);
    }
}

#[test]
fn whole_and_split_frames() {
    let mut input = client_frame(1, true, b"hello");
    input.extend(client_frame(2, true, b"bin"));
    let (r, ev) = run(&input);
    assert_eq!(ev, ["t:hello", "b:bin"]);
    assert_eq!(r.unwrap().consumed, input.len());
    // Every prefix parses up to the last whole frame and no further.
    for cut in 0..input.len() {
        let (r, _) = run(&input[..cut]);
        let p = r.unwrap();
        assert!(p.consumed == 0 || p.consumed == 11, "cut {cut}: {p:?}");
    }
}

#[test]
fn fragments_reassemble_with_interleaved_ping() {
    let mut input = client_frame(1, false, b"he");
    input.extend(client_frame(9, true, b"p"));
    input.extend(client_frame(0, false, b"ll"));
    input.extend(client_frame(0, true, b"o"));
    let (r, ev) = run(&input);
    r.unwrap();
    assert_eq!(ev, ["ping:p", "t:hello"]);
}

#[test]
fn utf8_split_across_fragments_is_valid_and_bad_utf8_fails_fast() {
    let euro = "€".as_bytes(); // 3 bytes
    let mut input = client_frame(1, false, &euro[..1]);
    input.extend(client_frame(0, true, &euro[1..]));
    let (r, ev) = run(&input);
    r.unwrap();
    assert_eq!(ev, ["t:€"]);
    let bad = client_frame(1, false, &[0xff]);
    assert_eq!(run(&bad).0.unwrap_err().code, CLOSE_INVALID);
    let bad = client_frame(1, true, &[0xe2, 0x82]);
    assert_eq!(run(&bad).0.unwrap_err().code, CLOSE_INVALID);
}

#[test]
fn protocol_errors() {
    let code = |input: &[u8]| run(input).0.unwrap_err().code;
    // Unmasked client frame.
    assert_eq!(code(&[0x81, 0x01, b'a']), CLOSE_PROTOCOL);
    // RSV1 set.
    let mut f = client_frame(1, true, b"a");
    f[0] |= 0x40;
    assert_eq!(code(&f), CLOSE_PROTOCOL);
    // Reserved opcodes.
    assert_eq!(code(&client_frame(3, true, b"")), CLOSE_PROTOCOL);
    assert_eq!(code(&client_frame(11, true, b"")), CLOSE_PROTOCOL);
    // Fragmented ping, oversized ping.
    assert_eq!(code(&client_frame(9, false, b"")), CLOSE_PROTOCOL);
    assert_eq!(code(&client_frame(9, true, &[0; 126])), CLOSE_PROTOCOL);
    // Continuation without start; new message inside a fragmented one.
    assert_eq!(code(&client_frame(0, true, b"x")), CLOSE_PROTOCOL);
    let mut f = client_frame(1, false, b"x");
    f.extend(client_frame(1, true, b"y"));
    assert_eq!(code(&f), CLOSE_PROTOCOL);
    // Close payloads.
    assert_eq!(code(&client_frame(8, true, &[3])), CLOSE_PROTOCOL);
    assert_eq!(code(&client_frame(8, true, &close_payload(1005, ""))), CLOSE_PROTOCOL);
    assert_eq!(code(&client_frame(8, true, &close_payload(2000, ""))), CLOSE_PROTOCOL);
    let mut p = close_payload(1000, "");
    p.push(0xff);
    assert_eq!(code(&client_frame(8, true, &p)), CLOSE_INVALID);
}

#[test]
fn close_codes_are_reported() {
    let (r, ev) = run(&client_frame(8, true, &close_payload(4001, "bye")));
    assert_eq!(r.unwrap().flow, Flow::Stop);
    assert_eq!(ev, ["close:Some(4001)"]);
    let (_, ev) = run(&client_frame(8, true, b""));
    assert_eq!(ev, ["close:None"]);
}

#[test]
fn size_limits_are_decided_from_the_header() {
    // A frame header declaring 2^63 - 1 bytes, with no payload at all.
    let mut f = vec![0x82, 0xff];
    f.extend_from_slice(&((1u64 << 63) - 1).to_be_bytes());
    f.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(run(&f).0.unwrap_err().code, CLOSE_TOO_BIG);
    // With the most significant bit set, the length itself is a protocol error.
    f[2] |= 0x80;
    assert_eq!(run(&f).0.unwrap_err().code, CLOSE_PROTOCOL);
    // Frames within max_frame whose sum exceeds max_message.
    let mut f = client_frame(2, false, &[0; 900]);
    f.extend(client_frame(0, false, &[0; 900]));
    f.extend(client_frame(0, true, &[0; 900]));
    assert_eq!(run(&f).0.unwrap_err().code, CLOSE_TOO_BIG);
}

#[test]
fn fragment_counts_are_capped() {
    // Ten fragments are fine, eleven are not.
    let mut f = client_frame(2, false, b"a");
    for _ in 0..8 {
        f.extend(client_frame(0, false, b"b"));
    }
    let mut ok = f.clone();
    ok.extend(client_frame(0, true, b"c"));
    assert_eq!(run(&ok).1, ["b:abbbbbbbbc"]);
    f.extend(client_frame(0, false, b"b"));
    f.extend(client_frame(0, true, b"c"));
    assert_eq!(run(&f).0.unwrap_err().code, CLOSE_POLICY);
    // Three empty fragments are fine, a fourth is not.
    let mut f = client_frame(1, false, b"");
    f.extend(client_frame(0, false, b""));
    f.extend(client_frame(0, false, b"x"));
    let mut ok = f.clone();
    ok.extend(client_frame(0, true, b""));
    assert_eq!(run(&ok).1, ["t:x"]);
    f.extend(client_frame(0, false, b""));
    f.extend(client_frame(0, false, b""));
    assert_eq!(run(&f).0.unwrap_err().code, CLOSE_POLICY);
}

#[test]
fn pending_frame_size_is_reported() {
    let f = client_frame(2, true, &[7; 600]);
    let p = run(&f[..100]).0.unwrap();
    assert_eq!(p.consumed, 0);
    assert_eq!(p.pending_frame, Some(f.len()));
}

#[test]
fn encode_round_trips_through_the_client_reader() {
    let mut out = Vec::new();
    encode_frame(&mut out, data_opcode(true), b"hi", None);
    assert_eq!(out, [0x81, 2, b'h', b'i']);
    let mut reader = FrameReader::new(Role::Client);
    let mut got = Vec::new();
    reader
        .process(&mut out, &LIMITS, |e| {
            if let Event::Message { payload, .. } = e {
                got.extend_from_slice(payload);
            }
            Flow::Continue
        })
        .unwrap();
    assert_eq!(got, b"hi");
}
