//! WebSocket frames on Sluice's own buffers, with tungstenite's header codec.
//!
//! tungstenite's `FrameHeader` parses and formats headers and its `OpCode`/`CloseCode` name the
//! protocol; this module adds what a zero-copy relay needs around them: frames are parsed in place
//! from the reactor's read buffer (no per-connection read buffer, no per-frame allocation),
//! payloads are unmasked in place, limits are decided from the header before any payload is
//! buffered, fragmented messages are reassembled with incremental UTF-8 validation (fail fast on
//! the first bad fragment), and every violation is mapped to the close code RFC 6455 asks for.
//!
//! permessage-deflate (RFC 7692), once negotiated ([`FrameReader::set_receive`]): RSV1 on the
//! first frame of a data message marks it compressed; it is inflated as its frames arrive, the
//! inflated size counted against `max_message` (over it: `1009`; not DEFLATE: `1007`), and
//! handed to the handler as an ordinary [`Event::Message`]. RSV1 on a control or continuation
//! frame, or without the extension, stays a `1002`. Uncompressed frames take the same path as
//! without the extension.

use std::io::Cursor;

use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use crate::deflate::{Inflate, Inflater, Receive};

mod compressed;
use compressed::Compressed;

/// Close code 1000: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code 1001: going away (server stopping, keepalive timeout).
pub const CLOSE_AWAY: u16 = 1001;
/// Close code 1002: protocol error.
pub const CLOSE_PROTOCOL: u16 = 1002;
/// Close code 1007: invalid payload data (bad UTF-8 in a text message or close reason).
pub const CLOSE_INVALID: u16 = 1007;
/// Close code 1008: policy violation (slow consumer, fragment and rate limits, expired token).
pub const CLOSE_POLICY: u16 = 1008;
/// Close code 1009: message too big.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// Which side of the connection we are: servers require masked frames from clients, clients
/// require unmasked frames from servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Server,
    Client,
}

/// Frame size limits, copied from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameLimits {
    pub(crate) max_frame: usize,
    pub(crate) max_message: usize,
    /// Frames per fragmented message.
    pub(crate) max_fragments: usize,
    /// Empty data frames per fragmented message.
    pub(crate) max_empty_fragments: usize,
}

/// Why we are closing: a close code and a short reason (at most 123 bytes on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseReason {
    pub(crate) code: u16,
    pub(crate) reason: String,
}

impl CloseReason {
    pub(crate) fn new(code: u16, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > 123 {
            let mut cut = 123;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        CloseReason { code, reason }
    }
}

/// A complete event read from the peer, handed to the connection's handler.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// A whole data message (reassembled if it was fragmented; inflated if it arrived
    /// `compressed`, permessage-deflate).
    Message { text: bool, payload: &'a [u8], compressed: bool },
    /// A ping; the handler answers it with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// A pong (any payload).
    Pong,
    /// A valid close frame: the peer's code (if any). The handler echoes it.
    Close(Option<u16>),
}

/// What the handler wants after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep parsing.
    Continue,
    /// Stop here (after this frame); the caller flushes and calls again.
    Pause,
    /// Stop reading frames for good (close handshake under way).
    Stop,
}

/// Result of [`FrameReader::process`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Bytes of the input consumed (whole frames only).
    pub(crate) consumed: usize,
    /// The handler's last flow decision, `Continue` if the input simply ran out.
    pub(crate) flow: Flow,
    /// If the input ended inside a frame, that frame's total size (header + payload), when the
    /// header was complete; lets the caller size a buffer for a large frame.
    pub(crate) pending_frame: Option<usize>,
}

/// A fragmented message being reassembled.
#[derive(Debug)]
struct Fragments {
    text: bool,
    buf: Vec<u8>,
    /// Prefix of `buf` known to be valid UTF-8 (text only).
    utf8_ok: usize,
    /// Frames received for this message, and how many of them were empty.
    frames: usize,
    empty: usize,
    /// Set for a compressed message: `buf` holds what it inflated to so far.
    compressed: Option<Compressed>,
}

