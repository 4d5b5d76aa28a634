package io.sluice.flink;

import java.time.Duration;
import java.util.Objects;
import org.apache.flink.api.common.serialization.SerializationSchema;

/**
 * Builds a {@link SluiceSink}. {@link #build} checks every setting and throws
 * {@link IllegalArgumentException} naming the wrong one, so a bad URL or topic fails when the
 * job is defined, before it runs.
 *
 * <p>Required: {@link #setUrl}, one of {@link #setTopic} or {@link #setTopicSelector}, and
 * {@link #setSerializationSchema}. Defaults: text messages, 4 MiB in flight per subtask,
 * reconnect backoff from 100 ms doubling to 10 s (with jitter), retrying forever, 10 s connect
 * timeout, 30 s acknowledgement timeout, at most 100 topics per subtask with a selector.
 *
 * @param <T> the record type
 */
public final class SluiceSinkBuilder<T> {
    private String url;
    private String topic;
    private TopicSelector<T> selector;
    private SerializationSchema<T> schema;
    private String token;
    private MessageType messageType = MessageType.TEXT;
    private long maxInFlightBytes = 4L << 20;
    private int maxTopics = 100;
    private Duration initialBackoff = Reconnect.DEFAULT_INITIAL;
    private Duration maxBackoff = Reconnect.DEFAULT_MAX;
    private int maxReconnectAttempts;
    private Duration reconnectTimeout;
    private Duration connectTimeout = Reconnect.DEFAULT_CONNECT_TIMEOUT;
    private Duration ackTimeout = Duration.ofSeconds(30);

    SluiceSinkBuilder() {}

    /**
     * The relay's address: {@code ws://host:port} or {@code wss://host:port} (TLS, with the
     * JDK's trust store). A path is kept as a prefix, for a relay behind a reverse proxy.
     */
    public SluiceSinkBuilder<T> setUrl(String url) {
        this.url = url;
        return this;
    }

    /** Publish every record to this topic (1-128 bytes of {@code [A-Za-z0-9._:-]}). */
    public SluiceSinkBuilder<T> setTopic(String topic) {
        this.topic = topic;
        return this;
    }

    /** Choose each record's topic; each distinct topic holds one connection per subtask. */
    public SluiceSinkBuilder<T> setTopicSelector(TopicSelector<T> selector) {
        this.selector = selector;
        return this;
    }

    /** How a record becomes the bytes of one WebSocket message. */
    public SluiceSinkBuilder<T> setSerializationSchema(SerializationSchema<T> schema) {
        this.schema = schema;
        return this;
    }

    /** A bearer token, sent as {@code Authorization: Bearer <token>} on every connection. */
    public SluiceSinkBuilder<T> setToken(String token) {
        this.token = token;
        return this;
    }

    /** Text (the default: the bytes must be UTF-8) or binary WebSocket messages. */
    public SluiceSinkBuilder<T> setMessageType(MessageType messageType) {
        this.messageType = Objects.requireNonNull(messageType, "messageType");
        return this;
    }

    /**
     * The most bytes one subtask may have sent or queued without the relay's acknowledgement
     * (default 4 MiB). At the bound the task blocks. This also bounds what a reconnect can send
     * twice.
     */
    public SluiceSinkBuilder<T> setMaxInFlightBytes(long bytes) {
        this.maxInFlightBytes = bytes;
        return this;
    }

    /** The most distinct topics one subtask may publish to with a topic selector (default 100). */
    public SluiceSinkBuilder<T> setMaxTopics(int maxTopics) {
        this.maxTopics = maxTopics;
        return this;
    }

    /** Reconnect backoff: the first delay, doubling up to {@code max} (defaults 100 ms and 10 s). */
    public SluiceSinkBuilder<T> setReconnectBackoff(Duration initial, Duration max) {
        this.initialBackoff = Objects.requireNonNull(initial, "initial");
        this.maxBackoff = Objects.requireNonNull(max, "max");
        return this;
    }

    /** Fail after this many consecutive failed connection attempts (default 0: never). */
    public SluiceSinkBuilder<T> setMaxReconnectAttempts(int attempts) {
        this.maxReconnectAttempts = attempts;
        return this;
    }

    /** Fail once the relay has been unreachable this long (default: never). */
    public SluiceSinkBuilder<T> setReconnectTimeout(Duration timeout) {
        this.reconnectTimeout = timeout;
        return this;
    }

    /** The bound on one connection attempt: TCP, TLS and handshake (default 10 s). */
    public SluiceSinkBuilder<T> setConnectTimeout(Duration timeout) {
        this.connectTimeout = Objects.requireNonNull(timeout, "timeout");
        return this;
    }

    /**
     * How long a send or an acknowledgement may take before the connection is considered dead
     * and replaced (default 30 s).
     */
    public SluiceSinkBuilder<T> setAckTimeout(Duration timeout) {
        this.ackTimeout = Objects.requireNonNull(timeout, "timeout");
        return this;
    }

    /** Check the settings and build the sink. */
    public SluiceSink<T> build() {
        RelayEndpoint endpoint = RelayEndpoint.parse(url);
        if (topic != null && selector != null) {
            throw new IllegalArgumentException("set either a topic (setTopic) or a topic selector (setTopicSelector), not both");
        }
        if (topic == null && selector == null) {
            throw new IllegalArgumentException("no topic: call setTopic(\"name\") or setTopicSelector(record -> ...)");
        }
        if (topic != null) {
            RelayEndpoint.checkTopic(topic);
        }
        if (schema == null) {
            throw new IllegalArgumentException("no serialization schema: call setSerializationSchema(...)");
        }
        checkToken(token);
        if (maxInFlightBytes <= 0) {
            throw new IllegalArgumentException("maxInFlightBytes must be positive, got " + maxInFlightBytes);
        }
        if (maxTopics <= 0) {
            throw new IllegalArgumentException("maxTopics must be positive, got " + maxTopics);
        }
        if (ackTimeout.isNegative() || ackTimeout.isZero()) {
            throw new IllegalArgumentException("the ack timeout must be positive, got " + ackTimeout);
        }
        Reconnect reconnect = new Reconnect(initialBackoff, maxBackoff, maxReconnectAttempts, reconnectTimeout, connectTimeout);
        return new SluiceSink<>(endpoint, topic, selector, schema, token, messageType, maxInFlightBytes, maxTopics,
                reconnect, ackTimeout.toMillis());
    }

    /** A token must be something an HTTP header can carry. */
    static void checkToken(String token) {
        if (token == null) {
            return;
        }
        if (token.isEmpty()) {
            throw new IllegalArgumentException("the token is empty: leave it unset for a relay without authentication");
        }
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            if (c <= ' ' || c >= 127) {
                throw new IllegalArgumentException("the token has a character a header cannot carry (at index " + i + ")");
            }
        }
    }
}
