package io.sluice.flink;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.ThreadSafeSimpleCounter;

/**
 * The sink writer's own metrics, in the {@code sluice} group under the writer's metric group
 * (records and bytes sent are Flink's standard {@code numRecordsSend} and
 * {@code numBytesSend}):
 *
 * <ul>
 *   <li>{@code reconnects}: connections re-established after one was lost;
 *   <li>{@code recordsResent}: records sent again after a reconnect because the relay had not
 *       acknowledged them (an upper bound on what subscribers may have received twice);
 *   <li>{@code recordsAcknowledged}: records the relay acknowledged;
 *   <li>{@code inFlightBytes}, {@code inFlightRecords}: sent or queued, not yet acknowledged;
 *   <li>{@code connected}: topics with an open connection now.
 * </ul>
 *
 * Counters are updated from the connection threads, so they are thread-safe.
 */
final class SinkMetrics {
    final Counter reconnects;
    final Counter resent;
    final Counter acked;

    SinkMetrics(MetricGroup writerGroup, InFlight inFlight) {
        MetricGroup g = writerGroup.addGroup("sluice");
        reconnects = g.counter("reconnects", new ThreadSafeSimpleCounter());
        resent = g.counter("recordsResent", new ThreadSafeSimpleCounter());
        acked = g.counter("recordsAcknowledged", new ThreadSafeSimpleCounter());
        g.gauge("inFlightBytes", (Gauge<Long>) inFlight::bytes);
        g.gauge("inFlightRecords", (Gauge<Long>) inFlight::records);
        g.gauge("connected", (Gauge<Integer>) inFlight::connected);
    }
}