/// Per-connection frame state: the fragmented message in progress, if any, and with
/// permessage-deflate the inflater of a peer that keeps its context. An idle connection's
/// reader owns no heap memory unless its peer keeps its compression context.
#[derive(Debug)]
pub(crate) struct FrameReader {
    role: Role,
    frag: Option<Box<Fragments>>,
    receive: Receive,
    /// `Receive::Context`: the connection's inflater, made at its first compressed message.
    own: Option<Box<Inflater>>,
}

/// The header of one frame, validated.
struct Head {
    fin: bool,
    /// RSV1 on the first frame of a data message: compressed (checked in `parse_head`).
    compressed: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    header_len: usize,
    payload_len: usize,
}

impl FrameReader {
    pub(crate) fn new(role: Role) -> Self {
        FrameReader { role, frag: None, receive: Receive::Off, own: None }
    }

    /// Accept compressed messages as negotiated (`Receive::Off`: refuse RSV1, the default).
    /// Set once, when the connection opens.
    pub(crate) fn set_receive(&mut self, receive: Receive) {
        self.receive = receive;
        self.own = None;
    }

    /// How compressed messages are received (`Receive::Off`: permessage-deflate was not
    /// negotiated).
    pub(crate) fn receive(&self) -> Receive {
        self.receive
    }

