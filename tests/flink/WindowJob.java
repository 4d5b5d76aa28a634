// The reference side of tests/flink_conformance.rs: the same windowed aggregation, run by Apache
// Flink's own DataStream API and WindowOperator (local mini cluster, parallelism 1).
//
// Usage: java -cp <flink lib>/*:<classes> WindowJob CASES OUTPUT
//   CASES: one case per line, tab-separated: id kind size slide offset ooo lateness input
//          (kind: tumbling, sliding, session (size = gap) or count (size = events))
//   OUTPUT: one line per result: id TAB R TAB json, or id TAB L TAB late event as read
//
// Two details make the run deterministic (see the issue): watermarks come from a generator that
// emits after every event (Flink's BoundedOutOfOrdernessWatermarks formula, without the 200 ms
// periodic emission), and the window runs through Flink's Java WindowOperator. A trigger that
// delegates to Flink's EventTimeTrigger records whether a firing came from an element (a late
// re-firing, marked "update") or from the watermark.

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.KeyedStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.EventTimeSessionWindows;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.WindowAssigner;
import org.apache.flink.streaming.api.windowing.triggers.EventTimeTrigger;
import org.apache.flink.streaming.api.windowing.triggers.Trigger;
import org.apache.flink.streaming.api.windowing.triggers.TriggerResult;
import org.apache.flink.streaming.api.windowing.windows.GlobalWindow;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

public class WindowJob {

    /** One input line: {"k":…,"ts":…,"qty":…(may be null or absent),"price":…,"seq":…}. */
    public static class Ev {
        public String key;
        public long ts;
        public Long qty;
        public double price;
        public long seq;
        public String line;

        public Ev() {}
    }

    private static final Pattern KEY = Pattern.compile("\"k\":\"([^\"]*)\"");
    private static final Pattern TS = Pattern.compile("\"ts\":(-?\\d+)");
    private static final Pattern QTY = Pattern.compile("\"qty\":(-?\\d+)");
    private static final Pattern PRICE = Pattern.compile("\"price\":(-?[0-9.eE+-]+)");
    private static final Pattern SEQ = Pattern.compile("\"seq\":(\\d+)");

    static String find(Pattern p, String s) {
        Matcher m = p.matcher(s);
        return m.find() ? m.group(1) : null;
    }

    static Ev parse(String line) {
        Ev e = new Ev();
        e.key = find(KEY, line);
        e.ts = Long.parseLong(find(TS, line));
        String q = find(QTY, line);
        e.qty = q == null ? null : Long.valueOf(q);
        e.price = Double.parseDouble(find(PRICE, line));
        e.seq = Long.parseLong(find(SEQ, line));
        e.line = line;
        return e;
    }

    /** Flink's bounded-out-of-orderness formula, emitted after every event. */
    public static class PerEvent implements WatermarkGenerator<Ev> {
        private final long ooo;
        private long maxTs;

        PerEvent(long ooo) {
            this.ooo = ooo;
            this.maxTs = Long.MIN_VALUE + ooo + 1;
        }

        @Override
        public void onEvent(Ev e, long ts, WatermarkOutput out) {
            maxTs = Math.max(maxTs, ts);
            out.emitWatermark(new Watermark(maxTs - ooo - 1));
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput out) {}
    }

    /** Whether the firing being emitted came from onElement (this thread's window operator). */
    static final ThreadLocal<Boolean> ON_ELEMENT = ThreadLocal.withInitial(() -> false);

    /** Flink's EventTimeTrigger, observed. */
    public static class Observed extends Trigger<Object, TimeWindow> {
        private final EventTimeTrigger inner = EventTimeTrigger.create();

        @Override
        public TriggerResult onElement(Object e, long ts, TimeWindow w, TriggerContext c)
                throws Exception {
            TriggerResult r = inner.onElement(e, ts, w, c);
            ON_ELEMENT.set(r.isFire());
            return r;
        }

        @Override
        public TriggerResult onEventTime(long time, TimeWindow w, TriggerContext c)
                throws Exception {
            ON_ELEMENT.set(false);
            return inner.onEventTime(time, w, c);
        }

