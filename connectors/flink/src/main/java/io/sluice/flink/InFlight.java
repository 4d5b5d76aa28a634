package io.sluice.flink;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * What one sink writer has handed to the relay and not yet seen acknowledged, across all its
 * topics: the byte budget that blocks the task when full, and the writer's first fatal failure.
 *
 * <p>Contract: {@link #acquire} blocks the calling (task) thread while admitting a record would
 * take the unacknowledged bytes over the bound; a record is always admitted when nothing is in
 * flight, so one record larger than the bound goes out alone instead of blocking forever.
 * Bytes come back through {@link #release} when the relay acknowledges them. A failure recorded
 * with {@link #fail} wakes every waiter and is thrown by {@link #check}, {@link #acquire} and
 * flush waits from then on. One lock guards this and the state of every
 * {@link PublishChannel} of the writer; waits are interruptible, so a cancelled task leaves
 * at once.
 */
final class InFlight {
    final ReentrantLock lock = new ReentrantLock();
    /** Signalled on every acknowledgement and on failure. */
    final Condition progress = lock.newCondition();

    private final long maxBytes;
    private long bytes;
    private long records;
    private SluiceException failure;
    private int connected;

    InFlight(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    /** Wait for room for {@code size} bytes and take it. */
    void acquire(long size) throws InterruptedException, SluiceException {
        lock.lockInterruptibly();
        try {
            while (failure == null && bytes > 0 && bytes + size > maxBytes) {
                progress.await();
            }
            throwIfFailed();
            bytes += size;
            records++;
        } finally {
            lock.unlock();
        }
    }

    /** Give back {@code size} bytes of {@code n} acknowledged records. Lock held. */
    void release(long size, long n) {
        bytes -= size;
        records -= n;
        progress.signalAll();
    }

    /** Record the first fatal failure and wake everyone. */
    void fail(SluiceException e) {
        lock.lock();
        try {
            if (failure == null) {
                failure = e;
            }
            progress.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Throw the recorded failure, if any. */
    void check() throws SluiceException {
        lock.lock();
        try {
            throwIfFailed();
        } finally {
            lock.unlock();
        }
    }

    /** Lock held. */
    void throwIfFailed() throws SluiceException {
        if (failure != null) {
            throw new SluiceException(failure.getMessage(), failure);
        }
    }

    /** Wait up to {@code millis} for progress. Lock held. */
    void awaitProgress(long millis) throws InterruptedException {
        progress.await(millis, TimeUnit.MILLISECONDS);
    }

    /** Lock held. */
    void connectedDelta(int d) {
        connected += d;
    }

    long bytes() {
        lock.lock();
        try {
            return bytes;
        } finally {
            lock.unlock();
        }
    }

    long records() {
        lock.lock();
        try {
            return records;
        } finally {
            lock.unlock();
        }
    }

    int connected() {
        lock.lock();
        try {
            return connected;
        } finally {
            lock.unlock();
        }
    }
}