    /// [`FrameReader::process_with`] without the reactor's inflating state: a compressed
    /// message (only possible after [`FrameReader::set_receive`]) gets a temporary one.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn process<F>(
        &mut self,
        buf: &mut [u8],
        limits: &FrameLimits,
        handler: F,
    ) -> Result<Progress, CloseReason>
    where
        F: FnMut(Event<'_>) -> Flow,
    {
        self.process_with(buf, limits, None, handler)
    }

    /// Parse and handle every complete frame at the start of `buf`, unmasking payloads in place,
    /// inflating compressed messages with `inflate` (the reactor's shared state, its counters).
    /// Returns how far it got, or the close the protocol demands.
    pub(crate) fn process_with<F>(
        &mut self,
        buf: &mut [u8],
        limits: &FrameLimits,
        mut inflate: Option<&mut Inflate>,
        mut handler: F,
    ) -> Result<Progress, CloseReason>
    where
        F: FnMut(Event<'_>) -> Flow,
    {
        let mut pos = 0;
        loop {
            let head = match self.parse_head(&buf[pos..], limits)? {
                Some(h) => h,
                None => {
                    return Ok(Progress {
                        consumed: pos,
                        flow: Flow::Continue,
                        pending_frame: None,
                    })
                }
            };
            let total = head.header_len + head.payload_len;
            if buf.len() - pos < total {
                return Ok(Progress {
                    consumed: pos,
                    flow: Flow::Continue,
                    pending_frame: Some(total),
                });
            }
            let payload = &mut buf[pos + head.header_len..pos + total];
            if let Some(mask) = head.mask {
                apply_mask(payload, mask);
            }
            pos += total;
            let flow =
                self.on_frame(head, payload, limits, inflate.as_deref_mut(), &mut handler)?;
            if flow != Flow::Continue {
                return Ok(Progress { consumed: pos, flow, pending_frame: None });
            }
        }
    }

    fn parse_head(&self, buf: &[u8], limits: &FrameLimits) -> Result<Option<Head>, CloseReason> {
        let mut cursor = Cursor::new(buf);
        let (header, len) = match FrameHeader::parse(&mut cursor) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            Err(e) => return Err(CloseReason::new(CLOSE_PROTOCOL, e.to_string())),
        };
        if len >> 63 != 0 {
            // RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
            return Err(CloseReason::new(
                CLOSE_PROTOCOL,
                "64-bit payload length with the most significant bit set",
            ));
        }
        if header.rsv1 || header.rsv2 || header.rsv3 {
            if self.receive == Receive::Off {
                return Err(CloseReason::new(
                    CLOSE_PROTOCOL,
                    "reserved bits set, no extension negotiated",
                ));
            }
            if header.rsv2 || header.rsv3 {
                return Err(CloseReason::new(CLOSE_PROTOCOL, "RSV2 or RSV3 set"));
            }
            match header.opcode {
                OpCode::Control(_) => {
                    return Err(CloseReason::new(CLOSE_PROTOCOL, "RSV1 set on a control frame"))
                }
                OpCode::Data(Data::Continue) => {
                    return Err(CloseReason::new(
                        CLOSE_PROTOCOL,
                        "RSV1 set on a continuation frame",
                    ))
                }
                OpCode::Data(_) => {}
            }
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => {
                return Err(CloseReason::new(CLOSE_PROTOCOL, "client frames must be masked"))
            }
            (Role::Client, true) => {
                return Err(CloseReason::new(CLOSE_PROTOCOL, "server frames must not be masked"))
            }
            _ => {}
        }
        if let OpCode::Control(_) = header.opcode {
            if len > 125 {
                return Err(CloseReason::new(
                    CLOSE_PROTOCOL,
                    "control frame payload over 125 bytes",
                ));
            }
            if !header.is_final {
                return Err(CloseReason::new(CLOSE_PROTOCOL, "fragmented control frame"));
            }
        } else if len > limits.max_frame as u64 {
            return Err(CloseReason::new(
                CLOSE_TOO_BIG,
                format!("frame of {len} bytes exceeds the {}-byte limit", limits.max_frame),
            ));
        }
        Ok(Some(Head {
            fin: header.is_final,
            compressed: header.rsv1,
            opcode: header.opcode,
            mask: header.mask,
            header_len: cursor.position() as usize,
            payload_len: len as usize,
        }))
    }

    fn on_frame<F>(
        &mut self,
        head: Head,
        payload: &[u8],
        limits: &FrameLimits,
        inflate: Option<&mut Inflate>,
        handler: &mut F,
    ) -> Result<Flow, CloseReason>
    where
        F: FnMut(Event<'_>) -> Flow,
    {
        match head.opcode {
            OpCode::Data(Data::Text | Data::Binary) if self.frag.is_some() => {
                Err(CloseReason::new(
                    CLOSE_PROTOCOL,
                    "new data frame while a fragmented message is in progress",
                ))
            }
            OpCode::Data(kind @ (Data::Text | Data::Binary)) => {
                let text = kind == Data::Text;
                if head.compressed {
                    return self.on_compressed(head.fin, text, payload, limits, inflate, handler);
                }
                if head.fin {
                    if text && std::str::from_utf8(payload).is_err() {
                        return Err(CloseReason::new(
                            CLOSE_INVALID,
                            "invalid UTF-8 in text message",
                        ));
                    }
                    return Ok(handler(Event::Message { text, payload, compressed: false }));
                }
                let mut frag = Fragments::new(text, None);
                frag.append(payload, limits)?;
                self.frag = Some(frag);
                Ok(Flow::Continue)
            }
            OpCode::Data(Data::Continue) => {
                let Some(frag) = self.frag.as_mut() else {
                    return Err(CloseReason::new(
                        CLOSE_PROTOCOL,
                        "continuation frame without a message",
                    ));
                };
                if frag.compressed.is_some() {
                    return self
                        .on_compressed_continue(head.fin, payload, limits, inflate, handler);
                }
                frag.append(payload, limits)?;
                if !head.fin {
                    return Ok(Flow::Continue);
                }
                let frag = self.frag.take().expect("checked above");
                if frag.text && frag.utf8_ok != frag.buf.len() {
                    return Err(CloseReason::new(CLOSE_INVALID, "invalid UTF-8 in text message"));
                }
                Ok(handler(Event::Message {
                    text: frag.text,
                    payload: &frag.buf,
                    compressed: false,
                }))
            }
            OpCode::Control(Control::Ping) => Ok(handler(Event::Ping(payload))),
            OpCode::Control(Control::Pong) => Ok(handler(Event::Pong)),
            OpCode::Control(Control::Close) => {
                let code = parse_close(payload)?;
                handler(Event::Close(code));
                Ok(Flow::Stop)
            }
            // FrameHeader::parse already refuses reserved opcodes.
            OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) => {
                Err(CloseReason::new(CLOSE_PROTOCOL, "reserved opcode"))
            }
        }
    }
}

impl Fragments {
    fn new(text: bool, compressed: Option<Compressed>) -> Box<Fragments> {
        Box::new(Fragments { text, buf: Vec::new(), utf8_ok: 0, frames: 0, empty: 0, compressed })
    }

