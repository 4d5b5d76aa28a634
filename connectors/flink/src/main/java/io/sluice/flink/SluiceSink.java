package io.sluice.flink;

import java.io.IOException;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;

/**
 * A Flink sink that publishes every record to a topic of a Sluice relay, over the relay's
 * {@code /pub/<topic>} WebSocket endpoint, with at-least-once delivery to the relay.
 *
 * <pre>{@code
 * SluiceSink<String> sink = SluiceSink.<String>builder()
 *     .setUrl("ws://127.0.0.1:8080")
 *     .setTopic("results")
 *     .setSerializationSchema(new SimpleStringSchema())
 *     .build();
 * stream.sinkTo(sink);
 * }</pre>
 *
 * <p>Each subtask keeps at most {@code maxInFlightBytes} of records the relay has not yet
 * acknowledged, and blocks (backpressure) when it has that much. The relay acknowledges with a
 * WebSocket ping/pong round trip: it answers a ping only after it has routed every message sent
 * before it on the same connection. Before every checkpoint (and at the end of the input) the
 * writer waits until everything written so far is acknowledged. When a connection is lost, the
 * writer reconnects with exponential backoff and jitter and sends again, in order, every record
 * not yet acknowledged; those records are the only ones a subscriber can receive twice. Records
 * of one subtask to one topic reach subscribers in the order they were written.
 *
 * @param <T> the record type
 */
public final class SluiceSink<T> implements Sink<T> {
    private static final long serialVersionUID = 1L;

    final RelayEndpoint endpoint;
    final String topic;
    final TopicSelector<T> selector;
    final SerializationSchema<T> schema;
    final String token;
    final MessageType messageType;
    final long maxInFlightBytes;
    final int maxTopics;
    final Reconnect reconnect;
    final long ackTimeoutMillis;

    SluiceSink(RelayEndpoint endpoint, String topic, TopicSelector<T> selector, SerializationSchema<T> schema,
            String token, MessageType messageType, long maxInFlightBytes, int maxTopics, Reconnect reconnect,
            long ackTimeoutMillis) {
        this.endpoint = endpoint;
        this.topic = topic;
        this.selector = selector;
        this.schema = schema;
        this.token = token;
        this.messageType = messageType;
        this.maxInFlightBytes = maxInFlightBytes;
        this.maxTopics = maxTopics;
        this.reconnect = reconnect;
        this.ackTimeoutMillis = ackTimeoutMillis;
    }

    /** A builder; see {@link SluiceSinkBuilder} for the settings and their defaults. */
    public static <T> SluiceSinkBuilder<T> builder() {
        return new SluiceSinkBuilder<>();
    }

    @Override
    public SinkWriter<T> createWriter(WriterInitContext context) throws IOException {
        return SluiceSinkWriter.open(this, context);
    }

    @Override
    public String toString() {
        return "SluiceSink{" + endpoint + (topic != null ? "/pub/" + topic : " (topic selector)") + "}";
    }
}
