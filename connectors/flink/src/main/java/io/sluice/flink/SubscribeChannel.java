package io.sluice.flink;

import java.net.URI;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One topic's subscription for a source reader: receives the topic's messages on
 * {@code /sub/<topic>} in envelope mode ({@code sluice.v1}), whole and in order, into the
 * reader's {@link ReceiveQueue}, and resumes when the connection is lost.
 *
 * <p>Contract: each message is read by {@link EnvelopeScanner} and handed to the topic's
 * {@link TopicCursor}, which says what to queue: a record (the payload's bytes with its
 * position) or a move of the position alone. Every connection after the first, and the first
 * of a restored split, subscribes with {@code ?since=<epoch>:<offset>}, the cursor's position:
 * the last offset received, so nothing received is asked for again and nothing after it is
 * skipped without the relay saying so. A relay that does not choose {@code sluice.v1}, a
 * message that is not a {@code sluice.v1} message, and HTTP 4xx answers are fatal (the queue's
 * failure, thrown by the task thread); everything else is retried per {@link Reconnect}. The
 * channel asks the JDK for one message at a time, and stops asking while the queue is full. One
 * thread per channel runs the connection.
 */
final class SubscribeChannel implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(SubscribeChannel.class);
    /** A bound on one reassembled message. */
    static final int MAX_MESSAGE_BYTES = 64 << 20;
    /** The subprotocol of the relay's envelope mode. */
    static final String SUBPROTOCOL = "sluice.v1";

    final String topic;
    final String what;
    private final RelayEndpoint endpoint;
    /** The position; guarded by itself, as is each Conn's {@code dead}. */
    private final TopicCursor cursor;
    private final RelayClient client;
    private final Reconnect reconnect;
    private final ReceiveQueue queue;
    private final SourceMetrics metrics;
    private final Thread thread;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition wake = lock.newCondition();
    // Guarded by lock.
    private Conn current;
    private boolean closed;

    /**
     * The subscription to {@code split}'s topic, resuming after its position if it has one, else
     * starting with the live messages.
     */
    SubscribeChannel(SluiceTopicSplit split, RelayEndpoint endpoint, RelayClient client, Reconnect reconnect,
            ReceiveQueue queue, SourceMetrics metrics, String threadName) {
        this.topic = split.topic();
        this.what = endpoint + "/sub/" + topic;
        this.endpoint = endpoint;
        this.cursor = new TopicCursor(topic, what, split.epoch(), split.offset());
        this.client = client;
        this.reconnect = reconnect;
        this.queue = queue;
        this.metrics = metrics;
        this.thread = new Thread(this, threadName);
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    /** Ask for the next message again after the queue had parked this channel. */
    void resume() {
        Conn c;
        lock.lock();
        try {
            c = current;
        } finally {
            lock.unlock();
        }
        if (c != null && c.ws != null) {
            c.ws.request(1);
        }
    }

    /** Stop receiving: a close frame, then the connection is dropped. */
    void close() throws InterruptedException {
        lock.lock();
        try {
            closed = true;
            wake.signalAll();
        } finally {
            lock.unlock();
        }
        thread.join(3000);
        thread.interrupt();
        thread.join(5000);
    }

    @Override
    public void run() {
        int failures = 0;
        long downSince = System.currentTimeMillis();
        boolean everConnected = false;
        try {
            while (true) {
                if (await(reconnect.delayMillis(failures), null)) {
                    break;
                }
                Conn c = new Conn();
                String since;
                synchronized (cursor) {
                    cursor.reconnecting();
                    since = cursor.since();
                }
                try {
                    c.ws = client.open(endpoint.subscribe(topic, since), what, c, SUBPROTOCOL);
                } catch (RelayClient.Failure f) {
                    failures++;
                    String giveUp = f.fatal ? null : reconnect.giveUp(failures, downSince, System.currentTimeMillis());
                    if (f.fatal) {
                        queue.fail(new SluiceException(f.getMessage(), f.getCause()));
                        return;
                    }
                    if (giveUp != null) {
                        queue.fail(new SluiceException("gave up connecting to " + what + " after " + giveUp
                                + "; last error: " + f.getMessage(), f.getCause()));
                        return;
                    }
                    LOG.warn("{}; retrying (attempt {})", f.getMessage(), failures + 1);
                    continue;
                }
                if (everConnected) {
                    metrics.reconnects.inc();
                }
                LOG.info("{}subscribed to {}{}", everConnected ? "re" : "", what,
                        since == null ? " (live)" : " from " + since);
                everConnected = true;
                lock.lock();
                try {
                    current = c;
                    metrics.connectedDelta(1);
                } finally {
                    lock.unlock();
                }
                boolean stop = await(0, c);
                synchronized (cursor) {
                    // Nothing that comes late on this connection is taken.
                    c.dead = true;
                }
                lock.lock();
                try {
                    current = null;
                    metrics.connectedDelta(-1);
                } finally {
                    lock.unlock();
                }
                if (c.fatal != null) {
                    c.ws.abort();
                    queue.fail(c.fatal);
                    return;
                }
                if (stop) {
                    try {
                        c.ws.sendClose(WebSocket.NORMAL_CLOSURE, "").get(1, TimeUnit.SECONDS);
                    } catch (ExecutionException | TimeoutException ignored) {
                        // The relay handles an abrupt end as well.
                    }
                    c.ws.abort();
                    break;
                }
                c.ws.abort();
                metrics.disconnects.inc();
                long lived = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - c.openedAt);
                if (!c.refusedCommand && (c.didWork || lived >= Reconnect.HEALTHY_MILLIS)) {
                    failures = 0;
                    downSince = System.currentTimeMillis();
                } else {
                    failures++;
                }
                String from;
                synchronized (cursor) {
                    from = cursor.position();
                }
                LOG.warn("{}: subscription lost ({}); resuming after {}", what, c.broken, from);
            }
        } catch (InterruptedException e) {
            // close(): stop.
        } catch (RuntimeException | Error e) {
            queue.fail(new SluiceException(what + ": unexpected failure: " + e, e));
        } finally {
            Conn c = current;
            if (c != null && c.ws != null) {
                c.ws.abort();
            }
        }
    }

    /**
     * Without a connection, wait {@code millis}; with one, until it breaks. Returns whether the
     * channel was closed meanwhile.
     */
    private boolean await(long millis, Conn c) throws InterruptedException {
        lock.lock();
        try {
            long left = TimeUnit.MILLISECONDS.toNanos(millis);
            while (!closed && (c == null ? left > 0 : c.broken == null)) {
                if (c == null) {
                    left = wake.awaitNanos(left);
                } else {
                    wake.await();
                }
            }
            return closed;
        } finally {
            lock.unlock();
        }
    }

    private void broken(Conn c, String why) {
        lock.lock();
        try {
            if (c.broken == null) {
                c.broken = why;
            }
            wake.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** One connection and its listener. */
    private final class Conn implements WebSocket.Listener {
        volatile WebSocket ws;
        final long openedAt = System.nanoTime();
        /** Guarded by lock. */
        String broken;
        volatile boolean didWork;
        /** Set under the cursor's lock once the channel has left this connection. */
        boolean dead;
        /** A fatal problem with what the relay sent; set before the connection is broken. */
        volatile SluiceException fatal;
        /** The relay refused a command (counts as a failed attempt for the backoff). */
        volatile boolean refusedCommand;
        private StringBuilder text;

        @Override
        public void onOpen(WebSocket webSocket) {
            ws = webSocket;
            if (!SUBPROTOCOL.equals(webSocket.getSubprotocol())) {
                fail(new SluiceException(what + ": the relay did not accept the " + SUBPROTOCOL
                        + " subprotocol: it is a relay without offsets and resume (upgrade it), or a proxy "
                        + "in between drops the Sec-WebSocket-Protocol header"));
                return;
            }
            webSocket.request(1);
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            if (!last || text != null) {
                if (text == null) {
                    text = new StringBuilder();
                }
                text.append(data);
                if (text.length() > MAX_MESSAGE_BYTES) {
                    tooBig(webSocket);
                    return null;
                }
                if (!last) {
                    webSocket.request(1);
                    return null;
                }
                data = text;
                text = null;
            }
            deliver(webSocket, data.toString().getBytes(StandardCharsets.UTF_8));
            return null;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
            fail(new SluiceException(what + ": the relay sent a binary message, which " + SUBPROTOCOL
                    + " never does"));
            return null;
        }

        private void deliver(WebSocket webSocket, byte[] text) {
            didWork = true;
            Envelope e;
            try {
                e = EnvelopeScanner.scan(text);
            } catch (EnvelopeScanner.Malformed m) {
                fail(malformed(m, text));
                return;
            }
            metrics.received(text.length, e.kind == Envelope.Kind.PUBLICATION);
            TopicCursor.Step step;
            boolean room = true;
            synchronized (cursor) {
                if (dead) {
                    return;
                }
                try {
                    step = cursor.on(e);
                } catch (EnvelopeScanner.Malformed m) {
                    fail(malformed(m, text));
                    return;
                }
                metrics.count(step);
                switch (step.kind) {
                    case EMIT:
                        if (e.conflated > 0) {
                            metrics.recordsConflated.inc(e.conflated);
                        }
                        room = queue.put(new ReceiveQueue.Message(SubscribeChannel.this, e.payload, step.epoch,
                                step.offset));
                        break;
                    case MOVE:
                        room = queue.put(new ReceiveQueue.Message(SubscribeChannel.this, null, step.epoch,
                                step.offset));
                        break;
                    case REFILL:
                        // One send at a time: the second after the first.
                        webSocket.sendText(step.commands[0], true)
                                .thenCompose(w -> w.sendText(step.commands[1], true))
                                .whenComplete((w, x) -> {
                                    if (x != null) {
                                        broken(this, "sending a command failed: " + RelayClient.describe(x));
                                    }
                                });
                        break;
                    case RECONNECT:
                        refusedCommand = true;
                        broken(this, "the relay refused a command");
                        return;
                    default:
                        break;
                }
            }
            if (room) {
                webSocket.request(1);
            }
        }

        private SluiceException malformed(EnvelopeScanner.Malformed m, byte[] text) {
            String start = new String(text, 0, Math.min(text.length, 200), StandardCharsets.UTF_8);
            return new SluiceException(what + ": the relay sent a message that is not a " + SUBPROTOCOL
                    + " message: " + m.getMessage() + "; it starts with: " + start, m);
        }

        /** A problem that retrying cannot fix: the task fails with it. */
        private void fail(SluiceException e) {
            fatal = e;
            broken(this, e.getMessage());
        }

        private void tooBig(WebSocket webSocket) {
            fail(new SluiceException(what + ": a message is larger than " + MAX_MESSAGE_BYTES + " bytes"));
        }

        @Override
        public CompletionStage<?> onPing(WebSocket webSocket, ByteBuffer message) {
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onPong(WebSocket webSocket, ByteBuffer message) {
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int code, String reason) {
            broken(this, "the relay closed the connection (" + code + (reason.isEmpty() ? "" : " " + reason) + ")");
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            broken(this, RelayClient.describe(error));
        }
    }
}
