//! The `Open` state's handler: WebSocket frames parsed in place from the read buffer, their
//! messages published (or echoed, or ignored), pings answered, and every protocol violation
//! turned into the close code RFC 6455 asks for.
//!
//! Messages of one read are encoded once into the scratch batch and handed to the router when
//! the read's frames are parsed (or when the batch reaches `BATCH_FLUSH`, after which parsing
//! goes on). Echoes and pongs go to the connection's own queue, in order: echoes as data within
//! its bound, pongs alone within the control reserve.
//!
//! With permessage-deflate negotiated, compressed messages are inflated as they are parsed
//! (the reactor's shared inflater, or the connection's own when its peer keeps its context)
//! and take the same path as any other. `/echo` answers each message as it came: compressed
//! (with the relay's compressor) if it arrived compressed, uncompressed otherwise.

use std::time::Instant;

use super::Reactor;
use crate::conn::frames::{self, CloseReason, Event, Flow, Progress};
use crate::conn::keepalive::rate_admit;
use crate::conn::out::Stamp;
use crate::conn::{Role, Side, State, Verdict};
use crate::route::BATCH_FLUSH;
use crate::topic::TopicId;

/// Commands handled per read of an envelope subscriber (more are ignored and counted, like
/// any message a subscriber sends past its use).
const MAX_COMMANDS: usize = 64;

/// Where the data messages of a connection go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    Topic(TopicId),
    Echo,
    /// An envelope subscriber: its text messages are `subscribe`/`unsubscribe` commands.
    Commands,
    Discard,
}

/// What one pass of the frame parser produced, besides the batch.
#[derive(Debug, Default)]
struct Parsed {
    ignored: u64,
    echoed: u64,
    close: Option<Option<u16>>,
    commands: Vec<Vec<u8>>,
}

/// One pass of the frame parser over a connection's bytes.
struct Pass {
    sink: Sink,
    publisher: u64,
    client: bool,
    parsed: Parsed,
    result: Result<Progress, CloseReason>,
}

impl Reactor {
    /// Parse frames from an open connection, deliver its messages, answer its control frames:
    /// (bytes consumed, verdict).
    pub(super) fn on_frames(
        &mut self,
        key: usize,
        data: &mut [u8],
        now: Instant,
    ) -> (usize, Verdict) {
        let mut pos = 0;
        loop {
            let Some(mut pass) = self.parse(key, &mut data[pos..]) else {
                return (data.len(), Verdict::Continue);
            };
            if let Some(verdict) = self.deliver(key, &mut pass, now) {
                return (data.len(), verdict);
            }
            match pass.result {
                Ok(progress) => {
                    pos += progress.consumed;
                    match progress.flow {
                        Flow::Pause => continue,
                        Flow::Continue => return (pos, Verdict::Continue),
                        Flow::Stop => {
                            return (data.len(), self.peer_closed(key, pass.parsed.close))
                        }
                    }
                }
                Err(reason) => return (data.len(), self.protocol_error(key, reason)),
            }
        }
    }

    /// Parse frames until the input ends, the batch is full, or a close: messages into the
    /// scratch batch (or the reply, for an echo), pongs into the reply. `None` if not open.
    fn parse(&mut self, key: usize, data: &mut [u8]) -> Option<Pass> {
        let conn = &mut self.conns[key];
        let mask = conn.mask();
        let client = matches!(conn.side, Side::Client(_));
        let publisher = conn.publisher_id();
        let State::Open(open) = conn.state_mut() else { return None };
        let sink = match open.role {
            Role::Publish(t) | Role::Upstream(Some(t)) => Sink::Topic(t),
            Role::Echo => Sink::Echo,
            Role::Subscribe(ref subs) if subs.envelope => Sink::Commands,
            Role::Subscribe(_) | Role::Feed(_) | Role::Upstream(None) => Sink::Discard,
        };
        let (batch, reply) = (&mut self.scratch.batch, &mut self.scratch.reply);
        let inflate = Some(&mut self.scratch.inflate);
        let (deflate, deflater) = (open.deflate, &mut self.router.deflate);
        let mut parsed = Parsed::default();
        let result = open.reader.process_with(data, &self.policy.frame_limits, inflate, |event| {
            match event {
                Event::Message { text, payload, compressed } => match sink {
                    Sink::Discard => parsed.ignored += 1,
                    Sink::Commands if text && parsed.commands.len() < MAX_COMMANDS => {
                        parsed.commands.push(payload.to_vec())
                    }
                    Sink::Commands => parsed.ignored += 1,
                    Sink::Echo => {
                        // Echoed as it came: compressed if it arrived compressed.
                        match deflate.filter(|_| compressed) {
                            Some(bits) => deflater.push_compressed(reply, text, payload, bits),
                            None => frames::encode_frame(
                                reply,
                                frames::data_opcode(text),
                                payload,
                                mask,
                            ),
                        }
                        parsed.echoed += 1;
                        if reply.len() >= BATCH_FLUSH {
                            return Flow::Pause;
                        }
                    }
                    Sink::Topic(_) => {
                        batch.push(text, payload);
                        if batch.is_full() {
                            return Flow::Pause;
                        }
                    }
                },
                // In order with the echoes, if any.
                Event::Ping(payload) => {
                    frames::encode_frame(reply, frames::pong_opcode(), payload, mask)
                }
                Event::Pong => {}
                Event::Close(code) => parsed.close = Some(code),
            }
            Flow::Continue
        });
        Some(Pass { sink, publisher, client, parsed, result })
    }

