package io.sluice.flink;

import java.io.Serializable;

/**
 * Chooses the topic of each record for {@link SluiceSinkBuilder#setTopicSelector}. The result
 * must be a valid topic name (1-128 bytes of {@code [A-Za-z0-9._:-]}); an invalid one fails the
 * record with an {@link IllegalArgumentException}. Each distinct topic holds one WebSocket
 * connection per sink subtask.
 *
 * @param <T> the record type
 */
@FunctionalInterface
public interface TopicSelector<T> extends Serializable {
    /** The topic to publish {@code record} to. */
    String topic(T record);
}
