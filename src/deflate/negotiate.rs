//! The `Sec-WebSocket-Extensions` negotiation of permessage-deflate (RFC 7692 §5–7), both
//! sides: a server choosing among a client's offers, and a client (a connector) checking the
//! server's answer to its own offer.
//!
//! Header syntax (RFC 6455 §9.1): a comma-separated list of extensions, each a token followed
//! by `; name[=value]` parameters, values tokens or quoted strings; several headers form one
//! list. A header that does not parse declines every offer (no extension, the upgrade goes
//! on); an offer with an unknown, repeated or malformed parameter is declined and the next one
//! considered, as RFC 7692 §5 asks.

use std::fmt::Write as _;

use super::{backend_bits, Receive, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
use crate::config::CompressionConfig;

/// The extension's name.
const NAME: &str = "permessage-deflate";

/// What a connector offers its upstream: permessage-deflate, with the two client parameters
/// a server may want to answer with. We never compress what we send, so any window limit is
/// fine and no context is ever kept (servers that insist on `client_no_context_takeover`
/// accept this offer; the others may ignore it).
pub(crate) const CLIENT_OFFER: &str =
    "permessage-deflate; client_no_context_takeover; client_max_window_bits";

/// One `name[=value]` parameter as written (the value unquoted).
type Param<'a> = (&'a str, Option<String>);

/// One extension of the list: its name and its parameters.
type Element<'a> = (&'a str, Vec<Param<'a>>);

/// The outcome of a server's negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Negotiation {
    /// Compression is off in the configuration, or the client offered no permessage-deflate.
    NotOffered,
    /// Offers were made, none could be honoured: the upgrade goes on without compression.
    Declined(&'static str),
    /// The first acceptable offer, and the answer to it.
    Accepted(Agreed),
}

/// What the server agreed with one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// The window this connection's messages are compressed with (9..=15): subscribers with
    /// the same value share one compressed frame.
    pub(crate) server_bits: u8,
    /// How this connection's compressed messages are inflated.
    pub(crate) receive: Receive,
    /// `server_max_window_bits` echoed from the offer (the same value: we honour it).
    server_max_window_bits: Option<u8>,
    /// `client_max_window_bits` to send, when we limit the client's window.
    client_max_window_bits: Option<u8>,
}

impl Agreed {
    /// The `Sec-WebSocket-Extensions` value of the `101` response.
    pub(crate) fn header_value(&self) -> String {
        let mut v = format!("{NAME}; server_no_context_takeover");
        if self.receive == Receive::NoContext {
            v.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            let _ = write!(v, "; server_max_window_bits={bits}");
        }
        if let Some(bits) = self.client_max_window_bits {
            let _ = write!(v, "; client_max_window_bits={bits}");
        }
        v
    }
}

/// The server's choice among the offers of every `Sec-WebSocket-Extensions` header of a
/// request (in order), under the `[compression]` configuration.
pub(crate) fn negotiate<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    config: &CompressionConfig,
) -> Negotiation {
    if !config.enabled {
        return Negotiation::NotOffered;
    }
    let mut elements = Vec::new();
    for h in headers {
        match parse(h) {
            Ok(mut e) => elements.append(&mut e),
            Err(_) => return Negotiation::Declined("unparsable Sec-WebSocket-Extensions header"),
        }
    }
    let mut why = None;
    for (_, params) in elements.iter().filter(|(n, _)| n.eq_ignore_ascii_case(NAME)) {
        match accept_offer(params, config) {
            Ok(agreed) => return Negotiation::Accepted(agreed),
            Err(e) => why = why.or(Some(e)),
        }
    }
    match why {
        Some(why) => Negotiation::Declined(why),
        None => Negotiation::NotOffered,
    }
}

/// The parameters of one offer, checked (RFC 7692 §7.1).
#[derive(Default)]
struct Offer {
    client_no_context_takeover: bool,
    server_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: offered without a value.
    client_max_window_bits: Option<Option<u8>>,
}

fn read_offer(params: &[Param<'_>]) -> Result<Offer, &'static str> {
    let mut o = Offer::default();
    let mut seen = Vec::with_capacity(params.len());
    for (name, value) in params {
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return Err("a parameter appears twice");
        }
        match (name.as_str(), value) {
            ("server_no_context_takeover", None) => o.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => o.client_no_context_takeover = true,
            ("server_max_window_bits", Some(v)) => {
                o.server_max_window_bits = Some(window_bits(v)?);
            }
            ("client_max_window_bits", None) => o.client_max_window_bits = Some(None),
            ("client_max_window_bits", Some(v)) => {
                o.client_max_window_bits = Some(Some(window_bits(v)?));
            }
            ("server_no_context_takeover" | "client_no_context_takeover", Some(_)) => {
                return Err("a no_context_takeover parameter with a value")
            }
            ("server_max_window_bits", None) => return Err("server_max_window_bits without value"),
            _ => return Err("an unknown parameter"),
        }
        seen.push(name);
    }
    let _ = o.server_no_context_takeover; // We always answer with it.
    Ok(o)
}

/// A window size: `8` to `15`, digits only, no leading zero (RFC 7692 §7.1.2).
fn window_bits(v: &str) -> Result<u8, &'static str> {
    let ok = !v.is_empty()
        && v.len() <= 2
        && v.bytes().all(|b| b.is_ascii_digit())
        && !v.starts_with('0');
    match v.parse::<u8>() {
        Ok(b) if ok && (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&b) => Ok(b),
        _ => Err("a window size outside 8..15"),
    }
}