    /// Count, rate-limit and deliver what a pass parsed; `Some(verdict)` ends the connection's
    /// reading.
    fn deliver(&mut self, key: usize, pass: &mut Pass, now: Instant) -> Option<Verdict> {
        let commands = std::mem::take(&mut pass.parsed.commands);
        let parsed = &pass.parsed;
        self.observe.stats.messages_ignored += parsed.ignored;
        let msgs = self.scratch.batch.messages();
        if pass.client {
            // This pass's messages are all in the batch (or counted as ignored).
            let counted = match pass.sink {
                Sink::Topic(_) => (msgs, self.scratch.batch.payload_bytes()),
                _ => (parsed.ignored, 0),
            };
            self.count_upstream_in(key, counted.0, counted.1);
        } else if self.over_rate(
            key,
            msgs + parsed.echoed + parsed.ignored + commands.len() as u64,
            now,
        ) {
            // Nothing parsed in this pass goes out: not its messages, not its pongs.
            self.scratch.batch.clear();
            self.scratch.reply.clear();
            self.observe.stats.rate_limit_closes += 1;
            let why = format!(
                "message rate limit exceeded ({}/s)",
                self.policy.limits.max_messages_per_sec
            );
            let reason = CloseReason::new(frames::CLOSE_POLICY, why);
            return Some(Verdict::close(Some(reason), true));
        }
        if let Sink::Topic(topic) = pass.sink {
            self.publish_batch(topic, pass.publisher, now);
        }
        if !commands.is_empty() {
            self.run_commands(key, commands, now);
        }
        self.flush_pipelines(now);
        self.queue_reply(key, parsed.echoed > 0)
    }

    /// Queue the echoes and pongs of this pass to the connection itself. A queue that cannot
    /// take them is a slow consumer: `Some(close)`.
    fn queue_reply(&mut self, key: usize, echoes: bool) -> Option<Verdict> {
        if self.scratch.reply.is_empty() {
            return None;
        }
        let frame = std::sync::Arc::from(&self.scratch.reply[..]);
        self.scratch.reply.clear();
        let queued = if echoes {
            self.conns.queue(key, frame, Stamp::NONE)
        } else {
            self.conns.queue_control(key, frame)
        };
        if queued.is_ok() {
            return None;
        }
        self.observe.stats.slow_consumer_closes += 1;
        let bound = self.policy.limits.max_queued_bytes;
        let why = format!("slow consumer: more than {bound} bytes queued");
        Some(Verdict::close(Some(CloseReason::new(frames::CLOSE_POLICY, why)), true))
    }

    /// The peer's close frame: echo its code (RFC 6455 §5.5.1).
    fn peer_closed(&mut self, key: usize, code: Option<Option<u16>>) -> Verdict {
        let code = code.flatten();
        let shown = code.map_or("no code".into(), |c| c.to_string());
        self.conns[key].note(format!("closed by the upstream ({shown})"));
        Verdict::close(code.map(|code| CloseReason::new(code, "")), false)
    }

    /// A protocol violation: counted, and the connection closed with the code it calls for.
    fn protocol_error(&mut self, key: usize, reason: CloseReason) -> Verdict {
        self.observe.stats.protocol_closes += 1;
        if reason.code == frames::CLOSE_POLICY {
            self.observe.stats.fragment_limit_closes += 1;
        }
        let conn = &self.conns[key];
        if let State::Open(open) = conn.state() {
            if let Role::Publish(topic) = open.role {
                self.router.count_invalid(topic);
            }
        }
        log::debug!("conn {} {}: closing {} ({})", conn.id, conn.peer, reason.code, reason.reason);
        Verdict::close(Some(reason), false)
    }

    /// The inbound rate limit, checked once per parsed batch (not per message, so the frame loop
    /// is the same with the limit off): true if the `msgs` messages just parsed exceed the
    /// connection's allowance (they are then discarded and the connection closed with `1008`).
    #[inline]
    fn over_rate(&mut self, key: usize, msgs: u64, now: Instant) -> bool {
        let Some((interval, tolerance)) = self.policy.rate else { return false };
        let n = u32::try_from(msgs).unwrap_or(u32::MAX);
        let State::Open(open) = self.conns[key].state_mut() else { return false };
        n != 0 && !rate_admit(&mut open.rate_tat, now, n, interval, tolerance)
    }
}
