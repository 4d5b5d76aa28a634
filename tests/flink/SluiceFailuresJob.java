// The Flink side of tests/flink_failures.rs: runs scenarios one after another in this JVM and
// prints, for each, `START name` when it begins and `RESULT name ok` or
// `RESULT name failed: <exception class>: <message>` (the connector's own exception, found in
// the cause chain) when it ends. Each argument is one scenario, `name|kind|key=value;...`:
//
//   build-sink    url, topic            only builds the sink (errors at build time)
//   build-source  url, topics           only builds the source
//   sink          url, topic, records, [token], [max_attempts], [backoff_ms], [size],
//                 [schema=invalid-utf8], [message_type=binary]
//                                       a job writing `records` strings (of `size` bytes) to
//                                       SluiceSink; invalid-utf8 serializes each as one 0xff byte
//   source        url, topics, [token], [max_attempts], [backoff_ms]
//                                       a job reading until a record `END`
//
// Jobs run with no restart strategy, so a connector failure fails the job.

import io.sluice.flink.MessageType;
import io.sluice.flink.SluiceSink;
import io.sluice.flink.SluiceSinkBuilder;
import io.sluice.flink.SluiceSource;
import io.sluice.flink.SluiceSourceBuilder;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.api.common.serialization.SimpleStringSchema;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

public class SluiceFailuresJob {
    public static void main(String[] args) {
        for (String spec : args) {
            String[] parts = spec.split("\\|", 3);
            String name = parts[0];
            Map<String, String> a = new HashMap<>();
            if (parts.length > 2 && !parts[2].isEmpty()) {
                for (String kv : parts[2].split(";")) {
                    int eq = kv.indexOf('=');
                    a.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
            }
            System.out.println("START " + name);
            System.out.flush();
            long start = System.nanoTime();
            String result;
            try {
                run(parts[1], a);
                result = "ok";
            } catch (Throwable e) {
                result = "failed: " + describe(e);
            }
            System.out.println("ELAPSED_MS " + name + " " + (System.nanoTime() - start) / 1_000_000);
            System.out.println("RESULT " + name + " " + result);
            System.out.flush();
        }
    }

    /** The connector's exception in the chain (else the root cause), as `Class: message`. */
    static String describe(Throwable e) {
        Throwable pick = e;
        for (Throwable c = e; c != null; c = c.getCause()) {
            pick = c;
            if (c.getClass().getName().startsWith("io.sluice.") || c instanceof IllegalArgumentException) {
                break;
            }
        }
        return pick.getClass().getSimpleName() + ": " + String.valueOf(pick.getMessage()).replace('\n', ' ');
    }

    static void run(String kind, Map<String, String> a) throws Exception {
        switch (kind) {
            case "build-sink":
                sink(a);
                return;
            case "build-source":
                source(a);
                return;
            case "sink": {
                StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(SluiceSinkJob.config());
                env.setParallelism(1);
                long n = Long.parseLong(a.getOrDefault("records", "100"));
                int size = Integer.parseInt(a.getOrDefault("size", "0"));
                env.fromSequence(0, n - 1)
                        .map(i -> {
                            String r = "record " + i;
                            return r.length() < size ? r + "x".repeat(size - r.length()) : r;
                        })
                        .sinkTo(sink(a));
                env.execute("sluice-failure-sink");
                return;
            }
            case "source": {
                StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(SluiceSinkJob.config());
                env.setParallelism(1);
                env.fromSource(source(a), WatermarkStrategy.noWatermarks(), "sluice").sinkTo(new DiscardingSink<>());
                env.execute("sluice-failure-source");
                return;
            }
            default:
                throw new IllegalStateException("unknown scenario kind " + kind);
        }
    }

    /** Bytes that are not UTF-8. */
    public static class InvalidUtf8 implements SerializationSchema<String> {
        private static final long serialVersionUID = 1L;

        @Override
        public byte[] serialize(String s) {
            return new byte[] {(byte) 0xff};
        }
    }

    static SluiceSink<String> sink(Map<String, String> a) {
        SluiceSinkBuilder<String> b = SluiceSink.<String>builder()
                .setUrl(a.get("url"))
                .setTopic(a.get("topic"))
                .setSerializationSchema(a.getOrDefault("schema", "").equals("invalid-utf8")
                        ? new InvalidUtf8() : new SimpleStringSchema());
        if (a.getOrDefault("message_type", "text").equals("binary")) {
            b.setMessageType(MessageType.BINARY);
        }
        if (a.containsKey("token")) {
            b.setToken(a.get("token"));
        }
        if (a.containsKey("max_attempts")) {
            b.setMaxReconnectAttempts(Integer.parseInt(a.get("max_attempts")));
        }
        if (a.containsKey("backoff_ms")) {
            long ms = Long.parseLong(a.get("backoff_ms"));
            b.setReconnectBackoff(Duration.ofMillis(ms), Duration.ofMillis(ms * 4));
        }
        return b.build();
    }

    static SluiceSource<String> source(Map<String, String> a) {
        SluiceSourceBuilder<String> b = SluiceSource.<String>builder()
                .setUrl(a.get("url"))
                .setTopics(a.getOrDefault("topics", "").split(","))
                .setDeserializationSchema(new SluiceSourceJob.UntilEnd());
        if (a.containsKey("token")) {
            b.setToken(a.get("token"));
        }
        if (a.containsKey("max_attempts")) {
            b.setMaxReconnectAttempts(Integer.parseInt(a.get("max_attempts")));
        }
        if (a.containsKey("backoff_ms")) {
            long ms = Long.parseLong(a.get("backoff_ms"));
            b.setReconnectBackoff(Duration.ofMillis(ms), Duration.ofMillis(ms * 4));
        }
        return b.build();
    }
}