fn accept_offer(params: &[Param<'_>], config: &CompressionConfig) -> Result<Agreed, &'static str> {
    let offer = read_offer(params)?;
    // server_max_window_bits: we honour any value (8 with a 9-bit backend, see backend_bits).
    let server_bits = backend_bits(offer.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS));
    let cap = config.client_max_window_bits;
    let (receive, client_max_window_bits) =
        if !config.client_context_takeover || offer.client_no_context_takeover {
            (Receive::NoContext, None)
        } else {
            match offer.client_max_window_bits {
                // The client may be told a window. A value in its offer is a promise not to use
                // more (§7.1.2.2): tell it only when our cap is smaller.
                Some(offered) => {
                    let limit = offered.unwrap_or(MAX_WINDOW_BITS);
                    let bits = cap.min(limit);
                    (Receive::Context { window_bits: bits }, (bits < limit).then_some(bits))
                }
                // It cannot be limited: keep its context only if the cap allows a full window,
                // else ask it to keep none (always allowed, §7.1.1.1).
                None if cap >= MAX_WINDOW_BITS => {
                    (Receive::Context { window_bits: MAX_WINDOW_BITS }, None)
                }
                None => (Receive::NoContext, None),
            }
        };
    Ok(Agreed {
        server_bits,
        receive,
        server_max_window_bits: offer.server_max_window_bits,
        client_max_window_bits,
    })
}

/// A client's check of the server's answer to [`CLIENT_OFFER`] (RFC 7692 §7.1: the client
/// fails the connection on anything it did not offer or cannot use). Returns how to inflate
/// the server's messages; the error says what is wrong.
pub(crate) fn accept_response<'a>(
    headers: impl IntoIterator<Item = &'a str>,
) -> Result<Receive, String> {
    let mut elements = Vec::new();
    for h in headers {
        elements.append(&mut parse(h).map_err(|e| format!("{e} in `{h}`"))?);
    }
    let [(name, params)] = elements.as_slice() else {
        return Err(format!("{} extensions in the answer; one was offered", elements.len()));
    };
    if !name.eq_ignore_ascii_case(NAME) {
        return Err(format!("extension `{name}` was not offered"));
    }
    let offer = read_offer(params).map_err(|e| format!("{e} in the {NAME} answer"))?;
    if offer.client_max_window_bits == Some(None) {
        return Err("client_max_window_bits without value in the answer".into());
    }
    Ok(if offer.server_no_context_takeover {
        Receive::NoContext
    } else {
        Receive::Context { window_bits: offer.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS) }
    })
}

/// The `101 Switching Protocols` head, with `extra` headers (a chosen subprotocol) and the
/// extension answer when one was agreed.
pub(crate) fn switching_protocols(
    accept: &str,
    agreed: Option<&Agreed>,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    match agreed {
        Some(a) => {
            let value = a.header_value();
            let mut headers = extra.to_vec();
            headers.push(("Sec-WebSocket-Extensions", &value));
            crate::conn::http::switching_protocols(accept, &headers)
        }
        None => crate::conn::http::switching_protocols(accept, extra),
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A cursor over one header value.
struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn ows(&mut self) {
        while matches!(self.s.as_bytes().get(self.pos), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn token(&mut self) -> Result<&'a str, &'static str> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err("a token was expected");
        }
        Ok(&self.s[start..self.pos])
    }

    /// A quoted string, unescaped; RFC 6455 §9.1: its content must then be a token.
    fn quoted(&mut self) -> Result<String, &'static str> {
        self.pos += 1;
        let mut v = String::new();
        loop {
            match self.peek() {
                None => return Err("an unterminated quoted string"),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = self.peek().ok_or("an unterminated quoted string")?;
                    v.push(c as char);
                    self.pos += 1;
                }
                Some(c) => {
                    v.push(c as char);
                    self.pos += 1;
                }
            }
        }
        if v.is_empty() || !v.bytes().all(is_tchar) {
            return Err("a quoted value that is not a token");
        }
        Ok(v)
    }
}

/// Parse one header value into its extensions (empty list elements are allowed, as in any
/// HTTP list).
fn parse(value: &str) -> Result<Vec<Element<'_>>, &'static str> {
    let mut lx = Lexer { s: value, pos: 0 };
    let mut out = Vec::new();
    loop {
        lx.ows();
        match lx.peek() {
            None => return Ok(out),
            Some(b',') => {
                lx.pos += 1;
                continue;
            }
            Some(_) => {}
        }
        let name = lx.token()?;
        let mut params = Vec::new();
        loop {
            lx.ows();
            match lx.peek() {
                None => {
                    out.push((name, params));
                    return Ok(out);
                }
                Some(b',') => {
                    lx.pos += 1;
                    out.push((name, params));
                    break;
                }
                Some(b';') => {
                    lx.pos += 1;
                    lx.ows();
                    let p = lx.token()?;
                    lx.ows();
                    let v = if lx.peek() == Some(b'=') {
                        lx.pos += 1;
                        lx.ows();
                        Some(if lx.peek() == Some(b'"') {
                            lx.quoted()?
                        } else {
                            lx.token()?.to_string()
                        })
                    } else {
                        None
                    };
                    params.push((p, v));
                }
                Some(_) => return Err("unexpected character"),
            }
        }
    }
}

#[cfg(test)]
#[path = "negotiate_tests.rs"]
mod tests;
