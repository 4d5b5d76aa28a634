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
 *   <li>{@code messagesReceived}: publications received from the relay (replayed ones too);
 *   <li>{@code reconnects}: subscriptions re-established after one was lost;
 *   <li>{@code disconnects}: subscriptions lost (each is resumed from the last offset received);
 *   <li>{@code recoveries}: resumes the relay answered with the whole gap;
 *   <li>{@code recoveriesRefused}: resumes it refused ({@code recovered:false});
 *   <li>{@code gaps}: {@code gap} messages (offsets the relay skipped);
 *   <li>{@code recordsMissed}: offsets that will never be emitted, as far as the relay's answers
 *       tell (refused resumes and gaps);
 *   <li>{@code recordsConflated}: messages replaced by newer values of their key (a topic with
 *       the {@code latest} policy);
 *   <li>{@code connected}: topics subscribed now;
 *   <li>{@code queuedMessages}, {@code queuedBytes}: received, not yet taken by the task.
 * </ul>
 */
final class SourceMetrics {
    final Counter reconnects;
    final Counter disconnects;
    final Counter recoveries;
    final Counter recoveriesRefused;
    final Counter gaps;
    final Counter recordsMissed;
    final Counter recordsConflated;
    private final Counter messages;
    private final Counter bytesIn;
    private final AtomicInteger connected = new AtomicInteger();

    SourceMetrics(SourceReaderMetricGroup readerGroup, ReceiveQueue queue) {
        MetricGroup g = readerGroup.addGroup("sluice");
        messages = g.counter("messagesReceived", new ThreadSafeSimpleCounter());
        reconnects = g.counter("reconnects", new ThreadSafeSimpleCounter());
        disconnects = g.counter("disconnects", new ThreadSafeSimpleCounter());
        recoveries = g.counter("recoveries", new ThreadSafeSimpleCounter());
        recoveriesRefused = g.counter("recoveriesRefused", new ThreadSafeSimpleCounter());
        gaps = g.counter("gaps", new ThreadSafeSimpleCounter());
        recordsMissed = g.counter("recordsMissed", new ThreadSafeSimpleCounter());
        recordsConflated = g.counter("recordsConflated", new ThreadSafeSimpleCounter());
        g.gauge("connected", (Gauge<Integer>) connected::get);
        g.gauge("queuedMessages", (Gauge<Long>) queue::size);
        g.gauge("queuedBytes", (Gauge<Long>) queue::bytes);
        bytesIn = readerGroup.getIOMetricGroup().getNumBytesInCounter();
    }

    /** From a listener thread: one message of {@code bytes} bytes, a publication or not. */
    void received(int bytes, boolean publication) {
        if (publication) {
            messages.inc();
        }
        synchronized (bytesIn) {
            bytesIn.inc(bytes);
        }
    }

    /** What a step of a topic's cursor says about losses and resumes. */
    void count(TopicCursor.Step step) {
        if (step.missed > 0) {
            recordsMissed.inc(step.missed);
        }
        if (step.gap) {
            gaps.inc();
        }
        if (step.refused) {
            recoveriesRefused.inc();
        }
        if (step.recovered) {
            recoveries.inc();
        }
    }

    void connectedDelta(int d) {
        connected.addAndGet(d);
    }
}
