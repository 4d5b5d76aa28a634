//! permessage-deflate (RFC 7692): negotiation, one compressor for every subscriber, and an
//! inflater with a cap.
//!
//! Contract:
//!
//! - **Negotiation** ([`negotiate`]) reads a client's `Sec-WebSocket-Extensions` offers and
//!   accepts the first `permessage-deflate` offer it can honour, always with
//!   `server_no_context_takeover`: every message is compressed on its own, so one compressed
//!   frame is valid for every subscriber that agreed on the same window. By default the answer
//!   also carries `client_no_context_takeover` (RFC 7692 §7.1.1.1 lets a server add it
//!   unasked): clients compress each message on its own too, and inflating needs no
//!   per-connection state. An offer that cannot be honoured is declined — the upgrade goes on
//!   without compression; it never fails because of an extension.
//! - **Compression** ([`Compressor`]) runs once per message per window size, not per
//!   subscriber, into a reused buffer; it holds no per-connection state. [`Deflater`] wraps it for
//!   the fan-out, `/echo` and replays: it leaves messages below `[compression] min_size` (and
//!   those that would not shrink) uncompressed, and appends each message's frame.
//! - **Inflation** ([`Inflate`], [`Inflater`]) counts every inflated byte against
//!   `max_message_size` as it is produced: a message that would inflate past it is refused
//!   (close `1009`) with no more than the limit allocated; a stream that is not valid DEFLATE
//!   is refused with `1007`. Connections whose peer keeps its context own an inflater
//!   (counted by [`Inflate::context_inflaters`]); the others share the reactor's.
//! - **Connectors** offer [`CLIENT_OFFER`] and check the upstream's answer with
//!   [`accept_response`]; they never compress what they send (RFC 7692 lets a sender leave any
//!   message uncompressed), so only the inflating side matters to them.
//!
//! The DEFLATE backend is `flate2` over `zlib-rs` (pure Rust, window bits 9..15 in both
//! directions, sync flush); `perf/deflate.sh` measures it against the alternatives.

mod compress;
mod fanout;
mod inflate;
mod negotiate;
mod stats;

// Tests only (perf/deflate-bench includes the file by path).
#[cfg(test)]
pub(crate) mod distance;

pub(crate) use compress::Compressor;
pub(crate) use fanout::Deflater;
pub(crate) use inflate::{Inflate, InflateError, Inflater};
pub(crate) use negotiate::{
    accept_response, negotiate, switching_protocols, Agreed, Negotiation, CLIENT_OFFER,
};
pub(crate) use stats::Counters;

/// The four octets a sync flush ends with; RFC 7692 §7.2.1 strips them from every compressed
/// message and §7.2.2 appends them again before inflating.
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The smallest and largest LZ77 window sizes (as powers of two) RFC 7692 allows.
pub(crate) const MIN_WINDOW_BITS: u8 = 8;
/// The largest window: 32 KiB.
pub(crate) const MAX_WINDOW_BITS: u8 = 15;

/// The window the DEFLATE backend actually uses for an agreed window of `bits`: 8 becomes 9.
/// zlib (and zlib-rs, which follows it) cannot make raw streams with a 256-byte window, but a
/// 9-bit stream never reaches back further than 250 bytes (its window less the 262-byte
/// lookahead), so it is valid for a peer that allowed 8 (the `distance` tests check it).
pub(crate) fn backend_bits(bits: u8) -> u8 {
    bits.clamp(9, MAX_WINDOW_BITS)
}

/// How a connection's reader treats frames with RSV1 set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Receive {
    /// No extension negotiated: RSV1 is a protocol error (`1002`).
    #[default]
    Off,
    /// Compressed messages stand alone (the peer keeps no context): inflated with the
    /// reactor's shared inflater, reset for every message. Nothing per connection.
    NoContext,
    /// The peer keeps its LZ77 window (at most 2^`window_bits` bytes) from message to message:
    /// the connection owns an inflater, made at its first compressed message.
    Context {
        /// The peer's largest window, 8..=15.
        window_bits: u8,
    },
}
