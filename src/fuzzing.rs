//! Entry points for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`; not public API).
//!
//! Each function drives a crate-internal parser with arbitrary bytes the way the reactor does,
//! and asserts the invariants the reactor relies on. A panic here is a bug: nothing reachable
//! from a socket or a configuration file may panic.

use crate::access::config::{Access, Secret, StaticToken};
use crate::access::Gate;
use crate::conn::frames::{Event, Flow, FrameLimits, FrameReader, Role};
use crate::conn::http::{self, Parsed};
use crate::deflate::{Inflate, Inflater, Receive};
use crate::endpoint::{Routes, Target};

/// The handshake parser: request heads (`httparse` with Sluice's limits), the RFC 6455 upgrade
/// checks, routing, and the access gate (origins, bearer tokens, HS256 JWTs in the header, the
/// query or a cookie).
pub fn handshake(data: &[u8]) {
    let Some((&knobs, data)) = data.split_first() else { return };
    let max_headers = 1 + (knobs as usize % 40);
    let max_header_bytes = 256 + (knobs as usize) * 32;
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    match http::parse_request(data, &mut headers, max_header_bytes) {
        Parsed::Partial => assert!(data.len() < max_header_bytes),
        Parsed::Invalid(resp) => {
            assert!(matches!(resp.status, 400 | 431), "{}", resp.status);
            let _ = resp.encode(false, false);
        }
        Parsed::Complete { len, request } => {
            assert!(len <= data.len().min(max_header_bytes));
            let _ = (request.keep_alive(), request.has_body(), request.path(), request.query());
            let target = Routes::default().resolve(request.path(), 4);
            match http::check_upgrade(&request) {
                Ok(accept) => assert_eq!(accept.len(), 28),
                Err(resp) => assert!((400..500).contains(&resp.status)),
            }
            if !matches!(target, Target::Http(_)) {
                let now = f64::from(knobs) * 1e7;
                match gate().check_at(&request, &target, now) {
                    Ok(_) => {}
                    Err((_, resp)) => assert!(matches!(resp.status, 401 | 403)),
                }
            }
        }
    }
}

fn gate() -> &'static Gate {
    static GATE: std::sync::OnceLock<Gate> = std::sync::OnceLock::new();
    GATE.get_or_init(make_gate)
}

fn make_gate() -> Gate {
    let access = Access {
        allowed_origins: vec!["https://*.example.com".into(), "http://localhost:8080".into()],
        tokens: vec![StaticToken {
            token: Secret("fuzz-static-token-0001".into()),
            publish: vec!["a.*".into()],
            subscribe: vec!["*".into()],
        }],
        jwt_secret: Some(Secret("fuzzing-secret-of-at-least-32-bytes!".into())),
        ..Access::default()
    };
    Gate::new(&access).expect("valid fuzzing gate")
}

/// The frame reader, fed the input in chunks the way the reactor feeds it socket reads: bytes
/// not consumed are kept and the next chunk appended.
pub fn frames(data: &[u8]) {
    let Some((&[a, b], data)) = data.split_first_chunk::<2>() else { return };
    let limits = FrameLimits {
        max_frame: 1 + (a as usize) * 64,
        max_message: 1 + (a as usize) * 64 + (b as usize) * 128,
        max_fragments: 1 + (b as usize % 32),
        max_empty_fragments: (a as usize) % 8,
    };
    let chunk = 1 + (b as usize % 64) * 7;
    let role = if a & 0x80 == 0 { Role::Server } else { Role::Client };
    let mut reader = FrameReader::new(role);
    let mut held: Vec<u8> = Vec::new();
    for piece in data.chunks(chunk) {
        held.extend_from_slice(piece);
        // Like the reactor: after a pause, parse again at once.
        loop {
            let mut events = 0usize;
            let result = reader.process(&mut held, &limits, |event| {
                events += 1;
                match event {
                    Event::Message { payload, .. } => assert!(payload.len() <= limits.max_message),
                    Event::Ping(p) => assert!(p.len() <= 125),
                    Event::Pong | Event::Close(_) => {}
                }
                if events % 5 == 0 {
                    Flow::Pause
                } else {
                    Flow::Continue
                }
            });
            match result {
                Ok(progress) => {
                    assert!(progress.consumed <= held.len());
                    held.drain(..progress.consumed);
                    if let Some(total) = progress.pending_frame {
                        assert!(total > held.len());
                    }
                    match progress.flow {
                        Flow::Stop => return,
                        Flow::Pause => continue,
                        Flow::Continue => break,
                    }
                }
                Err(reason) => {
                    assert!(matches!(reason.code, 1002 | 1007 | 1008 | 1009), "{}", reason.code);
                    assert!(reason.reason.len() <= 123);
                    return;
                }
            }
        }
    }
}

