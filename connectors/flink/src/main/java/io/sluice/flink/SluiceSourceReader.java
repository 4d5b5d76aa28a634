package io.sluice.flink;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.SourceOutput;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.core.io.InputStatus;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.util.Collector;
import org.apache.flink.util.UserCodeClassLoader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The reader of one {@link SluiceSource} subtask: one {@link SubscribeChannel} per assigned
 * topic, all feeding one bounded {@link ReceiveQueue} that the task thread drains.
 *
 * <p>Contract: records of one topic are emitted in the order of the topic's stream, each topic
 * through its own split output (so watermarks are generated per topic). Each split's state is
 * the position (epoch and offset) of the last message the task took: a checkpoint stores
 * exactly what was emitted before it, and a restored split resumes after it. A record for
 * which the schema's {@code isEndOfStream} is true ends its topic's split: it is not emitted,
 * the subscription is closed, and once every split has ended and the enumerator has no more,
 * the reader reports the end of its input. A channel's fatal failure is thrown from
 * {@link #pollNext}, failing the task with its message.
 */
final class SluiceSourceReader<T> implements SourceReader<T, SluiceTopicSplit> {
    private static final Logger LOG = LoggerFactory.getLogger(SluiceSourceReader.class);
    private final SluiceSource<T> source;
    private final SourceReaderContext context;
    private final ReceiveQueue queue;
    private final RelayClient client;
    private final SourceMetrics metrics;
    private final Map<String, SubscribeChannel> channels = new LinkedHashMap<>();
    private final Map<String, SourceOutput<T>> outputs = new LinkedHashMap<>();
    /** Each read topic's split, at the position of the last message taken from the queue. */
    private final Map<String, SluiceTopicSplit> positions = new LinkedHashMap<>();
    private final SplitCollector collector = new SplitCollector();
    private boolean noMoreSplits;

    SluiceSourceReader(SluiceSource<T> source, SourceReaderContext context) throws Exception {
        this.source = source;
        this.context = context;
        this.queue = new ReceiveQueue(source.maxQueuedBytes);
        this.metrics = new SourceMetrics(context.metricGroup(), queue);
        this.client = new RelayClient("sluice-source-" + context.getIndexOfSubtask(), source.token,
                source.reconnect.connectTimeoutMillis);
        source.schema.open(new DeserializationSchema.InitializationContext() {
            @Override
            public MetricGroup getMetricGroup() {
                return context.metricGroup().addGroup("deserializer");
            }

            @Override
            public UserCodeClassLoader getUserCodeClassLoader() {
                return context.getUserCodeClassLoader();
            }
        });
    }

    @Override
    public void start() {}

    @Override
    public InputStatus pollNext(ReaderOutput<T> output) throws Exception {
        queue.throwIfFailed();
        ReceiveQueue.Message m = queue.poll();
        if (m != null) {
            String topic = m.channel.topic;
            if (channels.get(topic) == m.channel) {
                boolean ended = false;
                if (m.data != null) {
                    SourceOutput<T> out = outputs.get(topic);
                    if (out == null) {
                        out = output.createOutputForSplit(topic);
                        outputs.put(topic, out);
                    }
                    collector.out = out;
                    collector.ended = false;
                    source.schema.deserialize(m.data, collector);
                    ended = collector.ended;
                }
                if (ended) {
                    finish(topic, output);
                } else {
                    positions.put(topic, positions.get(topic).at(m.epoch, m.offset));
                }
            }
        }
        if (!queue.isEmpty()) {
            return InputStatus.MORE_AVAILABLE;
        }
        return noMoreSplits && channels.isEmpty() ? InputStatus.END_OF_INPUT : InputStatus.NOTHING_AVAILABLE;
    }

    private void finish(String topic, ReaderOutput<T> output) throws InterruptedException {
        SubscribeChannel ch = channels.remove(topic);
        positions.remove(topic);
        if (ch != null) {
            ch.close();
        }
        if (outputs.remove(topic) != null) {
            output.releaseOutputForSplit(topic);
        }
    }

    @Override
    public List<SluiceTopicSplit> snapshotState(long checkpointId) {
        return new ArrayList<>(positions.values());
    }

    @Override
    public CompletableFuture<Void> isAvailable() {
        return queue.available();
    }

    @Override
    public void addSplits(List<SluiceTopicSplit> splits) {
        for (SluiceTopicSplit s : splits) {
            if (channels.containsKey(s.topic())) {
                continue;
            }
            if (!source.topics.contains(s.topic())) {
                LOG.info("not reading restored topic {}: it is no longer in setTopics", s.topic());
                continue;
            }
            if (s.epoch() != null) {
                LOG.info("reading topic {} after offset {} of stream {}", s.topic(), s.offset(), s.epoch());
            }
            SubscribeChannel ch = new SubscribeChannel(s, source.endpoint, client, source.reconnect, queue,
                    metrics, "sluice-source-" + context.getIndexOfSubtask() + "-" + s.topic());
            channels.put(s.topic(), ch);
            positions.put(s.topic(), s);
            ch.start();
        }
    }

    @Override
    public void notifyNoMoreSplits() {
        noMoreSplits = true;
        queue.wakeUp();
    }

    @Override
    public void close() throws Exception {
        for (SubscribeChannel ch : channels.values()) {
            ch.close();
        }
        channels.clear();
        client.close();
    }

    /** Emits deserialized records to the current split's output, watching for the end marker. */
    private final class SplitCollector implements Collector<T> {
        SourceOutput<T> out;
        boolean ended;

        @Override
        public void collect(T record) {
            if (ended) {
                return;
            }
            if (source.schema.isEndOfStream(record)) {
                ended = true;
                return;
            }
            out.collect(record);
        }

        @Override
        public void close() {}
    }
}
