package io.sluice.flink;

import java.util.Objects;
import org.apache.flink.api.connector.source.SourceSplit;

/**
 * One topic of a {@link SluiceSource}: the unit the enumerator assigns to a reader, and what a
 * checkpoint stores for it.
 *
 * <p>Today the relay keeps no history, so a split is its topic alone: a restored reader
 * subscribes again and receives what is published from then on. The split is the place for a
 * position in the topic's stream; when the relay numbers its messages, a split will also carry
 * the stream's epoch and the last offset read, and {@link SluiceTopicSplitSerializer} will
 * write them in a new version while still reading this one (as "no position").
 */
public final class SluiceTopicSplit implements SourceSplit {
    private final String topic;

    /** The split of {@code topic}. */
    public SluiceTopicSplit(String topic) {
        this.topic = Objects.requireNonNull(topic, "topic");
    }

    /** The topic this split reads. */
    public String topic() {
        return topic;
    }

    @Override
    public String splitId() {
        return topic;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SluiceTopicSplit && ((SluiceTopicSplit) o).topic.equals(topic);
    }

    @Override
    public int hashCode() {
        return topic.hashCode();
    }

    @Override
    public String toString() {
        return "SluiceTopicSplit{" + topic + "}";
    }
}
