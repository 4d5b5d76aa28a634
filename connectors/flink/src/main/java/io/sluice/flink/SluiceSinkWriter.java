package io.sluice.flink;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.metrics.Counter;

/**
 * The writer of one {@link SluiceSink} subtask: serializes records, routes them to one
 * {@link PublishChannel} per topic, and holds the task back when the relay is behind.
 *
 * <p>Contract: {@link #write} blocks while the writer's unacknowledged bytes are at the bound
 * (Flink's backpressure; nothing is dropped). {@link #flush} (called before every checkpoint
 * barrier and at the end of the input) returns once the relay has acknowledged every record
 * written before it, so a completed checkpoint implies the relay took every record before it:
 * at-least-once. The first fatal failure of any channel is thrown by the next {@code write} or
 * {@code flush}. With a fixed topic the writer connects when it opens and fails there if the
 * relay refuses it (401, 403, 404); an unreachable relay is retried in the background.
 */
final class SluiceSinkWriter<T> implements SinkWriter<T> {
    private final SluiceSink<T> sink;
    private final InFlight inFlight;
    private final RelayClient client;
    private final SinkMetrics metrics;
    private final Counter recordsOut;
    private final Counter bytesOut;
    private final String threadPrefix;
    /** Task thread only, except in flush and close (same thread). */
    private final Map<String, PublishChannel> channels = new HashMap<>();
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);

    private SluiceSinkWriter(SluiceSink<T> sink, WriterInitContext context) {
        this.sink = sink;
        this.inFlight = new InFlight(sink.maxInFlightBytes);
        int subtask = context.getTaskInfo().getIndexOfThisSubtask();
        this.threadPrefix = "sluice-sink-" + subtask;
        this.client = new RelayClient(threadPrefix, sink.token, sink.reconnect.connectTimeoutMillis);
        this.metrics = new SinkMetrics(context.metricGroup(), inFlight);
        this.recordsOut = context.metricGroup().getNumRecordsSendCounter();
        this.bytesOut = context.metricGroup().getNumBytesSendCounter();
    }

    static <T> SluiceSinkWriter<T> open(SluiceSink<T> sink, WriterInitContext context) throws IOException {
        try {
            sink.schema.open(context.asSerializationSchemaInitializationContext());
        } catch (Exception e) {
            throw new IOException("the serialization schema failed to open: " + e, e);
        }
        SluiceSinkWriter<T> w = new SluiceSinkWriter<>(sink, context);
        if (sink.topic != null) {
            PublishChannel ch = w.channel(sink.topic);
            try {
                ch.firstAttempt.get(sink.reconnect.connectTimeoutMillis + 10_000, TimeUnit.MILLISECONDS);
                w.inFlight.check();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                w.abort();
                throw new InterruptedIOException("interrupted while connecting to " + ch.what);
            } catch (ExecutionException | TimeoutException e) {
                // Still connecting: the channel carries on in the background.
            } catch (SluiceException e) {
                w.abort();
                throw e;
            }
        }
        return w;
    }

    @Override
    public void write(T element, Context context) throws IOException, InterruptedException {
        byte[] data = sink.schema.serialize(element);
        if (data == null) {
            throw new SluiceException("the serialization schema returned null for a record");
        }
        String topic = sink.topic != null ? sink.topic : sink.selector.topic(element);
        PublishChannel ch = channels.get(topic);
        if (ch == null) {
            ch = channel(topic);
        }
        PublishChannel.Record r;
        if (sink.messageType == MessageType.TEXT) {
            String text;
            try {
                text = utf8.decode(ByteBuffer.wrap(data)).toString();
            } catch (CharacterCodingException e) {
                throw new SluiceException("a record serialized to bytes that are not valid UTF-8 ("
                        + data.length + " bytes), so it cannot be a text message; "
                        + "use setMessageType(MessageType.BINARY) to send bytes");
            }
            r = new PublishChannel.Record(text, null, data.length);
        } else {
            r = new PublishChannel.Record(null, data, data.length);
        }
        inFlight.acquire(data.length);
        inFlight.lock.lock();
        try {
            ch.offer(r);
        } finally {
            inFlight.lock.unlock();
        }
        recordsOut.inc();
        bytesOut.inc(data.length);
    }

    @Override
    public void flush(boolean endOfInput) throws IOException, InterruptedException {
        inFlight.lock.lockInterruptibly();
        try {
            Map<PublishChannel, Long> targets = new HashMap<>();
            for (PublishChannel ch : channels.values()) {
                targets.put(ch, ch.lastSeq());
            }
            while (true) {
                inFlight.throwIfFailed();
                boolean done = true;
                for (Map.Entry<PublishChannel, Long> e : targets.entrySet()) {
                    done &= e.getKey().ackedThrough(e.getValue());
                }
                if (done) {
                    return;
                }
                inFlight.awaitProgress(1000);
            }
        } finally {
            inFlight.lock.unlock();
        }
    }

    @Override
    public void close() throws Exception {
        boolean clean = inFlight.records() == 0;
        for (PublishChannel ch : channels.values()) {
            ch.close(clean);
        }
        client.close();
    }

    private void abort() {
        try {
            for (PublishChannel ch : channels.values()) {
                ch.close(false);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        client.close();
    }

    private PublishChannel channel(String topic) throws SluiceException {
        if (sink.topic == null) {
            try {
                RelayEndpoint.checkTopic(topic);
            } catch (IllegalArgumentException e) {
                throw new SluiceException("the topic selector returned an invalid topic: " + e.getMessage());
            }
            if (channels.size() >= sink.maxTopics) {
                throw new SluiceException("the topic selector returned more than " + sink.maxTopics
                        + " distinct topics in one subtask (each holds a connection); raise the limit with setMaxTopics");
            }
        }
        PublishChannel ch = new PublishChannel(inFlight, client, sink.endpoint, topic, sink.reconnect,
                sink.ackTimeoutMillis, sink.maxInFlightBytes, metrics, threadPrefix + "-" + topic);
        channels.put(topic, ch);
        ch.start();
        return ch;
    }
}