        @Override
        public TriggerResult onProcessingTime(long time, TimeWindow w, TriggerContext c)
                throws Exception {
            return inner.onProcessingTime(time, w, c);
        }

        @Override
        public boolean canMerge() {
            return true;
        }

        @Override
        public void onMerge(TimeWindow w, OnMergeContext c) throws Exception {
            inner.onMerge(w, c);
        }

        @Override
        public void clear(TimeWindow w, TriggerContext c) throws Exception {
            inner.clear(w, c);
        }
    }

    /** The accumulator of the aggregates Sluice's conformance config declares. */
    public static class Acc {
        public long n;
        public long nq;
        public long qsum;
        public boolean lohi;
        public double lo;
        public double hi;
        public double psum;
        public long pn;
        public double notional;
        public long firstTs = Long.MAX_VALUE;
        public long firstSeq = Long.MAX_VALUE;
        public double first;
        public long lastTs = Long.MIN_VALUE;
        public long lastSeq = Long.MIN_VALUE;
        public double last;

        public Acc() {}
    }

    static boolean before(long ts, long seq, long ts2, long seq2) {
        return ts < ts2 || (ts == ts2 && seq < seq2);
    }

    public static class Aggs implements AggregateFunction<Ev, Acc, Acc> {
        private final boolean timed;

        Aggs(boolean timed) {
            this.timed = timed;
        }

        @Override
        public Acc createAccumulator() {
            return new Acc();
        }

        @Override
        public Acc add(Ev e, Acc a) {
            a.n++;
            if (e.qty != null) {
                a.nq++;
                a.qsum += e.qty;
            }
            if (!a.lohi) {
                a.lo = e.price;
                a.hi = e.price;
                a.lohi = true;
            } else {
                if (e.price < a.lo) a.lo = e.price;
                if (e.price > a.hi) a.hi = e.price;
            }
            a.psum += e.price;
            a.pn++;
            a.notional += e.price * (e.qty == null ? 0 : e.qty);
            long ts = timed ? e.ts : 0;
            if (before(ts, e.seq, a.firstTs, a.firstSeq)) {
                a.firstTs = ts;
                a.firstSeq = e.seq;
                a.first = e.price;
            }
            if (!before(ts, e.seq, a.lastTs, a.lastSeq)) {
                a.lastTs = ts;
                a.lastSeq = e.seq;
                a.last = e.price;
            }
            return a;
        }

        @Override
        public Acc getResult(Acc a) {
            return a;
        }

        @Override
        public Acc merge(Acc a, Acc b) {
            Acc m = new Acc();
            m.n = a.n + b.n;
            m.nq = a.nq + b.nq;
            m.qsum = a.qsum + b.qsum;
            m.lohi = a.lohi || b.lohi;
            m.lo = !a.lohi ? b.lo : !b.lohi ? a.lo : Math.min(a.lo, b.lo);
            m.hi = !a.lohi ? b.hi : !b.lohi ? a.hi : Math.max(a.hi, b.hi);
            m.psum = a.psum + b.psum;
            m.pn = a.pn + b.pn;
            m.notional = a.notional + b.notional;
            Acc f = before(a.firstTs, a.firstSeq, b.firstTs, b.firstSeq) ? a : b;
            m.firstTs = f.firstTs;
            m.firstSeq = f.firstSeq;
            m.first = f.first;
            Acc l = before(a.lastTs, a.lastSeq, b.lastTs, b.lastSeq) ? b : a;
            m.lastTs = l.lastTs;
            m.lastSeq = l.lastSeq;
            m.last = l.last;
            return m;
        }
    }