    /// Count one more frame of the message against the fragment limits.
    fn count(&mut self, len: usize, limits: &FrameLimits) -> Result<(), CloseReason> {
        self.frames += 1;
        if self.frames > limits.max_fragments {
            return Err(CloseReason::new(
                CLOSE_POLICY,
                format!("message in more than {} fragments", limits.max_fragments),
            ));
        }
        if len == 0 {
            self.empty += 1;
            if self.empty > limits.max_empty_fragments {
                return Err(CloseReason::new(
                    CLOSE_POLICY,
                    format!(
                        "message with more than {} empty fragments",
                        limits.max_empty_fragments
                    ),
                ));
            }
        }
        Ok(())
    }

    fn append(&mut self, payload: &[u8], limits: &FrameLimits) -> Result<(), CloseReason> {
        self.count(payload.len(), limits)?;
        let total = self.buf.len() + payload.len();
        if total > limits.max_message {
            return Err(CloseReason::new(
                CLOSE_TOO_BIG,
                format!("message exceeds the {}-byte limit", limits.max_message),
            ));
        }
        self.buf.extend_from_slice(payload);
        self.check_utf8()
    }

    /// Extend the prefix of `buf` known to be valid UTF-8 (text only); fail on the first
    /// invalid sequence (an incomplete one at the end may still be completed).
    fn check_utf8(&mut self) -> Result<(), CloseReason> {
        if self.text {
            match std::str::from_utf8(&self.buf[self.utf8_ok..]) {
                Ok(_) => self.utf8_ok = self.buf.len(),
                Err(e) if e.error_len().is_none() => self.utf8_ok += e.valid_up_to(),
                Err(_) => {
                    return Err(CloseReason::new(CLOSE_INVALID, "invalid UTF-8 in text message"))
                }
            }
        }
        Ok(())
    }
}

/// Validate a close frame's payload: empty, or a permitted code and a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Option<u16>, CloseReason> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(CloseReason::new(CLOSE_PROTOCOL, "close frame with a 1-byte payload")),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !CloseCode::from(code).is_allowed() {
                return Err(CloseReason::new(CLOSE_PROTOCOL, format!("invalid close code {code}")));
            }
            if std::str::from_utf8(&payload[2..]).is_err() {
                return Err(CloseReason::new(CLOSE_INVALID, "invalid UTF-8 in close reason"));
            }
            Ok(Some(code))
        }
    }
}

/// XOR `buf` with the 4-byte mask, 8 bytes at a time.
pub(crate) fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// Append one unmasked (server) or masked (client) frame to `out`: FIN set, header formatted by
/// tungstenite, then the payload.
pub(crate) fn encode_frame(
    out: &mut Vec<u8>,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    encode(out, FrameHeader { opcode, mask, ..FrameHeader::default() }, payload);
}

/// Append one frame of a compressed message (RSV1 set, permessage-deflate): `compressed` is
/// the compressor's output (the trailing `00 00 ff ff` already removed). Only for peers that
/// negotiated the extension; `opcode` is the message's own (text stays text).
pub(crate) fn encode_compressed_frame(
    out: &mut Vec<u8>,
    opcode: OpCode,
    compressed: &[u8],
    mask: Option<[u8; 4]>,
) {
    encode(out, FrameHeader { opcode, mask, rsv1: true, ..FrameHeader::default() }, compressed);
}

#[inline]
fn encode(out: &mut Vec<u8>, header: FrameHeader, payload: &[u8]) {
    header.format(payload.len() as u64, out).expect("writing to a Vec cannot fail");
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(mask) = header.mask {
        apply_mask(&mut out[start..], mask);
    }
}

/// The opcode of a data message.
pub(crate) fn data_opcode(text: bool) -> OpCode {
    OpCode::Data(if text { Data::Text } else { Data::Binary })
}

/// The opcodes of control frames.
pub(crate) fn close_opcode() -> OpCode {
    OpCode::Control(Control::Close)
}

/// The ping opcode.
pub(crate) fn ping_opcode() -> OpCode {
    OpCode::Control(Control::Ping)
}

/// The pong opcode.
pub(crate) fn pong_opcode() -> OpCode {
    OpCode::Control(Control::Pong)
}

/// A close frame payload: code then reason.
pub(crate) fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(2 + reason.len());
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(reason.as_bytes());
    p
}

#[cfg(test)]
mod tests;
