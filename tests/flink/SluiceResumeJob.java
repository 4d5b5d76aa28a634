// The Flink side of tests/flink_source_savepoint.rs and tests/flink_source_failover.rs: reads
// topics through SluiceSource with checkpoints and writes every record to a file, one line each.
// Its output is exactly once: Flink's collect sink hands over only what a completed checkpoint
// (or savepoint) covers, and drops what a failed attempt emitted after it. A record `END` ends
// its topic, and the job ends once every topic has ended. Arguments are key=value:
//
//   url=ws://...  topics=a,b  out=FILE  [parallelism=P]  [checkpoint_ms=MS]
//   [stop_after=N savepoints=DIR]  once N records are written, stop the job with a savepoint
//                                  in DIR and print `SAVEPOINT <path>`
//   [restore=PATH]                 start from this savepoint
//   [fail_after=N]                 once N records have passed and a checkpoint completed
//                                  after them, fail the job once (it restarts from that
//                                  checkpoint); logs `injected failure after N records`
//
// Prints `METRIC name value` lines for the source's metrics at the end (those of the last
// attempt). Any other failure exits non-zero with the exception chain on stderr.

import io.sluice.flink.SluiceSource;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.dag.Transformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;

public class SluiceResumeJob {
    /** Whether the failure was injected already: once per process, across restarts. */
    static final AtomicBoolean FAILED = new AtomicBoolean();

    /** Passes records on; fails once after `after` records, when a checkpoint covers them. */
    public static class FailOnce implements MapFunction<String, String>, CheckpointListener {
        private static final long serialVersionUID = 1L;
        private final long after;
        private long seen;
        private long seenAtCheckpoint;

        FailOnce(long after) {
            this.after = after;
        }

        @Override
        public String map(String record) {
            seen++;
            if (!FAILED.get() && seenAtCheckpoint >= after && FAILED.compareAndSet(false, true)) {
                System.err.println("injected failure after " + seen + " records");
                throw new IllegalStateException("injected failure (the test's, not the connector's)");
            }
            return record;
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) {
            // What a checkpoint taken now covers at least (the completion comes after it).
            seenAtCheckpoint = seen;
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = SluiceSinkJob.parse(args);
        Configuration config = SluiceSinkJob.config();
        if (a.containsKey("fail_after")) {
            Map<String, String> c = new HashMap<>();
            c.put("restart-strategy.type", "fixed-delay");
            c.put("restart-strategy.fixed-delay.attempts", "1");
            c.put("restart-strategy.fixed-delay.delay", "100 ms");
            config.addAll(Configuration.fromMap(c));
        }
        if (a.containsKey("restore")) {
            config.set(StateRecoveryOptions.SAVEPOINT_PATH, a.get("restore"));
            // The collect sink's state belongs to the client of the job that took the savepoint:
            // the restored job's collect sink is a new operator (below), and that state is left.
            config.set(StateRecoveryOptions.SAVEPOINT_IGNORE_UNCLAIMED_STATE, true);
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(config);
        env.setParallelism(Integer.parseInt(a.getOrDefault("parallelism", "1")));
        env.enableCheckpointing(Long.parseLong(a.getOrDefault("checkpoint_ms", "300")));
        SluiceSource<String> source = SluiceSource.<String>builder()
                .setUrl(a.get("url"))
                .setTopics(a.get("topics").split(","))
                .setDeserializationSchema(new SluiceSourceJob.UntilEnd())
                .build();
        DataStream<String> records = env.fromSource(source, WatermarkStrategy.noWatermarks(), "sluice")
                .uid("sluice-source");
        if (a.containsKey("fail_after")) {
            records = records.map(new FailOnce(Long.parseLong(a.get("fail_after")))).uid("fail-once");
        }
        if (a.containsKey("restore")) {
            // The collect sink's uid ends with its transformation's number: skip one, so the
            // restored job's collect sink is a new operator that claims no state of the first.
            Transformation.getNewNodeId();
        }
        long stopAfter = Long.parseLong(a.getOrDefault("stop_after", "0"));
        long written = 0;
        try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(Paths.get(a.get("out")),
                StandardOpenOption.CREATE, StandardOpenOption.APPEND));
                CloseableIterator<String> it = records.collectAsync()) {
            JobClient job = env.executeAsync("sluice-resume-test");
            boolean stopped = false;
            while (it.hasNext()) {
                out.println(it.next());
                out.flush();
                written++;
                if (!stopped && stopAfter > 0 && written >= stopAfter) {
                    stopped = true;
                    // Completes once the savepoint is taken; the job then ends, and the iterator
                    // hands over what the savepoint covers.
                    job.stopWithSavepoint(false, a.get("savepoints"), SavepointFormatType.CANONICAL)
                            .thenAccept(path -> {
                                System.out.println("SAVEPOINT " + path);
                                System.out.flush();
                            });
                }
            }
            job.getJobExecutionResult().get();
        }
        System.out.println("WRITTEN " + written);
        CaptureReporter.print("sluice.messagesReceived", "sluice.reconnects", "sluice.disconnects",
                "sluice.recoveries", "sluice.recoveriesRefused", "sluice.gaps", "sluice.recordsMissed");
    }
}
