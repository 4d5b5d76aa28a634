//! A WebSocket client with permessage-deflate (RFC 7692) on a raw socket, for the compression
//! tests: it offers the extension (or not), reads the relay's frames, inflating each compressed
//! message on its own (the relay always answers `server_no_context_takeover`), and sends plain
//! or compressed messages, whole or in fragments.

use std::net::SocketAddr;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use super::{encode_frame, Raw, KEY};

/// What browsers offer.
pub const BROWSER_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// The four octets RFC 7692 strips from the end of every compressed message.
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A data message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub text: bool,
    pub payload: Vec<u8>,
    /// It arrived compressed (RSV1 on its first frame).
    pub compressed: bool,
}

/// A client connection, upgraded.
pub struct Client {
    pub raw: Raw,
    /// The `101` head.
    pub head: String,
    /// The relay's `Sec-WebSocket-Extensions` answer, if any.
    pub extensions: Option<String>,
}

impl Client {
    /// Upgrade to `path`, offering `offer` (`None`: no extension offered).
    pub fn connect(addr: SocketAddr, path: &str, offer: Option<&str>) -> Client {
        Client::connect_with(addr, path, offer, "")
    }

    /// Upgrade to `path` with `offer` and extra header lines (each ending in `\r\n`).
    pub fn connect_with(addr: SocketAddr, path: &str, offer: Option<&str>, extra: &str) -> Client {
        let mut raw = Raw::connect(addr);
        let offer = offer.map_or(String::new(), |o| format!("Sec-WebSocket-Extensions: {o}\r\n"));
        raw.send(
            format!(
                "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\
                 {offer}{extra}\r\n"
            )
            .as_bytes(),
        );
        let (status, head, ()) = raw.read_response_head();
        assert_eq!(status, 101, "{head}");
        let extensions = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-extensions").then(|| value.trim().into())
        });
        Client { raw, head, extensions }
    }

    /// The next data message (pings are answered, pongs skipped; a close panics).
    pub fn read(&mut self) -> Received {
        let mut message: Option<Received> = None;
        loop {
            let f = self.raw.read_frame();
            match f.opcode {
                8 => panic!("unexpected close: {:?}", close_of(&f.payload)),
                9 => {
                    self.raw.send(&encode_frame(true, 10, &f.payload, true));
                    continue;
                }
                10 => continue,
                0 => {
                    let m = message.as_mut().expect("a continuation without a message");
                    assert!(!f.rsv1, "RSV1 on a continuation frame");
                    m.payload.extend_from_slice(&f.payload);
                }
                1 | 2 => {
                    assert!(message.is_none(), "a new message inside a fragmented one");
                    let text = f.opcode == 1;
                    message = Some(Received { text, payload: f.payload, compressed: f.rsv1 });
                }
                op => panic!("unexpected opcode {op}"),
            }
            if f.fin {
                let mut m = message.take().expect("a message");
                if m.compressed {
                    assert!(self.extensions.is_some(), "RSV1 without the extension");
                    m.payload = inflate(&m.payload);
                }
                if m.text {
                    assert!(std::str::from_utf8(&m.payload).is_ok(), "text that is not UTF-8");
                }
                return m;
            }
        }
    }

    /// Read until the relay's close frame: (code, reason).
    pub fn expect_close(&mut self) -> (u16, String) {
        self.raw.expect_close()
    }

    /// Send a message in one frame, compressed (RSV1) or not.
    pub fn send(&mut self, text: bool, payload: &[u8], compress: bool) {
        let opcode = if text { 1 } else { 2 };
        if compress {
            self.raw.send(&compressed_frame(true, opcode, &deflate(payload)));
        } else {
            self.raw.send(&encode_frame(true, opcode, payload, true));
        }
    }

    /// Send a compressed message in `parts` frames (RSV1 on the first only).
    pub fn send_fragmented(&mut self, text: bool, payload: &[u8], parts: usize) {
        let z = deflate(payload);
        let size = z.len().div_ceil(parts).max(1);
        let chunks: Vec<&[u8]> = z.chunks(size).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let opcode = if i > 0 {
                0
            } else if text {
                1
            } else {
                2
            };
            let fin = i + 1 == chunks.len();
            let frame = if i == 0 {
                compressed_frame(fin, opcode, chunk)
            } else {
                encode_frame(fin, opcode, chunk, true)
            };
            self.raw.send(&frame);
        }
    }
}

/// A masked client frame with RSV1 set.
pub fn compressed_frame(fin: bool, opcode: u8, z: &[u8]) -> Vec<u8> {
    let mut f = encode_frame(fin, opcode, z, true);
    f[0] |= 0x40;
    f
}

/// `payload` compressed on its own as RFC 7692 asks (raw DEFLATE, sync flush, tail removed).
pub fn deflate(payload: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(6), false);
    let mut out = Vec::with_capacity(payload.len() + 64);
    loop {
        let done = c.total_in() as usize;
        c.compress_vec(&payload[done..], &mut out, FlushCompress::Sync).unwrap();
        if c.total_in() as usize == payload.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - TAIL.len());
    out
}

/// A compressed message (tail removed) inflated on its own.
pub fn inflate(z: &[u8]) -> Vec<u8> {
    let mut d = Decompress::new(false);
    let mut input = z.to_vec();
    input.extend_from_slice(&TAIL);
    let mut out = Vec::with_capacity(z.len() * 4 + 64);
    loop {
        let done = d.total_in() as usize;
        d.decompress_vec(&input[done..], &mut out, FlushDecompress::Sync).expect("valid DEFLATE");
        if d.total_in() as usize == input.len() && out.len() < out.capacity() {
            return out;
        }
        out.reserve(out.capacity().max(1024));
    }
}

/// The code and reason of a close frame's payload.
fn close_of(payload: &[u8]) -> Option<(u16, String)> {
    let code = u16::from_be_bytes([*payload.first()?, *payload.get(1)?]);
    Some((code, String::from_utf8_lossy(&payload[2..]).into()))
}

/// A JSON message of about `size` bytes, like a dashboard's (numbered `n`).
pub fn json_message(n: u64, size: usize) -> String {
    let mut s = format!("{{\"n\":{n},\"rows\":[");
    let mut i = 0u64;
    while s.len() + 80 < size {
        let x = n.wrapping_mul(2_654_435_761).wrapping_add(i * 7919) % 100_000;
        s.push_str(&format!(
            "{{\"sym\":\"S{:03}\",\"bid\":{}.{:02},\"qty\":{}}},",
            i % 50,
            x,
            i % 100,
            x % 997
        ));
        i += 1;
    }
    s.push_str("{\"end\":true}]}");
    s
}

/// The body of `GET /metrics`.
pub fn metrics_text(addr: SocketAddr) -> String {
    let mut raw = Raw::connect(addr);
    raw.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let all = String::from_utf8(raw.read_to_end()).expect("UTF-8 response");
    all.split_once("\r\n\r\n").expect("a response head").1.to_string()
}

/// A sample's value in a `/metrics` body (`series` written as the relay writes it).
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}
