package io.sluice.flink;

import java.net.URI;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One topic's connection for one sink writer: sends the topic's records in order on
 * {@code /pub/<topic>}, learns which ones the relay has taken, and reconnects.
 *
 * <p>Contract. The relay handles the frames of a connection in order and answers a ping only
 * after it has routed every message sent before it, so a pong acknowledges every record sent
 * before its ping. Each ping carries the sequence number of the last record sent before it (8
 * bytes, big-endian), and its pong releases every record up to that number. A record stays here
 * from {@link #offer} until such an acknowledgement. When the connection is lost, every record
 * not acknowledged is sent again, in order, on the next connection: those records are the only
 * ones a subscriber can receive twice, and they never exceed the writer's in-flight bound (plus
 * one oversized record). At most one ping waits for its pong at a time. A ping goes out when
 * this channel has nothing left to send, or after a quarter of the in-flight bound has been sent
 * since the last one, so a writer blocked on the bound always gets acknowledgements. A pong that
 * does not come within the ack timeout, or a send that does not complete in it, ends the
 * connection (it counts as lost). A close code that says a record can never be taken (1009 too
 * big, 1007 invalid text, 1002 and 1003) is fatal, as are HTTP 4xx answers to the handshake;
 * everything else is retried per {@link Reconnect}. One thread per channel runs the connection;
 * its state is guarded by the writer's {@link InFlight} lock.
 */
