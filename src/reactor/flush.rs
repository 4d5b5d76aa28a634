//! Writing: every connection with queued output is flushed once at the end of the loop
//! iteration (one `writev` of up to 64 queued buffers at a time, until its queue is empty or the
//! socket says `WouldBlock`); a `WouldBlock` waits for the writable edge that follows.
//!
//! Every stamped batch whose last byte is written is noted; the loop records their delivery
//! latencies at the end of the iteration (`Registry::end_iteration`).

use std::time::Instant;

use super::upstream::flush_upstream;
use super::Reactor;
use crate::conn::out::{Flushed, Stamp};
use crate::conn::{Closed, Side, State, Verdict};

impl Reactor {
    /// Flush every dirty connection.
    pub(super) fn flush_dirty(&mut self, now: Instant) {
        while let Some(key) = self.conns.pop_dirty() {
            let verdict = self.flush(key);
            self.apply(key, verdict, now);
        }
    }

    /// Write what connection `key` has queued; the verdict frees it after its close is out (or
    /// on a write error).
    fn flush(&mut self, key: usize) -> Verdict {
        let Some(conn) = self.conns.get_mut(key) else { return Verdict::Continue };
        let done = &mut self.observe.metrics.completions;
        let written = |s: Stamp| done.add(s.at_ns, s.messages.into());
        let flushed = match conn.side {
            Side::Client(_) => flush_upstream(conn, &mut self.connectors, written),
            Side::Accepted => conn.out.flush_to(&mut conn.stream, written),
        }
        .and_then(|f| match f {
            // TLS: the records rustls holds must reach the socket too.
            Flushed::All if !conn.stream.flush_pending()? => Ok(Flushed::WouldBlock),
            f => Ok(f),
        });
        match flushed {
            Ok(Flushed::All) if matches!(conn.state(), State::Closing { .. }) => {
                match conn.closing_flushed() {
                    Closed::Free => Verdict::Drop,
                    Closed::Linger | Closed::Pending => Verdict::Continue,
                }
            }
            Ok(flushed) => {
                if matches!(conn.state(), State::Http(h) if h.paused) && !conn.out.is_full() {
                    // Backpressure off: its waiting requests are handled next iteration.
                    self.pending.resume.push(key);
                }
                if conn.owed && flushed == Flushed::All {
                    // A subscriber behind its topics' slow-consumer policy has drained.
                    conn.owed = false;
                    self.pending.owed.push(key);
                }
                Verdict::Continue
            }
            Err(e) => {
                log::debug!("conn {} {}: write failed: {e}", conn.id, conn.peer);
                conn.note_io("write", &e);
                Verdict::Drop
            }
        }
    }

    /// A writable edge: flush whatever waits (a client connection's first writable edge ends
    /// its non-blocking connect).
    pub(super) fn on_writable(&mut self, key: usize, now: Instant) {
        let Some(conn) = self.conns.get(key) else { return };
        if let (Side::Client(_), State::Connecting { .. }) = (&conn.side, conn.state()) {
            let verdict = self.upstream_connected(key);
            return self.apply(key, verdict, now);
        }
        if !conn.out.is_empty()
            || matches!(conn.state(), State::Closing { .. })
            || conn.stream.has_pending_output()
            || matches!(conn.side, Side::Client(_))
        {
            self.conns.mark_dirty(key);
        }
    }
}
