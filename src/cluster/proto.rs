//! The NATS client protocol (<https://docs.nats.io/reference/reference-protocols/nats-protocol>)
//! as plain functions over byte buffers: [`parse`] reads one server operation from the front of
//! a buffer, the `encode_*` functions append client operations to an output buffer.
//!
//! Contract: [`parse`] never allocates and never panics on any input; it returns
//! `Ok(None)` until a whole operation is buffered, and a [`ProtoError`] for bytes no NATS server
//! sends (the connection is then dropped and made again). A control line is bounded by
//! [`MAX_CONTROL_LINE`] and a message by the `max_payload` the caller passes (the server's own,
//! from `INFO`), so a broken or hostile server cannot make the buffer grow without bound.

use std::fmt;

/// The longest control line accepted (the server's default `max_control_line` is 4 KiB).
pub(crate) const MAX_CONTROL_LINE: usize = 4096;

/// One operation sent by a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op<'a> {
    /// `INFO {json}`: the server's description (also sent again when the cluster changes).
    Info(&'a [u8]),
    /// `MSG` or `HMSG`: a message for subscription `sid`.
    Msg(Msg<'a>),
    /// `PING`: answer with `PONG`.
    Ping,
    /// `PONG`: the answer to our `PING`.
    Pong,
    /// `+OK` (only in verbose mode, which we do not ask for).
    Ok,
    /// `-ERR '<message>'`: the server's complaint; most close the connection.
    Err(&'a [u8]),
}

/// A delivered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Msg<'a> {
    pub(crate) subject: &'a [u8],
    pub(crate) sid: u64,
    pub(crate) reply: Option<&'a [u8]>,
    /// The header block (`NATS/1.0…\r\n\r\n`) of an `HMSG`.
    pub(crate) headers: Option<&'a [u8]>,
    pub(crate) payload: &'a [u8],
}

/// Bytes that are not the NATS protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProtoError {
    /// A control line longer than [`MAX_CONTROL_LINE`] without its end.
    LineTooLong,
    /// An operation we do not know.
    UnknownOp(String),
    /// A `MSG`/`HMSG` line that does not parse.
    BadMsgLine(String),
    /// A message larger than the server's own `max_payload`.
    TooBig(usize),
    /// The bytes after a payload are not `\r\n`.
    MissingTerminator,
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::LineTooLong => {
                write!(f, "a control line longer than {MAX_CONTROL_LINE} bytes")
            }
            ProtoError::UnknownOp(op) => write!(f, "unknown operation `{op}`"),
            ProtoError::BadMsgLine(line) => write!(f, "malformed message line `{line}`"),
            ProtoError::TooBig(n) => write!(f, "a message of {n} bytes, over max_payload"),
            ProtoError::MissingTerminator => f.write_str("a payload not followed by CRLF"),
        }
    }
}

/// Parse one operation from the front of `buf`: `Ok(Some((op, bytes used)))`, `Ok(None)` if
/// more bytes are needed.
pub(crate) fn parse(buf: &[u8], max_payload: usize) -> Result<Option<(Op<'_>, usize)>, ProtoError> {
    let Some(end) = find_crlf(buf) else {
        // A line of exactly the limit may still be waiting for its `\n`.
        return if buf.len() > MAX_CONTROL_LINE + 1 {
            Err(ProtoError::LineTooLong)
        } else {
            Ok(None)
        };
    };
    if end > MAX_CONTROL_LINE {
        return Err(ProtoError::LineTooLong);
    }
    let line = &buf[..end];
    let after = end + 2;
    let (verb, rest) = split_verb(line);
    let op = match verb.to_ascii_uppercase().as_slice() {
        b"MSG" => return parse_msg(buf, rest, after, false, max_payload),
        b"HMSG" => return parse_msg(buf, rest, after, true, max_payload),
        b"PING" => Op::Ping,
        b"PONG" => Op::Pong,
        b"+OK" => Op::Ok,
        b"-ERR" => Op::Err(trim_quotes(rest)),
        b"INFO" => Op::Info(rest),
        _ => return Err(ProtoError::UnknownOp(lossy(verb, 16))),
    };
    Ok(Some((op, after)))
}

