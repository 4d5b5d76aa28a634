package io.sluice.flink;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * A Flink source that subscribes to topics of a Sluice relay over its {@code /sub/<topic>}
 * WebSocket endpoint. Unbounded, one split per topic.
 *
 * <pre>{@code
 * SluiceSource<String> source = SluiceSource.<String>builder()
 *     .setUrl("ws://127.0.0.1:8080")
 *     .setTopics("events")
 *     .setDeserializationSchema(new SimpleStringSchema())
 *     .build();
 * env.fromSource(source, WatermarkStrategy.noWatermarks(), "sluice");
 * }</pre>
 *
 * <p>The source subscribes in the relay's envelope mode ({@code sluice.v1}), so every message
 * comes with its topic's stream position (epoch and offset). Checkpoints store, per topic, the
 * position of the last record emitted; a restored job, and a subscription that reconnects
 * inside a running job, resume after it with {@code ?since=<epoch>:<offset>}, and the relay
 * replays the gap from its history: nothing is missed and nothing is repeated, as long as the
 * relay still keeps the gap. When it does not ({@code recovered:false}: the gap is older than
 * the history, larger than {@code max_recovery}, or the relay restarted), the source reads
 * everything the relay still keeps of the stream and goes on; each such loss, and each
 * {@code gap} the relay announces, is logged at {@code WARN} with its offsets and counted
 * ({@code sluice.recoveriesRefused}, {@code sluice.gaps}, {@code sluice.recordsMissed}). A
 * record for which the deserialization schema's {@code isEndOfStream} returns true ends its
 * topic (and the job, once every topic has ended).
 *
 * @param <T> the record type
 */
public final class SluiceSource<T>
        implements Source<T, SluiceTopicSplit, SluiceEnumeratorState>, ResultTypeQueryable<T> {
    private static final long serialVersionUID = 1L;

    final RelayEndpoint endpoint;
    final List<String> topics;
    final DeserializationSchema<T> schema;
    final String token;
    final Reconnect reconnect;
    final long maxQueuedBytes;

    SluiceSource(RelayEndpoint endpoint, List<String> topics, DeserializationSchema<T> schema, String token,
            Reconnect reconnect, long maxQueuedBytes) {
        this.endpoint = endpoint;
        this.topics = new ArrayList<>(topics);
        this.schema = schema;
        this.token = token;
        this.reconnect = reconnect;
        this.maxQueuedBytes = maxQueuedBytes;
    }

    /** A builder; see {@link SluiceSourceBuilder} for the settings and their defaults. */
    public static <T> SluiceSourceBuilder<T> builder() {
        return new SluiceSourceBuilder<>();
    }

    @Override
    public Boundedness getBoundedness() {
        return Boundedness.CONTINUOUS_UNBOUNDED;
    }

    @Override
    public SourceReader<T, SluiceTopicSplit> createReader(SourceReaderContext context) throws Exception {
        return new SluiceSourceReader<>(this, context);
    }

    @Override
    public SplitEnumerator<SluiceTopicSplit, SluiceEnumeratorState> createEnumerator(
            SplitEnumeratorContext<SluiceTopicSplit> context) {
        return new SluiceSplitEnumerator(context, topics, null);
    }

    @Override
    public SplitEnumerator<SluiceTopicSplit, SluiceEnumeratorState> restoreEnumerator(
            SplitEnumeratorContext<SluiceTopicSplit> context, SluiceEnumeratorState checkpoint) {
        return new SluiceSplitEnumerator(context, topics, checkpoint);
    }

    @Override
    public SimpleVersionedSerializer<SluiceTopicSplit> getSplitSerializer() {
        return new SluiceTopicSplitSerializer();
    }

    @Override
    public SimpleVersionedSerializer<SluiceEnumeratorState> getEnumeratorCheckpointSerializer() {
        return new SluiceEnumeratorState.Serializer();
    }

    @Override
    public TypeInformation<T> getProducedType() {
        return schema.getProducedType();
    }

    @Override
    public String toString() {
        return "SluiceSource{" + endpoint + "/sub/" + String.join(",", topics) + "}";
    }
}
