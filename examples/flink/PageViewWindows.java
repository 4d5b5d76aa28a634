// A Flink job that pushes its results to browsers through Sluice: page views, counted per page
// in one-second tumbling event-time windows by Flink, each window's count published to the
// relay topic `pageviews.per-second` with SluiceSink. examples/flink/index.html shows them live.
//
//   examples/flink/run.sh [--relay ws://127.0.0.1:8080] [--input generate|relay]
//                         [--rate 100] [--events N]
//
// --input generate (the default): the job generates page views itself, --rate per second
//   (0: as fast as it can), forever or --events of them. Event i happens at event time
//   t0 + 10 ms * i, so each one-second window holds 100 views, shared 40/25/15/12/8 among the
//   pages /p0../p4; the most viewed page changes every second (see page()).
// --input relay: the job reads page views from the relay topic `pageviews` with SluiceSource,
//   JSON objects like {"page":"/p1","ts":1767225600000} (ts: event time, epoch milliseconds),
//   published by anything: a browser, a device, `websocat ws://127.0.0.1:8080/pub/pageviews`.
//
// Each result is one JSON text message:
//   {"page":"/p1","window_start":1767225600000,"window_end":1767225601000,"views":20}

import io.sluice.flink.SluiceSink;
import io.sluice.flink.SluiceSource;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.serialization.SimpleStringSchema;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

public class PageViewWindows {
    /** A page view: the page and its event time. */
    public static class View {
        public String page;
        public long ts;

        public View() {}

        View(String page, long ts) {
            this.page = page;
            this.ts = ts;
        }
    }

    /** How each second's 100 generated views are shared among five pages. */
    static final int[] SHARES = {40, 25, 15, 12, 8};

    /** The page of generated view i: share b of second w goes to page (b + w) % 5. */
    static String page(long i) {
        int k = (int) (i % 100);
        int b = 0;
        while (k >= SHARES[b]) {
            k -= SHARES[b];
            b++;
        }
        return "/p" + (b + i / 100) % SHARES.length;
    }

    private static final Pattern PAGE = Pattern.compile("\"page\"\\s*:\\s*\"([^\"]*)\"");
    private static final Pattern TS = Pattern.compile("\"ts\"\\s*:\\s*(-?\\d+)");

    /** A view from a JSON message, or null if it has no page or no ts. */
    static View parse(String json) {
        Matcher p = PAGE.matcher(json);
        Matcher t = TS.matcher(json);
        return p.find() && t.find() ? new View(p.group(1), Long.parseLong(t.group(1))) : null;
    }

    /** Counts a window's views. */
    public static class Count implements AggregateFunction<View, Long, Long> {
        @Override
        public Long createAccumulator() {
            return 0L;
        }

        @Override
        public Long add(View v, Long n) {
            return n + 1;
        }

        @Override
        public Long getResult(Long n) {
            return n;
        }

        @Override
        public Long merge(Long a, Long b) {
            return a + b;
        }
    }

    /** A window's count as the JSON message the page reads. */
    public static class ToJson extends ProcessWindowFunction<Long, String, String, TimeWindow> {
        @Override
        public void process(String page, Context ctx, Iterable<Long> counts, Collector<String> out) {
            out.collect("{\"page\":\"" + page + "\",\"window_start\":" + ctx.window().getStart()
                    + ",\"window_end\":" + ctx.window().getEnd() + ",\"views\":" + counts.iterator().next() + "}");
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            a.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        String relay = a.getOrDefault("relay", "ws://127.0.0.1:8080");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(1);
        env.enableCheckpointing(1000);

        DataStream<View> views;
        if (a.getOrDefault("input", "generate").equals("relay")) {
            SluiceSource<String> source = SluiceSource.<String>builder()
                    .setUrl(relay)
                    .setTopics("pageviews")
                    .setDeserializationSchema(new SimpleStringSchema())
                    .build();
            views = env.fromSource(source, WatermarkStrategy.noWatermarks(), "pageviews from sluice")
                    .map(PageViewWindows::parse)
                    .filter(v -> v != null);
        } else {
            long t0 = System.currentTimeMillis() / 1000 * 1000;
            long events = Long.parseLong(a.getOrDefault("events", String.valueOf(Long.MAX_VALUE)));
            double rate = Double.parseDouble(a.getOrDefault("rate", "100"));
            DataGeneratorSource<View> generator = new DataGeneratorSource<>(
                    i -> new View(page(i), t0 + 10 * i),
                    events,
                    rate > 0 ? RateLimiterStrategy.perSecond(rate) : RateLimiterStrategy.noOp(),
                    Types.POJO(View.class));
            views = env.fromSource(generator, WatermarkStrategy.noWatermarks(), "generated pageviews");
        }

        SluiceSink<String> sink = SluiceSink.<String>builder()
                .setUrl(relay)
                .setTopic("pageviews.per-second")
                .setSerializationSchema(new SimpleStringSchema())
                .build();
        views.assignTimestampsAndWatermarks(
                        WatermarkStrategy.<View>forBoundedOutOfOrderness(Duration.ofMillis(200))
                                .withTimestampAssigner((v, ts) -> v.ts)
                                .withIdleness(Duration.ofSeconds(2)))
                .keyBy(v -> v.page)
                .window(TumblingEventTimeWindows.of(Duration.ofSeconds(1)))
                .aggregate(new Count(), new ToJson())
                .sinkTo(sink)
                .name("pageviews.per-second to sluice");
        env.execute("page views per second");
    }
}
