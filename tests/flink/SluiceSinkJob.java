// The Flink side of tests/flink_sink*.rs and perf/flink.sh: a bounded job of `records` records,
// numbered 0.. by a parallelism-1 source and spread round-robin over `parallelism` subtasks; each
// subtask labels its records with its index and its own sequence number,
// {"subtask":S,"seq":N,"pad":"..."}, and writes them to SluiceSink (or, with sink=discard, to
// Flink's DiscardingSink). Arguments are key=value:
//
//   url=ws://...  topic=T  records=N  parallelism=P  [pad=BYTES]  [checkpoint_ms=MS]
//   [gate=PORT gate_at=K1,K2,...]
//                           each subtask, before its record K (each K listed), connects to
//                           127.0.0.1:PORT, sends its index and a newline, and waits for one
//                           byte back
//   [sink=sluice|discard]  [in_flight=BYTES]  [token=...]
//
// Prints `ELAPSED_MS n` (from submission to the end of the job), `RUN_MS n` (from the first
// record to the end of the job: what perf/flink.sh divides by) and `METRIC name value` lines
// for the sink's metrics.
// Any failure exits non-zero with the exception chain on stderr.

import io.sluice.flink.SluiceSink;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.serialization.SimpleStringSchema;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

public class SluiceSinkJob {
    static Map<String, String> parse(String[] args) {
        Map<String, String> a = new HashMap<>();
        for (String s : args) {
            int eq = s.indexOf('=');
            a.put(s.substring(0, eq), s.substring(eq + 1));
        }
        return a;
    }

    /** Flink settings shared by the test jobs: no restarts (a failure fails the run), captured metrics. */
    static Configuration config() {
        Map<String, String> c = new HashMap<>();
        c.put("restart-strategy.type", "none");
        c.put("metrics.reporter.capture.factory.class", CaptureReporter.Factory.class.getName());
        c.put("taskmanager.memory.network.fraction", "0.05");
        return Configuration.fromMap(c);
    }

    /** When the first record was labelled (System.nanoTime), for RUN_MS. */
    static final java.util.concurrent.atomic.AtomicLong FIRST = new java.util.concurrent.atomic.AtomicLong();

    public static class Label extends RichMapFunction<Long, String> {
        private final int gatePort;
        private final long[] gateAt;
        private final String pad;
        private long seq;

        Label(int gatePort, long[] gateAt, String pad) {
            this.gatePort = gatePort;
            this.gateAt = gateAt;
            this.pad = pad;
        }

        @Override
        public String map(Long n) throws Exception {
            if (seq == 0) {
                FIRST.compareAndSet(0, System.nanoTime());
            }
            int subtask = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
            if (gatePort > 0 && java.util.Arrays.stream(gateAt).anyMatch(k -> k == seq)) {
                try (Socket s = new Socket("127.0.0.1", gatePort)) {
                    OutputStream out = s.getOutputStream();
                    out.write((subtask + "\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    InputStream in = s.getInputStream();
                    if (in.read() < 0) {
                        throw new IllegalStateException("the test closed the gate without opening it");
                    }
                }
            }
            return "{\"subtask\":" + subtask + ",\"seq\":" + seq++ + ",\"pad\":\"" + pad + "\"}";
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = parse(args);
        long records = Long.parseLong(a.get("records"));
        int parallelism = Integer.parseInt(a.getOrDefault("parallelism", "1"));
        String pad = "x".repeat(Integer.parseInt(a.getOrDefault("pad", "0")));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(config());
        env.setParallelism(parallelism);
        long checkpointMs = Long.parseLong(a.getOrDefault("checkpoint_ms", "500"));
        if (checkpointMs > 0) {
            env.enableCheckpointing(checkpointMs);
        }
        DataStream<String> labelled = env.fromSequence(0, records - 1)
                .setParallelism(1)
                .rebalance()
                .map(new Label(Integer.parseInt(a.getOrDefault("gate", "0")),
                        java.util.Arrays.stream(a.getOrDefault("gate_at", "-1").split(","))
                                .mapToLong(Long::parseLong).toArray(), pad))
                .name("label");
        if (a.getOrDefault("sink", "sluice").equals("discard")) {
            labelled.sinkTo(new DiscardingSink<>()).name("discard");
        } else {
            var b = SluiceSink.<String>builder()
                    .setUrl(a.get("url"))
                    .setTopic(a.get("topic"))
                    .setSerializationSchema(new SimpleStringSchema());
            if (a.containsKey("token")) {
                b.setToken(a.get("token"));
            }
            if (a.containsKey("in_flight")) {
                b.setMaxInFlightBytes(Long.parseLong(a.get("in_flight")));
            }
            labelled.sinkTo(b.build()).name("sluice");
        }
        long start = System.nanoTime();
        env.execute("sluice-sink-test");
        long end = System.nanoTime();
        System.out.println("ELAPSED_MS " + (end - start) / 1_000_000);
        System.out.println("RUN_MS " + (end - FIRST.get()) / 1_000_000);
        CaptureReporter.print("numRecordsSend", "numBytesSend", "sluice.reconnects", "sluice.recordsResent",
                "sluice.recordsAcknowledged", "sluice.inFlightBytes");
    }
}
