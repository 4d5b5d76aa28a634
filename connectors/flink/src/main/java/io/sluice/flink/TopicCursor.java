package io.sluice.flink;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A source's place in one topic's stream: the position it has (epoch and last offset), where a
 * (re)subscription resumes from, and what to do with each message of the relay.
 *
 * <p>Contract: {@link #on} takes the topic's messages in the order the relay sent them, over
 * every connection of the subscription in turn, and returns a {@link Step}: emit a record, move
 * the position without a record (a {@code subscribed} answer, a {@code gap}, a refused
 * resume), drop the message, ask the relay for what it still has, or reconnect. After every
 * step, {@link #since} is the position a new connection resumes from, so a record is never
 * emitted twice and never skipped without being counted. Every loss is logged at {@code WARN}
 * with its offsets and reported in the step ({@link Step#missed}, {@link Step#gap},
 * {@link Step#refused}).
 *
 * <p>A refused resume ({@code recovered:false}): when the reason is {@code epoch_changed} or
 * {@code position_expired} and the relay still keeps part of the stream, the cursor asks for
 * everything it keeps ({@link Step.Kind#REFILL}: a resume from just before the oldest offset
 * kept) and drops the topic's messages until the answer; what is older is counted as missed.
 * Otherwise ({@code too_many}, nothing kept, or a refill refused in turn) it goes on with the
 * live messages that follow, counting the offsets in between as missed. The part of an old
 * stream after the position (its last messages before a relay restart) cannot be known: it is
 * named in the log, not counted.
 *
 * <p>Not thread-safe: the subscription calls it under its own lock.
 */
final class TopicCursor {
    private static final Logger LOG = LoggerFactory.getLogger(TopicCursor.class);

    /** What to do with one message. */
    static final class Step {
        enum Kind {
            /** Emit the envelope's payload; the position is then {@link #epoch}:{@link #offset}. */
            EMIT,
            /** No record; the position is then {@link #epoch}:{@link #offset}. */
            MOVE,
            /** Nothing to do. */
            DROP,
            /** Send {@link #commands} to the relay (the position does not change). */
            REFILL,
            /** Drop this connection and resume on a new one from {@link TopicCursor#since}. */
            RECONNECT
        }

        final Kind kind;
        final String epoch;
        final long offset;
        /** Offsets that will never be emitted, known from this message. */
        final long missed;
        /** This message was a {@code gap}. */
        final boolean gap;
        /** This message was a refused resume. */
        final boolean refused;
        /** This message was a resume answered with the replay. */
        final boolean recovered;
        final String[] commands;

        private Step(Kind kind, String epoch, long offset, long missed, boolean gap, boolean refused,
                boolean recovered, String... commands) {
            this.kind = kind;
            this.epoch = epoch;
            this.offset = offset;
            this.missed = missed;
            this.gap = gap;
            this.refused = refused;
            this.recovered = recovered;
            this.commands = commands;
        }

        static final Step DROP = new Step(Kind.DROP, null, 0, 0, false, false, false);
        static final Step RECONNECT = new Step(Kind.RECONNECT, null, 0, 0, false, false, false);

        @Override
        public String toString() {
            return kind + " " + epoch + ":" + offset + (missed > 0 ? " missed=" + missed : "") + (gap ? " gap" : "")
                    + (refused ? " refused" : "") + (recovered ? " recovered" : "");
        }
    }

    private final String topic;
    private final String what;
    /** The stream the cursor has a position in, or null before the first answer. */
    private String epoch;
    /** The last offset of {@link #epoch} emitted or accounted for (0: none). */
    private long offset;
    /** While a refill is asked: the stream it is in; null otherwise. */
    private String refillEpoch;

    /**
     * A cursor for {@code topic} at {@code epoch}:{@code offset} (a restored position), or with
     * no position if {@code epoch} is null; {@code what} names the subscription in messages.
     */
    TopicCursor(String topic, String what, String epoch, long offset) {
        this.topic = topic;
        this.what = what;
        this.epoch = epoch;
        this.offset = epoch == null ? 0 : offset;
    }

    /** The {@code since} value to (re)subscribe with ({@code <epoch>:<offset>}), or null: live. */
    String since() {
        return epoch == null ? null : epoch + ":" + offset;
    }

    /** The position, for messages. */
    String position() {
        return epoch == null ? "(none)" : epoch + ":" + offset;
    }

    /** A new connection is about to subscribe: a refill asked on the last one is void. */
    void reconnecting() {
        refillEpoch = null;
    }

    /** The step for the next message of the topic. */
    Step on(Envelope e) throws EnvelopeScanner.Malformed {
        if (e.topic != null && !e.topic.equals(topic) && e.kind != Envelope.Kind.ERROR) {
            throw new EnvelopeScanner.Malformed("a message of topic '" + e.topic + "' on the subscription to '"
                    + topic + "': " + e);
        }
        switch (e.kind) {
            case PUBLICATION:
                return publication(e);
            case SUBSCRIBED:
                if (refillEpoch != null) {
                    return Step.DROP;
                }
                epoch = e.epoch;
                offset = e.offset;
                return move(0, false, false, false);
            case RECOVERY:
                return e.recovered ? recovered(e) : refused(e);
            case GAP:
                return gap(e);
            case ERROR:
                LOG.warn("{}: the relay answered an error ({}); reconnecting to resume from {}", what, e.reason,
                        position());
                return Step.RECONNECT;
            default:
                // unsubscribed (the first half of a refill), or a message type a newer relay sends.
                return Step.DROP;
        }
    }

    private Step publication(Envelope e) {
        if (refillEpoch != null) {
            // Live messages that the refill's replay brings again.
            return Step.DROP;
        }
        if (epoch != null && e.epoch.equals(epoch) && e.offset <= offset) {
            LOG.warn("{}: offset {} arrived again after {}; not emitted twice", what, e.offset, position());
            return Step.DROP;
        }
        if (epoch != null && !e.epoch.equals(epoch)) {
            LOG.warn("{}: a message of stream {} without a resume answer, at {}; following the new stream", what,
                    e.epoch, position());
        }
        epoch = e.epoch;
        offset = e.offset;
        return new Step(Step.Kind.EMIT, epoch, offset, 0, false, false, false);
    }

    private Step recovered(Envelope e) {
        long missed = lostBefore(e.epoch, e.from - 1);
        if (missed > 0) {
            LOG.warn("{}: offsets {}..{} of stream {} are lost (no longer kept by the relay); reading on from {}",
                    what, sameStream(e.epoch) ? offset + 1 : 1, e.from - 1, e.epoch, e.from);
        } else {
            LOG.info("{}: resumed after {}: the relay replays offsets {}..{} of stream {}", what, position(), e.from,
                    e.to, e.epoch);
        }
        refillEpoch = null;
        epoch = e.epoch;
        offset = e.from - 1;
        return move(missed, false, false, true);
    }

    private Step refused(Envelope e) {
        boolean keeps = e.oldest <= e.offset;
        boolean refill = refillEpoch == null && keeps
                && ("epoch_changed".equals(e.reason) || "position_expired".equals(e.reason));
        String had = position();
        String oldTail = epoch != null && !sameStream(e.epoch)
                ? "; what stream " + epoch + " had after offset " + offset
                        + " is unknown (the relay restarted, or the topic's stream ended)"
                : "";
        if (refill) {
            refillEpoch = e.epoch;
            LOG.warn("{}: the relay refused to resume after {} ({}; it keeps offsets {}..{} of stream {}){}; "
                    + "asking for everything it keeps", what, had, e.reason, e.oldest, e.offset, e.epoch, oldTail);
            long before = e.oldest - 1;
            return new Step(Step.Kind.REFILL, null, 0, 0, false, true, false,
                    "{\"type\":\"unsubscribe\",\"topic\":\"" + topic + "\"}",
                    "{\"type\":\"subscribe\",\"topic\":\"" + topic + "\",\"since\":{\"epoch\":\"" + e.epoch
                            + "\",\"offset\":" + before + "}}");
        }
        long missed = lostBefore(e.epoch, e.offset);
        long first = sameStream(e.epoch) ? offset + 1 : 1;
        LOG.warn("{}: the relay refused to resume after {} ({}; it keeps offsets {}..{} of stream {}){}; {}"
                + "reading on with live messages after offset {}", what, had, e.reason, e.oldest, e.offset, e.epoch,
                oldTail, missed > 0 ? "offsets " + first + ".." + e.offset + " of stream " + e.epoch + " are lost; " : "",
                e.offset);
        refillEpoch = null;
        epoch = e.epoch;
        offset = e.offset;
        return move(missed, false, true, false);
    }

    private Step gap(Envelope e) {
        if (refillEpoch != null || e.to <= offset) {
            return Step.DROP;
        }
        long from = Math.max(e.from, offset + 1);
        LOG.warn("{}: the relay skipped offsets {}..{} of stream {} ({})", what, from, e.to, epoch, e.reason);
        offset = e.to;
        return move(e.to - from + 1, true, false, false);
    }

    private Step move(long missed, boolean gap, boolean refused, boolean recovered) {
        return new Step(Step.Kind.MOVE, epoch, offset, missed, gap, refused, recovered);
    }

    private boolean sameStream(String other) {
        return epoch != null && epoch.equals(other);
    }

    /**
     * Offsets of stream {@code other} up to {@code last} that the cursor never had: those after
     * its offset in the same stream, all of them in another.
     */
    private long lostBefore(String other, long last) {
        return Math.max(0, sameStream(other) ? last - offset : last);
    }
}