/// `MSG <subject> <sid> [reply] <#bytes>` or `HMSG <subject> <sid> [reply] <#hdr> <#total>`.
fn parse_msg<'a>(
    buf: &'a [u8],
    args: &'a [u8],
    start: usize,
    headers: bool,
    max_payload: usize,
) -> Result<Option<(Op<'a>, usize)>, ProtoError> {
    let bad = || ProtoError::BadMsgLine(lossy(args, 200));
    let mut fields = [&b""[..]; 5];
    let mut n = 0;
    for f in args.split(|&b| b == b' ' || b == b'\t').filter(|f| !f.is_empty()) {
        if n == fields.len() {
            return Err(bad());
        }
        fields[n] = f;
        n += 1;
    }
    let sizes = if headers { 2 } else { 1 };
    if n != 2 + sizes && n != 3 + sizes {
        return Err(bad());
    }
    let subject = fields[0];
    let sid = number(fields[1]).ok_or_else(bad)? as u64;
    let reply = (n == 3 + sizes).then_some(fields[2]);
    let total = number(fields[n - 1]).ok_or_else(bad)?;
    let header_len = if headers { number(fields[n - 2]).ok_or_else(bad)? } else { 0 };
    if header_len > total {
        return Err(bad());
    }
    if total > max_payload {
        return Err(ProtoError::TooBig(total));
    }
    if buf.len() < start + total + 2 {
        return Ok(None);
    }
    if &buf[start + total..start + total + 2] != b"\r\n" {
        return Err(ProtoError::MissingTerminator);
    }
    let body = &buf[start..start + total];
    let msg = Msg {
        subject,
        sid,
        reply,
        headers: headers.then(|| &body[..header_len]),
        payload: &body[header_len..],
    };
    Ok(Some((Op::Msg(msg), start + total + 2)))
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    let limit = buf.len().min(MAX_CONTROL_LINE + 2);
    buf[..limit].windows(2).position(|w| w == b"\r\n")
}

fn split_verb(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(i) => (&line[..i], trim(&line[i + 1..])),
        None => (line, &[]),
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &s[start..end]
}

fn trim_quotes(s: &[u8]) -> &[u8] {
    match s {
        [b'\'', inner @ .., b'\''] => inner,
        _ => s,
    }
}

/// A decimal size or id (at most 18 digits, so it cannot overflow).
fn number(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 18 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0usize, |n, &d| n * 10 + usize::from(d - b'0')))
}

fn lossy(s: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&s[..s.len().min(max)]).into_owned()
}

/// Append `CONNECT <json>\r\nPING\r\n` (the PING's `PONG` says the server accepted it).
pub(crate) fn encode_connect(out: &mut Vec<u8>, json: &str) {
    out.extend_from_slice(b"CONNECT ");
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(b"\r\nPING\r\n");
}

/// Append `SUB <subject> <sid>`.
pub(crate) fn encode_sub(out: &mut Vec<u8>, subject: &str, sid: u64) {
    use std::io::Write;
    let _ = write!(out, "SUB {subject} {sid}\r\n");
}

/// Append `UNSUB <sid>`.
pub(crate) fn encode_unsub(out: &mut Vec<u8>, sid: u64) {
    use std::io::Write;
    let _ = write!(out, "UNSUB {sid}\r\n");
}

