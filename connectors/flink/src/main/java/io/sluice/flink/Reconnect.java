package io.sluice.flink;

import java.io.Serializable;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * When to try the relay again after a failed or lost connection, and when to give up.
 *
 * <p>Contract: the first connection is tried at once. After a failure, attempt {@code n}
 * (counting consecutive failures) waits {@code min(max, initial * 2^(n-1))}, reduced by a random
 * jitter of up to half, so that many subtasks that lost the relay together do not come back in
 * step. A connection that stayed open for {@link #HEALTHY_MILLIS}, or did useful work (an
 * acknowledged record, a received message), resets the count; one that the relay closes at once
 * counts as a failure, so a relay that keeps refusing is not hammered. Giving up is opt-in: after
 * {@code maxAttempts} consecutive failures, or once the relay has been unreachable for
 * {@code timeout}; both off by default (retry forever).
 */
final class Reconnect implements Serializable {
    private static final long serialVersionUID = 1L;

    static final Duration DEFAULT_INITIAL = Duration.ofMillis(100);
    static final Duration DEFAULT_MAX = Duration.ofSeconds(10);
    static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);
    /** A connection open this long counts as a success even if it carried nothing. */
    static final long HEALTHY_MILLIS = 1000;

    final long initialMillis;
    final long maxMillis;
    /** Consecutive failed attempts before giving up; 0: never. */
    final int maxAttempts;
    /** How long the relay may stay unreachable before giving up, in ms; 0: forever. */
    final long timeoutMillis;
    /** The bound on one connection attempt (TCP, TLS and the WebSocket handshake). */
    final long connectTimeoutMillis;

    Reconnect(Duration initial, Duration max, int maxAttempts, Duration timeout, Duration connectTimeout) {
        if (initial.isNegative() || initial.isZero()) {
            throw new IllegalArgumentException("the initial reconnect backoff must be positive, got " + initial);
        }
        if (max.compareTo(initial) < 0) {
            throw new IllegalArgumentException("the maximum reconnect backoff (" + max
                    + ") must not be below the initial one (" + initial + ")");
        }
        if (maxAttempts < 0) {
            throw new IllegalArgumentException("maxReconnectAttempts must be 0 (no limit) or more, got " + maxAttempts);
        }
        if (timeout != null && timeout.isNegative()) {
            throw new IllegalArgumentException("the reconnect timeout must not be negative, got " + timeout);
        }
        if (connectTimeout.isNegative() || connectTimeout.isZero()) {
            throw new IllegalArgumentException("the connect timeout must be positive, got " + connectTimeout);
        }
        this.initialMillis = initial.toMillis();
        this.maxMillis = max.toMillis();
        this.maxAttempts = maxAttempts;
        this.timeoutMillis = timeout == null ? 0 : timeout.toMillis();
        this.connectTimeoutMillis = connectTimeout.toMillis();
    }

    /** The delay before attempt {@code attempt}: 0 for the first, then growing per failure. */
    long delayMillis(int attempt) {
        if (attempt <= 0) {
            return 0;
        }
        double base = Math.min((double) maxMillis, initialMillis * Math.pow(2, Math.min(attempt - 1, 40)));
        double jitter = 0.5 * ThreadLocalRandom.current().nextDouble();
        return (long) (base * (1.0 - jitter));
    }

    /**
     * Why to give up after {@code failures} consecutive failures, the relay unreachable since
     * {@code sinceMillis}; {@code null} to keep trying.
     */
    String giveUp(int failures, long sinceMillis, long nowMillis) {
        if (maxAttempts > 0 && failures >= maxAttempts) {
            return failures + " failed attempt" + (failures == 1 ? "" : "s") + " (maxReconnectAttempts = " + maxAttempts + ")";
        }
        if (timeoutMillis > 0 && nowMillis - sinceMillis >= timeoutMillis) {
            return "unreachable for " + (nowMillis - sinceMillis) + " ms (reconnectTimeout = "
                    + Duration.ofMillis(timeoutMillis) + ", " + failures + " failed attempts)";
        }
        return null;
    }
}
