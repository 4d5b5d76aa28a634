// A Flink metric reporter for the Sluice connector tests: keeps every metric registered in this
// JVM (also after it is removed, so the values are still readable after the job ends) and sums
// them by name across subtasks. Registered with the key `metrics.reporter.capture.factory.class`
// (tests/util/flink.rs writes the META-INF/services entry Flink discovers it by).

import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricConfig;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;

public class CaptureReporter implements MetricReporter {
    static final Map<String, Metric> METRICS = new ConcurrentHashMap<>();

    public static class Factory implements MetricReporterFactory {
        @Override
        public MetricReporter createMetricReporter(Properties properties) {
            return new CaptureReporter();
        }
    }

    @Override
    public void open(MetricConfig config) {}

    @Override
    public void close() {}

    @Override
    public void notifyOfAddedMetric(Metric metric, String name, MetricGroup group) {
        METRICS.put(group.getMetricIdentifier(name), metric);
    }

    @Override
    public void notifyOfRemovedMetric(Metric metric, String name, MetricGroup group) {}

    /** Sum of every counter or numeric gauge whose identifier ends with `.suffix`. */
    static Map<String, Long> sums(String... suffixes) {
        Map<String, Long> out = new TreeMap<>();
        for (String s : suffixes) {
            out.put(s, 0L);
        }
        for (Map.Entry<String, Metric> e : METRICS.entrySet()) {
            for (String s : suffixes) {
                if (!e.getKey().endsWith("." + s)) {
                    continue;
                }
                long v = 0;
                Metric m = e.getValue();
                if (m instanceof Counter) {
                    v = ((Counter) m).getCount();
                } else if (m instanceof Gauge && ((Gauge<?>) m).getValue() instanceof Number) {
                    v = ((Number) ((Gauge<?>) m).getValue()).longValue();
                }
                out.merge(s, v, Long::sum);
            }
        }
        return out;
    }

    /** Print `METRIC name value` lines for these metric names. */
    static void print(String... suffixes) {
        for (Map.Entry<String, Long> e : sums(suffixes).entrySet()) {
            System.out.println("METRIC " + e.getKey() + " " + e.getValue());
        }
        System.out.flush();
    }
}
