// The Flink side of tests/flink_source.rs: reads topics through SluiceSource and writes every
// record to a file, one line each, flushed as it goes. A record `END` ends its topic (the
// schema's isEndOfStream), and the job ends once every topic has ended. Arguments are key=value:
//
//   url=ws://...  topics=a,b  out=FILE  [parallelism=P]  [token=...]
//
// Prints `METRIC name value` lines for the source's metrics at the end. Any failure exits
// non-zero with the exception chain on stderr.

import io.sluice.flink.SluiceSource;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Map;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.serialization.SimpleStringSchema;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;

public class SluiceSourceJob {
    /** Strings, with `END` as the end of a topic. */
    public static class UntilEnd extends SimpleStringSchema {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean isEndOfStream(String next) {
            return next.equals("END");
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = SluiceSinkJob.parse(args);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(SluiceSinkJob.config());
        env.setParallelism(Integer.parseInt(a.getOrDefault("parallelism", "1")));
        env.enableCheckpointing(500);
        var b = SluiceSource.<String>builder()
                .setUrl(a.get("url"))
                .setTopics(a.get("topics").split(","))
                .setDeserializationSchema(new UntilEnd());
        if (a.containsKey("token")) {
            b.setToken(a.get("token"));
        }
        try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(Paths.get(a.get("out"))));
                CloseableIterator<String> it = env.fromSource(b.build(), WatermarkStrategy.noWatermarks(), "sluice")
                        .executeAndCollect("sluice-source-test")) {
            while (it.hasNext()) {
                out.println(it.next());
                out.flush();
            }
        }
        CaptureReporter.print("sluice.messagesReceived", "sluice.reconnects", "sluice.disconnects", "numBytesIn",
                "sluice.recoveries", "sluice.recoveriesRefused", "sluice.gaps", "sluice.recordsMissed");
    }
}
