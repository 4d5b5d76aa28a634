package io.sluice.flink;

import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.ThreadSafeSimpleCounter;
import org.apache.flink.metrics.groups.SourceReaderMetricGroup;

/**
 * The source reader's metrics: Flink's standard {@code numBytesIn}, and in the {@code sluice}
 * group under the reader's metric group:
 *
 * <ul>
 *   <li>{@code messagesReceived}: WebSocket messages received from the relay;
 *   <li>{@code reconnects}: subscriptions re-established after one was lost;
 *   <li>{@code disconnects}: subscriptions lost (what was published until the reconnect was
 *       missed);
 *   <li>{@code connected}: topics subscribed now;
 *   <li>{@code queuedMessages}, {@code queuedBytes}: received, not yet taken by the task.
 * </ul>
 */
final class SourceMetrics {
    final Counter reconnects;
    final Counter disconnects;
    private final Counter messages;
    private final Counter bytesIn;
    private final AtomicInteger connected = new AtomicInteger();

    SourceMetrics(SourceReaderMetricGroup readerGroup, ReceiveQueue queue) {
        MetricGroup g = readerGroup.addGroup("sluice");
        messages = g.counter("messagesReceived", new ThreadSafeSimpleCounter());
        reconnects = g.counter("reconnects", new ThreadSafeSimpleCounter());
        disconnects = g.counter("disconnects", new ThreadSafeSimpleCounter());
        g.gauge("connected", (Gauge<Integer>) connected::get);
        g.gauge("queuedMessages", (Gauge<Long>) queue::size);
        g.gauge("queuedBytes", (Gauge<Long>) queue::bytes);
        bytesIn = readerGroup.getIOMetricGroup().getNumBytesInCounter();
    }

    /** From a listener thread: one message of {@code bytes} bytes. */
    void received(int bytes) {
        messages.inc();
        synchronized (bytesIn) {
            bytesIn.inc(bytes);
        }
    }

    void connectedDelta(int d) {
        connected.addAndGet(d);
    }
}