final class PublishChannel implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(PublishChannel.class);

    /** A serialized record, text or bytes, with its place in the topic's order. */
    static final class Record {
        final String text;
        final byte[] bytes;
        final int size;
        long seq;

        Record(String text, byte[] bytes, int size) {
            this.text = text;
            this.bytes = bytes;
            this.size = size;
        }
    }

    private final InFlight shared;
    private final Condition wake;
    private final RelayClient client;
    private final URI uri;
    /** The channel's URL without any query (which may carry a token), for messages. */
    final String what;
    private final Reconnect reconnect;
    private final long ackTimeoutMillis;
    private final long pingEveryBytes;
    private final SinkMetrics metrics;
    /** Completed after the first connection attempt, whatever its outcome. */
    final CompletableFuture<Void> firstAttempt = new CompletableFuture<>();
    private final Thread thread;

    // Guarded by shared.lock.
    private final ArrayDeque<Record> sent = new ArrayDeque<>();
    private final ArrayDeque<Record> queued = new ArrayDeque<>();
    private long nextSeq = 1;
    private long lastSentSeq;
    private long pingedSeq;
    private boolean awaitingPong;
    private long pingSentAt;
    private long bytesSincePing;
    private Conn current;
    private boolean closed;
    private boolean graceful;

    PublishChannel(InFlight shared, RelayClient client, RelayEndpoint endpoint, String topic,
            Reconnect reconnect, long ackTimeoutMillis, long maxInFlightBytes, SinkMetrics metrics,
            String threadName) {
        this.shared = shared;
        this.wake = shared.lock.newCondition();
        this.client = client;
        this.uri = endpoint.publish(topic);
        this.what = endpoint + "/pub/" + topic;
        this.reconnect = reconnect;
        this.ackTimeoutMillis = ackTimeoutMillis;
        this.pingEveryBytes = Math.max(1, maxInFlightBytes / 4);
        this.metrics = metrics;
        this.thread = new Thread(this, threadName);
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    /** Queue a record (lock held; the caller has taken its bytes from the budget). */
    void offer(Record r) {
        r.seq = nextSeq++;
        queued.addLast(r);
        wake.signal();
    }

    /** The sequence number of the last record offered (lock held). */
    long lastSeq() {
        return nextSeq - 1;
    }

    /** Whether every record up to {@code seq} is acknowledged (lock held). */
    boolean ackedThrough(long seq) {
        Record head = !sent.isEmpty() ? sent.peekFirst() : queued.peekFirst();
        return head == null || head.seq > seq;
    }

    /** Stop: with a close frame if {@code graceful}, else by dropping the connection. */
    void close(boolean graceful) throws InterruptedException {
        shared.lock.lock();
        try {
            closed = true;
            this.graceful = graceful;
            wake.signalAll();
        } finally {
            shared.lock.unlock();
        }
        thread.join(graceful ? 3000 : 1);
        thread.interrupt();
        thread.join(5000);
    }

    @Override
    public void run() {
        int failures = 0;
        long downSince = System.currentTimeMillis();
        boolean everConnected = false;
        try {
            while (!isClosed()) {
                if (pause(reconnect.delayMillis(failures))) {
                    break;
                }
                Conn c = new Conn();
                try {
                    c.ws = client.open(uri, what, c);
                } catch (RelayClient.Failure f) {
                    failures++;
                    if (f.fatal) {
                        shared.fail(new SluiceException(f.getMessage(), f.getCause()));
                        return;
                    }
                    String giveUp = reconnect.giveUp(failures, downSince, System.currentTimeMillis());
                    if (giveUp != null) {
                        shared.fail(new SluiceException("gave up connecting to " + what + " after " + giveUp
                                + "; last error: " + f.getMessage(), f.getCause()));
                        return;
                    }
                    firstAttempt.complete(null);
                    LOG.warn("{}; retrying (attempt {})", f.getMessage(), failures + 1);
                    continue;
                }
                if (everConnected) {
                    metrics.reconnects.inc();
                }
                LOG.info("{}connected to {}", everConnected ? "re" : "", what);
                everConnected = true;
                firstAttempt.complete(null);
                pump(c);
                if (isClosed()) {
                    break;
                }
                if (c.fatal) {
                    shared.fail(new SluiceException(what + ": " + c.broken + ": this record cannot be sent"));
                    return;
                }
                long lived = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - c.openedAt);
                if (c.didWork || lived >= Reconnect.HEALTHY_MILLIS) {
                    failures = 0;
                    downSince = System.currentTimeMillis();
                } else {
                    failures++;
                }
                LOG.warn("{}: connection lost ({}); {} unacknowledged records will be sent again",
                        what, c.broken, unacknowledged());
            }
        } catch (InterruptedException e) {
            // close(): stop.
        } catch (RuntimeException | Error e) {
            shared.fail(new SluiceException(what + ": unexpected failure: " + e, e));
        } finally {
            firstAttempt.complete(null);
        }
    }

    /** Wait before a connection attempt; returns whether the channel was closed meanwhile. */
    private boolean pause(long millis) throws InterruptedException {
        shared.lock.lock();
        try {
            long left = TimeUnit.MILLISECONDS.toNanos(millis);
            while (!closed && left > 0) {
                left = wake.awaitNanos(left);
            }
            return closed;
        } finally {
            shared.lock.unlock();
        }
    }

    private boolean isClosed() {
        shared.lock.lock();
        try {
            return closed;
        } finally {
            shared.lock.unlock();
        }
    }

    private int unacknowledged() {
        shared.lock.lock();
        try {
            return sent.size() + queued.size();
        } finally {
            shared.lock.unlock();
        }
    }

    /** Run one connection until it is lost or the channel is closed. */
    private void pump(Conn c) throws InterruptedException {
        shared.lock.lock();
        try {
            if (c.broken != null) {
                c.ws.abort();
                return;
            }
            current = c;
            shared.connectedDelta(1);
            int resend = sent.size();
            while (!sent.isEmpty()) {
                queued.addFirst(sent.pollLast());
            }
            if (resend > 0) {
                metrics.resent.inc(resend);
                LOG.info("{}: sending again {} records the relay had not acknowledged", what, resend);
            }
            awaitingPong = false;
            bytesSincePing = 0;
            lastSentSeq = 0;
            pingedSeq = 0;
        } finally {
            shared.lock.unlock();
        }
        try {
            while (true) {
                Record r = null;
                long ping = -1;
                shared.lock.lock();
                try {
                    while (true) {
                        if (closed || c.broken != null) {
                            return;
                        }
                        long now = System.nanoTime();
                        long waited = now - pingSentAt;
                        if (awaitingPong && waited > TimeUnit.MILLISECONDS.toNanos(ackTimeoutMillis)) {
                            c.broken = "no acknowledgement (pong) within " + ackTimeoutMillis + " ms";
                            return;
                        }
                        if (!awaitingPong && lastSentSeq > pingedSeq
                                && (queued.isEmpty() || bytesSincePing >= pingEveryBytes)) {
                            ping = lastSentSeq;
                            pingedSeq = lastSentSeq;
                            awaitingPong = true;
                            pingSentAt = now;
                            bytesSincePing = 0;
                            break;
                        }
                        if (!queued.isEmpty()) {
                            r = queued.pollFirst();
                            sent.addLast(r);
                            lastSentSeq = r.seq;
                            bytesSincePing += r.size;
                            break;
                        }
                        long wait = awaitingPong
                                ? TimeUnit.MILLISECONDS.toNanos(ackTimeoutMillis) - waited
                                : TimeUnit.SECONDS.toNanos(1);
                        wake.awaitNanos(Math.max(wait, 1_000_000));
                    }
                } finally {
                    shared.lock.unlock();
                }
                CompletableFuture<WebSocket> f;
                if (r == null) {
                    f = c.ws.sendPing(ByteBuffer.allocate(8).putLong(0, ping));
                } else if (r.text != null) {
                    f = c.ws.sendText(r.text, true);
                } else {
                    f = c.ws.sendBinary(ByteBuffer.wrap(r.bytes), true);
                }
                try {
                    f.get(ackTimeoutMillis, TimeUnit.MILLISECONDS);
                } catch (ExecutionException | TimeoutException e) {
                    broken(c, e instanceof TimeoutException
                            ? "a send did not complete within " + ackTimeoutMillis + " ms"
                            : "sending failed: " + RelayClient.describe(e), false);
                    return;
                }
            }
        } finally {
            shared.lock.lock();
            boolean bye;
            try {
                if (current == c) {
                    current = null;
                    shared.connectedDelta(-1);
                }
                bye = closed && graceful && c.broken == null;
            } finally {
                shared.lock.unlock();
            }
            if (bye) {
                try {
                    c.ws.sendClose(WebSocket.NORMAL_CLOSURE, "").get(1, TimeUnit.SECONDS);
                } catch (ExecutionException | TimeoutException | InterruptedException ignored) {
                    // The relay handles an abrupt end as well.
                }
            }
            c.ws.abort();
        }
    }

    private void acked(Conn c, long seq) {
        shared.lock.lock();
        try {
            if (c != current) {
                return;
            }
            awaitingPong = false;
            c.didWork = true;
            long bytes = 0;
            long n = 0;
            while (!sent.isEmpty() && sent.peekFirst().seq <= seq) {
                bytes += sent.pollFirst().size;
                n++;
            }
            if (n > 0) {
                shared.release(bytes, n);
                metrics.acked.inc(n);
            }
            wake.signal();
        } finally {
            shared.lock.unlock();
        }
    }

    private void broken(Conn c, String why, boolean fatal) {
        shared.lock.lock();
        try {
            if (c.broken == null) {
                c.broken = why;
                c.fatal = fatal;
            }
            wake.signal();
        } finally {
            shared.lock.unlock();
        }
    }

    /** Close codes after which sending the same records again cannot succeed. */
    private static boolean fatalClose(int code) {
        return code == 1002 || code == 1003 || code == 1007 || code == 1009;
    }

    /** One WebSocket connection and what its listener saw (fields guarded by shared.lock). */
    private final class Conn implements WebSocket.Listener {
        volatile WebSocket ws;
        final long openedAt = System.nanoTime();
        String broken;
        boolean fatal;
        boolean didWork;

        @Override
        public void onOpen(WebSocket webSocket) {
            webSocket.request(Long.MAX_VALUE);
        }

        @Override
        public CompletionStage<?> onPong(WebSocket webSocket, ByteBuffer message) {
            if (message.remaining() == 8) {
                acked(this, message.getLong(message.position()));
            }
            return null;
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            return null;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int code, String reason) {
            String why = "the relay closed the connection (" + code + (reason.isEmpty() ? "" : " " + reason) + ")";
            broken(this, why, fatalClose(code));
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            broken(this, RelayClient.describe(error), false);
        }
    }
}
