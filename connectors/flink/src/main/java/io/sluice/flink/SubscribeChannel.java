package io.sluice.flink;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
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
 * {@code /sub/<topic>}, whole and in order, into the reader's {@link ReceiveQueue}, and
 * reconnects when the connection is lost.
 *
 * <p>Contract: a text message is handed on as its UTF-8 bytes, a binary one as its bytes; a
 * message in several frames is joined first (up to {@link #MAX_MESSAGE_BYTES}). The channel
 * asks the JDK for one message at a time, and stops asking while the queue is full. The relay
 * keeps no history today, so what is published while the channel is disconnected is not
 * received: each loss of the connection is logged and counted. HTTP 4xx answers are fatal (the
 * queue's failure, thrown by the task thread); everything else is retried per
 * {@link Reconnect}. One thread per channel runs the connection.
 */
final class SubscribeChannel implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(SubscribeChannel.class);
    /** A bound on one reassembled message. */
    static final int MAX_MESSAGE_BYTES = 64 << 20;

    final String topic;
    final String what;
    private final URI uri;
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

    SubscribeChannel(String topic, RelayEndpoint endpoint, RelayClient client, Reconnect reconnect,
            ReceiveQueue queue, SourceMetrics metrics, String threadName) {
        this.topic = topic;
        this.what = endpoint + "/sub/" + topic;
        this.uri = endpoint.subscribe(Collections.singletonList(topic));
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
                try {
                    c.ws = client.open(uri, what, c);
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
                LOG.info("{}subscribed to {}", everConnected ? "re" : "", what);
                everConnected = true;
                lock.lock();
                try {
                    current = c;
                    metrics.connectedDelta(1);
                } finally {
                    lock.unlock();
                }
                boolean stop = await(0, c);
                lock.lock();
                try {
                    current = null;
                    metrics.connectedDelta(-1);
                } finally {
                    lock.unlock();
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
                if (c.didWork || lived >= Reconnect.HEALTHY_MILLIS) {
                    failures = 0;
                    downSince = System.currentTimeMillis();
                } else {
                    failures++;
                }
                LOG.warn("{}: subscription lost ({}); messages published until it is back are not received",
                        what, c.broken);
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
        private StringBuilder text;
        private ByteArrayOutputStream binary;

        @Override
        public void onOpen(WebSocket webSocket) {
            ws = webSocket;
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
            byte[] chunk = new byte[data.remaining()];
            data.get(chunk);
            if (!last || binary != null) {
                if (binary == null) {
                    binary = new ByteArrayOutputStream();
                }
                binary.write(chunk, 0, chunk.length);
                if (binary.size() > MAX_MESSAGE_BYTES) {
                    tooBig(webSocket);
                    return null;
                }
                if (!last) {
                    webSocket.request(1);
                    return null;
                }
                chunk = binary.toByteArray();
                binary = null;
            }
            deliver(webSocket, chunk);
            return null;
        }

        private void deliver(WebSocket webSocket, byte[] data) {
            didWork = true;
            metrics.received(data.length);
            if (queue.put(new ReceiveQueue.Message(SubscribeChannel.this, data))) {
                webSocket.request(1);
            }
        }

        private void tooBig(WebSocket webSocket) {
            queue.fail(new SluiceException(what + ": a message is larger than " + MAX_MESSAGE_BYTES + " bytes"));
            webSocket.abort();
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