/// Append `PUB <subject> [reply] <#bytes>` and the payload.
pub(crate) fn encode_pub(out: &mut Vec<u8>, subject: &str, reply: Option<&str>, payload: &[u8]) {
    use std::io::Write;
    let _ = match reply {
        Some(r) => write!(out, "PUB {subject} {r} {}\r\n", payload.len()),
        None => write!(out, "PUB {subject} {}\r\n", payload.len()),
    };
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Append `HPUB <subject> [reply] <#hdr> <#total>`, the header block and the payload.
pub(crate) fn encode_hpub(
    out: &mut Vec<u8>,
    subject: &str,
    reply: Option<&str>,
    headers: &[u8],
    payload: &[u8],
) {
    use std::io::Write;
    let (h, t) = (headers.len(), headers.len() + payload.len());
    let _ = match reply {
        Some(r) => write!(out, "HPUB {subject} {r} {h} {t}\r\n"),
        None => write!(out, "HPUB {subject} {h} {t}\r\n"),
    };
    out.extend_from_slice(headers);
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(buf: &[u8]) -> (Op<'_>, usize) {
        parse(buf, 1 << 20).expect("parses").expect("complete")
    }

    #[test]
    fn server_operations_parse() {
        assert_eq!(one(b"PING\r\n"), (Op::Ping, 6));
        assert_eq!(one(b"pong\r\nPING\r\n"), (Op::Pong, 6));
        assert_eq!(one(b"+OK\r\n").0, Op::Ok);
        assert_eq!(
            one(b"-ERR 'Authorization Violation'\r\n").0,
            Op::Err(b"Authorization Violation")
        );
        assert_eq!(one(b"INFO {\"a\":1} \r\n").0, Op::Info(b"{\"a\":1}"));
        let (op, n) = one(b"MSG a.b 7 5\r\nhello\r\nPING\r\n");
        assert_eq!(n, 20);
        let Op::Msg(m) = op else { panic!() };
        assert_eq!(
            (m.subject, m.sid, m.reply, m.headers, m.payload),
            (&b"a.b"[..], 7, None, None, &b"hello"[..])
        );
        let (op, _) = one(b"HMSG s 2 $JS.ACK.x 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
        let Op::Msg(m) = op else { panic!() };
        assert_eq!(m.reply, Some(&b"$JS.ACK.x"[..]));
        assert_eq!(m.headers, Some(&b"NATS/1.0\r\n\r\n"[..]));
        assert_eq!(m.payload, b"hi");
    }

    #[test]
    fn partial_input_waits_and_every_prefix_is_safe() {
        let all = b"HMSG s 2 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nMSG a 1 0\r\n\r\n";
        for cut in 0..all.len() {
            let r = parse(&all[..cut], 1 << 20);
            if cut < 34 {
                assert_eq!(r, Ok(None), "prefix of {cut}");
            }
        }
        let (_, n) = one(all);
        assert_eq!(n, 34);
        let (op, _) = one(&all[n..]);
        assert!(matches!(op, Op::Msg(Msg { payload: b"", .. })));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let cases: &[&[u8]] = &[
            b"WHAT\r\n",
            b"MSG a\r\n",
            b"MSG a b 1\r\nx\r\n",
            b"MSG a 1 99999999999999999999\r\n",
            b"HMSG a 1 5 3\r\nabc\r\n",
            b"MSG a 1 2 3 4 5\r\n",
            b"MSG a 1 3\r\nabcXY",
        ];
        for c in cases {
            assert!(parse(c, 1 << 20).is_err(), "{:?}", String::from_utf8_lossy(c));
        }
        assert_eq!(parse(b"MSG a 1 2000\r\n", 1000), Err(ProtoError::TooBig(2000)));
        assert_eq!(parse(&[b'x'; MAX_CONTROL_LINE + 2], 10), Err(ProtoError::LineTooLong));
        assert_eq!(parse(&[b'x'; MAX_CONTROL_LINE + 1], 10), Ok(None));
    }

    #[test]
    fn client_operations_encode() {
        let mut out = Vec::new();
        encode_connect(&mut out, "{}");
        encode_sub(&mut out, "a.*", 3);
        encode_unsub(&mut out, 3);
        encode_pub(&mut out, "x", Some("r.1"), b"hi");
        encode_pub(&mut out, "x", None, b"");
        encode_hpub(&mut out, "x", Some("r"), b"NATS/1.0\r\n\r\n", b"hi");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "CONNECT {}\r\nPING\r\nSUB a.* 3\r\nUNSUB 3\r\nPUB x r.1 2\r\nhi\r\nPUB x 0\r\n\r\n\
             HPUB x r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
        );
    }
}
