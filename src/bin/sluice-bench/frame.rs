//! Client-side WebSocket frames, as cheap as they can be: masked frames are encoded straight
//! into a connection's output buffer (header, payload copy, one XOR pass), and server frames are
//! parsed in place from the read buffer without copying the payload.
//!
//! RFC 6455 §5.3 asks a client for an unpredictable mask per frame; a xorshift generator per
//! sending thread gives a fresh mask per frame at a cost of a few instructions.

/// Opcode of a text frame.
pub const OP_TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Opcode of a close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const OP_PING: u8 = 0x9;
/// Opcode of a pong frame.
pub const OP_PONG: u8 = 0xA;

/// A per-thread source of frame masks (xorshift64*).
#[derive(Debug, Clone)]
pub struct Masker(u64);

impl Masker {
    /// A generator seeded from the clock and a per-thread salt.
    pub fn new(salt: u64) -> Masker {
        Masker((crate::clock::now_ns() ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    /// The next 4-byte mask.
    #[inline]
    pub fn next(&mut self) -> [u8; 4] {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        ((x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32).to_ne_bytes()
    }
}

/// XOR `buf` with the mask, 8 bytes at a time.
#[inline]
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// Append a final, masked client frame to `out`.
#[inline]
pub fn encode_masked(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n < 65_536 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

/// A server frame parsed in place.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// FIN bit.
    pub fin: bool,
    /// RSV1: a message compressed with permessage-deflate.
    pub compressed: bool,
    /// Opcode (low 4 bits of the first byte).
    pub opcode: u8,
    /// The payload (servers do not mask).
    pub payload: &'a [u8],
}

/// Why a server's byte stream is not valid WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A server frame had the mask bit set (RFC 6455 §5.1 forbids it).
    Masked,
    /// A frame longer than the bench accepts (16 MiB).
    TooLong(u64),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Masked => f.write_str("the server sent a masked frame"),
            FrameError::TooLong(n) => write!(f, "the server sent a {n}-byte frame (limit 16 MiB)"),
        }
    }
}

/// Largest server frame the bench accepts.
pub const MAX_FRAME: u64 = 16 << 20;

/// Parse one frame at the start of `buf`: `Ok(None)` if it is incomplete, else the frame and
/// its total length.
#[inline]
pub fn parse(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b1 & 0x80 != 0 {
        return Err(FrameError::Masked);
    }
    let (len, head) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(l) => (u64::from(u16::from_be_bytes([l[0], l[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(l) => (u64::from_be_bytes(l.try_into().expect("8 bytes")), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if len > MAX_FRAME {
        return Err(FrameError::TooLong(len));
    }
    let total = head + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let frame = Frame {
        fin: b0 & 0x80 != 0,
        compressed: b0 & 0x40 != 0,
        opcode: b0 & 0x0f,
        payload: &buf[head..total],
    };
    Ok(Some((frame, total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_frames_decode_with_tungstenite() {
        use std::io::Cursor;
        use tungstenite::protocol::frame::FrameHeader;
        let mut m = Masker::new(7);
        for len in [0usize, 5, 125, 126, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            encode_masked(&mut out, OP_BINARY, &payload, m.next());
            let mut c = Cursor::new(&out[..]);
            let (h, n) = FrameHeader::parse(&mut c).unwrap().unwrap();
            assert_eq!(n as usize, len);
            let mut body = out[c.position() as usize..].to_vec();
            apply_mask(&mut body, h.mask.unwrap());
            assert_eq!(body, payload);
        }
    }
}
