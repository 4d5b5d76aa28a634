package io.sluice.flink;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import org.apache.flink.api.common.serialization.DeserializationSchema;

/**
 * Builds a {@link SluiceSource}. {@link #build} checks every setting and throws
 * {@link IllegalArgumentException} naming the wrong one.
 *
 * <p>Required: {@link #setUrl}, {@link #setTopics} and {@link #setDeserializationSchema}.
 * Defaults: reconnect backoff from 100 ms doubling to 10 s (with jitter), retrying forever,
 * 10 s connect timeout, 8 MiB of received messages queued per subtask.
 *
 * @param <T> the record type
 */
public final class SluiceSourceBuilder<T> {
    private String url;
    private List<String> topics = new ArrayList<>();
    private DeserializationSchema<T> schema;
    private String token;
    private long maxQueuedBytes = 8L << 20;
    private Duration initialBackoff = Reconnect.DEFAULT_INITIAL;
    private Duration maxBackoff = Reconnect.DEFAULT_MAX;
    private int maxReconnectAttempts;
    private Duration reconnectTimeout;
    private Duration connectTimeout = Reconnect.DEFAULT_CONNECT_TIMEOUT;

    SluiceSourceBuilder() {}

    /** The relay's address: {@code ws://host:port} or {@code wss://host:port}. */
    public SluiceSourceBuilder<T> setUrl(String url) {
        this.url = url;
        return this;
    }

    /** The topics to read; each is one split (one subscription). Repeated names count once. */
    public SluiceSourceBuilder<T> setTopics(String... topics) {
        this.topics = new ArrayList<>(Arrays.asList(topics));
        return this;
    }

    /** The topics to read, as a list. */
    public SluiceSourceBuilder<T> setTopics(List<String> topics) {
        this.topics = new ArrayList<>(topics);
        return this;
    }

    /**
     * How a message's payload becomes records: a JSON text as its exact bytes, other text as
     * its UTF-8 bytes, a binary payload as is.
     */
    public SluiceSourceBuilder<T> setDeserializationSchema(DeserializationSchema<T> schema) {
        this.schema = schema;
        return this;
    }

    /** A bearer token, sent as {@code Authorization: Bearer <token>}. */
    public SluiceSourceBuilder<T> setToken(String token) {
        this.token = token;
        return this;
    }

    /**
     * The most bytes of received messages a subtask holds before it stops reading from the
     * relay (default 8 MiB). A job that stays behind then meets the topic's slow-consumer policy
     * on the relay: with {@code close} (the default) the source is closed, reconnects, and
     * resumes after the last offset it received.
     */
    public SluiceSourceBuilder<T> setMaxQueuedBytes(long bytes) {
        this.maxQueuedBytes = bytes;
        return this;
    }

    /** Reconnect backoff: the first delay, doubling up to {@code max} (defaults 100 ms and 10 s). */
    public SluiceSourceBuilder<T> setReconnectBackoff(Duration initial, Duration max) {
        this.initialBackoff = Objects.requireNonNull(initial, "initial");
        this.maxBackoff = Objects.requireNonNull(max, "max");
        return this;
    }

    /** Fail after this many consecutive failed connection attempts (default 0: never). */
    public SluiceSourceBuilder<T> setMaxReconnectAttempts(int attempts) {
        this.maxReconnectAttempts = attempts;
        return this;
    }

    /** Fail once the relay has been unreachable this long (default: never). */
    public SluiceSourceBuilder<T> setReconnectTimeout(Duration timeout) {
        this.reconnectTimeout = timeout;
        return this;
    }

    /** The bound on one connection attempt: TCP, TLS and handshake (default 10 s). */
    public SluiceSourceBuilder<T> setConnectTimeout(Duration timeout) {
        this.connectTimeout = Objects.requireNonNull(timeout, "timeout");
        return this;
    }

    /** Check the settings and build the source. */
    public SluiceSource<T> build() {
        RelayEndpoint endpoint = RelayEndpoint.parse(url);
        if (topics == null || topics.isEmpty()) {
            throw new IllegalArgumentException("no topics: call setTopics(\"events\", ...)");
        }
        List<String> unique = new ArrayList<>(new LinkedHashSet<>(topics));
        for (String t : unique) {
            RelayEndpoint.checkTopic(t);
        }
        if (schema == null) {
            throw new IllegalArgumentException("no deserialization schema: call setDeserializationSchema(...)");
        }
        SluiceSinkBuilder.checkToken(token);
        if (maxQueuedBytes <= 0) {
            throw new IllegalArgumentException("maxQueuedBytes must be positive, got " + maxQueuedBytes);
        }
        Reconnect reconnect = new Reconnect(initialBackoff, maxBackoff, maxReconnectAttempts, reconnectTimeout, connectTimeout);
        return new SluiceSource<>(endpoint, unique, schema, token, reconnect, maxQueuedBytes);
    }
}
