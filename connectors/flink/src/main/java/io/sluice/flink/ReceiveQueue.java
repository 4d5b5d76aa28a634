package io.sluice.flink;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The bounded hand-off between a source reader's WebSocket listeners and its task thread.
 *
 * <p>Contract: listeners {@link #put} whole messages, in the order of their topic's stream; when the queued bytes reach the bound, the
 * putting channel is parked and stops asking the JDK for more messages (so TCP pushes back on
 * the relay, which applies its slow-consumer policy if the job stays behind), and it is resumed
 * once the task has taken the queue below half the bound. A message is always accepted, so
 * the queue exceeds its bound by at most one message per channel. {@link #available} is the
 * future Flink waits on: complete whenever a message, a failure or {@link #wakeUp} is there.
 */
final class ReceiveQueue {
    /**
     * A received record, or a move of the position without a record (a {@code subscribed}
     * answer, a gap, a refused resume), with the channel it came from and the stream position
     * the topic is at once it has been taken.
     */
    static final class Message {
        /** What a position-only message counts for against the bound. */
        static final int MARKER_BYTES = 64;
        final SubscribeChannel channel;
        /** The payload; null for a move of the position alone. */
        final byte[] data;
        final String epoch;
        final long offset;

        Message(SubscribeChannel channel, byte[] data, String epoch, long offset) {
            this.channel = channel;
            this.data = data;
            this.epoch = epoch;
            this.offset = offset;
        }

        long size() {
            return data == null ? MARKER_BYTES : data.length;
        }
    }

    private static final CompletableFuture<Void> DONE = CompletableFuture.completedFuture(null);

    private final ReentrantLock lock = new ReentrantLock();
    private final long maxBytes;
    private final ArrayDeque<Message> queue = new ArrayDeque<>();
    private final List<SubscribeChannel> parked = new ArrayList<>();
    private long bytes;
    private CompletableFuture<Void> available = new CompletableFuture<>();
    private SluiceException failure;
    private boolean woken;

    ReceiveQueue(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    /** Add a message; returns false if the channel must wait for {@code resume()}. */
    boolean put(Message m) {
        CompletableFuture<Void> f;
        boolean room;
        lock.lock();
        try {
            queue.addLast(m);
            bytes += m.size();
            room = bytes < maxBytes;
            if (!room) {
                parked.add(m.channel);
            }
            f = available;
        } finally {
            lock.unlock();
        }
        f.complete(null);
        return room;
    }

    /** Take the next message, or null. Resumes parked channels when there is room again. */
    Message poll() {
        Message m;
        List<SubscribeChannel> resume = null;
        lock.lock();
        try {
            m = queue.pollFirst();
            if (m != null) {
                bytes -= m.size();
            }
            if (!parked.isEmpty() && bytes < maxBytes / 2) {
                resume = new ArrayList<>(parked);
                parked.clear();
            }
            woken = false;
        } finally {
            lock.unlock();
        }
        if (resume != null) {
            for (SubscribeChannel ch : resume) {
                ch.resume();
            }
        }
        return m;
    }

    boolean isEmpty() {
        lock.lock();
        try {
            return queue.isEmpty();
        } finally {
            lock.unlock();
        }
    }

    long bytes() {
        lock.lock();
        try {
            return bytes;
        } finally {
            lock.unlock();
        }
    }

    long size() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }

    /** A future that completes when there is something for the task thread to do. */
    CompletableFuture<Void> available() {
        lock.lock();
        try {
            if (!queue.isEmpty() || failure != null || woken) {
                return DONE;
            }
            if (available.isDone()) {
                available = new CompletableFuture<>();
            }
            return available;
        } finally {
            lock.unlock();
        }
    }

    /** Make the task thread poll (a split ended, no more splits). */
    void wakeUp() {
        CompletableFuture<Void> f;
        lock.lock();
        try {
            woken = true;
            f = available;
        } finally {
            lock.unlock();
        }
        f.complete(null);
    }

    /** Record the first fatal failure; the task thread throws it. */
    void fail(SluiceException e) {
        CompletableFuture<Void> f;
        lock.lock();
        try {
            if (failure == null) {
                failure = e;
            }
            f = available;
        } finally {
            lock.unlock();
        }
        f.complete(null);
    }

    void throwIfFailed() throws SluiceException {
        lock.lock();
        try {
            if (failure != null) {
                throw new SluiceException(failure.getMessage(), failure);
            }
        } finally {
            lock.unlock();
        }
    }
}
