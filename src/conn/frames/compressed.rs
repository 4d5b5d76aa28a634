//! The compressed messages of [`FrameReader`] (permessage-deflate): inflated frame by frame
//! as they arrive, with the shared inflater of the reactor or the connection's own.

use super::{CloseReason, Event, Flow, Fragments, FrameLimits, FrameReader, CLOSE_INVALID};
use crate::deflate::{Inflate, InflateError, Inflater, Receive, MAX_WINDOW_BITS};

/// The inflating side of a fragmented compressed message.
#[derive(Debug)]
pub(super) struct Compressed {
    /// Compressed bytes received.
    pub(super) bytes_in: usize,
    /// Its own inflater when the peer keeps no context; `None`: the connection's.
    pub(super) inflater: Option<Box<Inflater>>,
}

impl FrameReader {
    /// The first frame of a compressed message (RSV1 set, negotiated).
    pub(super) fn on_compressed<F>(
        &mut self,
        fin: bool,
        text: bool,
        payload: &[u8],
        limits: &FrameLimits,
        inflate: Option<&mut Inflate>,
        handler: &mut F,
    ) -> Result<Flow, CloseReason>
    where
        F: FnMut(Event<'_>) -> Flow,
    {
        let mut temporary = None;
        let inflate = inflate.unwrap_or_else(|| temporary.insert(Inflate::new()));
        let own = match self.receive {
            Receive::Context { window_bits } => {
                Some(&mut **self.own.get_or_insert_with(|| inflate.owned_inflater(window_bits)))
            }
            _ => None,
        };
        if fin {
            let message = inflate.message(own, payload, limits.max_message).map_err(refuse)?;
            if text && std::str::from_utf8(message).is_err() {
                return Err(CloseReason::new(CLOSE_INVALID, "invalid UTF-8 in text message"));
            }
            return Ok(handler(Event::Message { text, payload: message, compressed: true }));
        }
        let inflater = match own {
            Some(_) => None,
            None => Some(inflate.owned_inflater(MAX_WINDOW_BITS)),
        };
        self.frag = Some(Fragments::new(text, Some(Compressed { bytes_in: 0, inflater })));
        self.on_compressed_continue(false, payload, limits, Some(inflate), handler)
    }

    /// A frame of a fragmented compressed message: inflate it into the message's buffer.
    pub(super) fn on_compressed_continue<F>(
        &mut self,
        fin: bool,
        payload: &[u8],
        limits: &FrameLimits,
        inflate: Option<&mut Inflate>,
        handler: &mut F,
    ) -> Result<Flow, CloseReason>
    where
        F: FnMut(Event<'_>) -> Flow,
    {
        let mut temporary = None;
        let inflate = inflate.unwrap_or_else(|| temporary.insert(Inflate::new()));
        let frag = self.frag.as_mut().expect("a compressed message is in progress");
        frag.count(payload.len(), limits)?;
        let c = frag.compressed.as_mut().expect("a compressed message");
        c.bytes_in += payload.len();
        let window_bits = match self.receive {
            Receive::Context { window_bits } => window_bits,
            _ => MAX_WINDOW_BITS,
        };
        let inflater = match c.inflater.as_mut() {
            Some(i) => i,
            None => self.own.get_or_insert_with(|| inflate.owned_inflater(window_bits)),
        };
        let result = inflater.push(payload, fin, &mut frag.buf, limits.max_message);
        if let Err(e) = result {
            return Err(refuse(inflate.count(c.bytes_in, Err(e)).expect_err("an error")));
        }
        frag.check_utf8()?;
        if !fin {
            return Ok(Flow::Continue);
        }
        let frag = self.frag.take().expect("checked above");
        let bytes_in = frag.compressed.as_ref().map_or(0, |c| c.bytes_in);
        let _ = inflate.count(bytes_in, Ok(frag.buf.len()));
        if frag.text && frag.utf8_ok != frag.buf.len() {
            return Err(CloseReason::new(CLOSE_INVALID, "invalid UTF-8 in text message"));
        }
        Ok(handler(Event::Message { text: frag.text, payload: &frag.buf, compressed: true }))
    }
}

/// The close for a refused compressed message.
fn refuse(e: InflateError) -> CloseReason {
    CloseReason::new(e.close_code(), e.to_string())
}