/// The inflate path of permessage-deflate, two ways over the same bytes: as one raw DEFLATE
/// message for an `Inflater` (whatever the input, the output and its buffer stay within the
/// limit), and as frames for a reader with the extension negotiated, fed in chunks like
/// [`frames`] (messages within the limit, only the close codes of the protocol, and no
/// inflater left behind once the reader is gone).
pub fn inflate(data: &[u8]) {
    let Some((&[a, b], data)) = data.split_first_chunk::<2>() else { return };
    // As the configuration guarantees: max_frame <= max_message.
    let max_frame = 1 + (a as usize) * 64;
    let limits = FrameLimits {
        max_frame,
        max_message: max_frame + (b as usize) * 512,
        max_fragments: 1 + (a as usize % 64),
        max_empty_fragments: (b as usize) % 8,
    };
    let mut raw = Inflater::new(9 + a % 7);
    let mut out = Vec::new();
    if let Err(e) = raw.push(data, true, &mut out, limits.max_message) {
        assert!(matches!(e.close_code(), 1007 | 1009), "{e}");
    }
    assert!(out.len() <= limits.max_message && out.capacity() <= limits.max_message);

    let receive = match b % 3 {
        0 => Receive::NoContext,
        1 => Receive::Context { window_bits: 8 + (a >> 3) % 8 },
        _ => Receive::Off,
    };
    let role = if a & 0x80 == 0 { Role::Server } else { Role::Client };
    let mut inflate = Inflate::new();
    let mut reader = FrameReader::new(role);
    reader.set_receive(receive);
    let mut held: Vec<u8> = Vec::new();
    'feed: for piece in data.chunks(1 + (b as usize % 32) * 11) {
        held.extend_from_slice(piece);
        loop {
            let result = reader.process_with(&mut held, &limits, Some(&mut inflate), |event| {
                if let Event::Message { payload, .. } = event {
                    assert!(payload.len() <= limits.max_message);
                }
                Flow::Continue
            });
            match result {
                Ok(progress) => {
                    held.drain(..progress.consumed);
                    match progress.flow {
                        Flow::Stop => break 'feed,
                        Flow::Pause => continue,
                        Flow::Continue => break,
                    }
                }
                Err(reason) => {
                    assert!(matches!(reason.code, 1002 | 1007 | 1008 | 1009), "{}", reason.code);
                    assert!(reason.reason.len() <= 123);
                    break 'feed;
                }
            }
        }
    }
    drop(reader);
    assert_eq!(inflate.context_inflaters(), 0);
}

/// The configuration parser: TOML text to a validated [`crate::Config`], or an error that
/// names where.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match crate::Config::from_toml_str(text, Some(std::path::Path::new("fuzz.toml"))) {
        Ok(config) => assert!(config.validate().is_ok()),
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with("fuzz.toml"), "{shown}");
            if let Some(line) = e.line {
                assert!(line >= 1 && line <= text.lines().count().max(1) + 1, "{shown}");
            }
        }
    }
}
