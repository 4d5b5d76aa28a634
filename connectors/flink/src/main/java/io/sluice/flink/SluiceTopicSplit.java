package io.sluice.flink;

import java.util.Objects;
import org.apache.flink.api.connector.source.SourceSplit;

/**
 * One topic of a {@link SluiceSource}: the unit the enumerator assigns to a reader, and what a
 * checkpoint stores for it: the topic, and the position in its stream of the last record the
 * reader emitted (the stream's epoch and that offset), if it has one.
 *
 * <p>A split with a position is read by subscribing with {@code ?since=<epoch>:<offset>}: the
 * relay replays what came after it from its history, all of it or nothing. A split without one
 * (a topic never read yet, or a checkpoint of a connector version without positions) starts with
 * the live messages.
 */
public final class SluiceTopicSplit implements SourceSplit {
    private final String topic;
    private final String epoch;
    private final long offset;

    /** The split of {@code topic}, without a position. */
    public SluiceTopicSplit(String topic) {
        this(topic, null, 0);
    }

    /**
     * The split of {@code topic} at offset {@code offset} of stream {@code epoch} (offset 0: before
     * the stream's first message); no position if {@code epoch} is null.
     */
    public SluiceTopicSplit(String topic, String epoch, long offset) {
        this.topic = Objects.requireNonNull(topic, "topic");
        if (offset < 0) {
            throw new IllegalArgumentException("a stream offset is 0 or more, got " + offset);
        }
        this.epoch = epoch;
        this.offset = epoch == null ? 0 : offset;
    }

    /** The topic this split reads. */
    public String topic() {
        return topic;
    }

    /** The epoch of the stream the position is in; null without a position. */
    public String epoch() {
        return epoch;
    }

    /** The offset of the last record emitted (0 without a position). */
    public long offset() {
        return offset;
    }

    /** This topic at another position. */
    SluiceTopicSplit at(String epoch, long offset) {
        return new SluiceTopicSplit(topic, epoch, offset);
    }

    @Override
    public String splitId() {
        return topic;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof SluiceTopicSplit)) {
            return false;
        }
        SluiceTopicSplit s = (SluiceTopicSplit) o;
        return s.topic.equals(topic) && Objects.equals(s.epoch, epoch) && s.offset == offset;
    }

    @Override
    public int hashCode() {
        return Objects.hash(topic, epoch, offset);
    }

    @Override
    public String toString() {
        return "SluiceTopicSplit{" + topic + (epoch == null ? "" : "@" + epoch + ":" + offset) + "}";
    }
}