    static String json(String key, String start, String end, Acc a, boolean update) {
        StringBuilder s = new StringBuilder();
        s.append("{\"key\":\"").append(key).append("\",\"window_start\":").append(start);
        s.append(",\"window_end\":").append(end);
        s.append(",\"n\":").append(a.n);
        s.append(",\"nq\":").append(a.nq);
        s.append(",\"vol\":").append(a.nq == 0 ? "null" : Long.toString(a.qsum));
        s.append(",\"lo\":").append(a.lo);
        s.append(",\"hi\":").append(a.hi);
        s.append(",\"mean\":").append(a.psum / a.pn);
        s.append(",\"aq\":").append(a.nq == 0 ? "null" : Double.toString((double) a.qsum / a.nq));
        s.append(",\"open\":").append(a.first);
        s.append(",\"close\":").append(a.last);
        s.append(",\"notional\":").append(a.notional);
        if (update) s.append(",\"update\":true");
        return s.append("}").toString();
    }

    public static class Emit extends ProcessWindowFunction<Acc, String, String, TimeWindow> {
        private final String id;

        Emit(String id) {
            this.id = id;
        }

        @Override
        public void process(String key, Context ctx, Iterable<Acc> in, Collector<String> out) {
            Acc a = in.iterator().next();
            TimeWindow w = ctx.window();
            String j = json(key, Long.toString(w.getStart()), Long.toString(w.getEnd()), a,
                    ON_ELEMENT.get());
            out.collect(id + "\tR\t" + j);
        }
    }

    public static class EmitCount extends ProcessWindowFunction<Acc, String, String, GlobalWindow> {
        private final String id;

        EmitCount(String id) {
            this.id = id;
        }

        @Override
        public void process(String key, Context ctx, Iterable<Acc> in, Collector<String> out) {
            out.collect(id + "\tR\t" + json(key, "null", "null", in.iterator().next(), false));
        }
    }

    public static void main(String[] args) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(1);
        DataStream<String> all = null;
        for (String spec : Files.readAllLines(Paths.get(args[0]))) {
            if (spec.isBlank()) continue;
            String[] f = spec.split("\t");
            String id = f[0];
            String kind = f[1];
            long size = Long.parseLong(f[2]);
            long slide = Long.parseLong(f[3]);
            long offset = Long.parseLong(f[4]);
            long ooo = Long.parseLong(f[5]);
            long lateness = Long.parseLong(f[6]);
            List<Ev> events = new ArrayList<>();
            for (String line : Files.readAllLines(Paths.get(f[7]))) {
                if (!line.isBlank()) events.add(parse(line));
            }
            KeyedStream<Ev, String> keyed =
                    env.fromData(events)
                            .assignTimestampsAndWatermarks(
                                    WatermarkStrategy.<Ev>forGenerator(c -> new PerEvent(ooo))
                                            .withTimestampAssigner((e, t) -> e.ts))
                            .keyBy(e -> e.key);
            DataStream<String> results;
            if (kind.equals("count")) {
                results = keyed.countWindow(size).aggregate(new Aggs(false), new EmitCount(id));
            } else {
                WindowAssigner<Object, TimeWindow> assigner;
                switch (kind) {
                    case "tumbling":
                        assigner = TumblingEventTimeWindows.of(
                                Duration.ofMillis(size), Duration.ofMillis(offset));
                        break;
                    case "sliding":
                        assigner = SlidingEventTimeWindows.of(Duration.ofMillis(size),
                                Duration.ofMillis(slide), Duration.ofMillis(offset));
                        break;
                    default:
                        assigner = EventTimeSessionWindows.withGap(Duration.ofMillis(size));
                }
                OutputTag<Ev> lateTag = new OutputTag<Ev>("late-" + id) {};
                SingleOutputStreamOperator<String> r =
                        keyed.window(assigner)
                                .trigger(new Observed())
                                .allowedLateness(Duration.ofMillis(lateness))
                                .sideOutputLateData(lateTag)
                                .aggregate(new Aggs(true), new Emit(id));
                DataStream<String> late = r.getSideOutput(lateTag).map(e -> id + "\tL\t" + e.line);
                results = r.union(late);
            }
            all = all == null ? results : all.union(results);
        }
        try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(Paths.get(args[1])));
                CloseableIterator<String> it = all.executeAndCollect("sluice-conformance")) {
            while (it.hasNext()) {
                out.println(it.next());
            }
        }
    }
}
