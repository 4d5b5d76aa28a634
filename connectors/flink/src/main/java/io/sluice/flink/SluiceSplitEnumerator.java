package io.sluice.flink;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;

/**
 * Assigns the topics of a {@link SluiceSource} to its readers: topic {@code i} (in the order
 * given to {@code setTopics}) goes to reader {@code i % parallelism}, when that reader
 * registers; then the reader is told there are no more splits. A split handed back after a
 * reader failure goes to the same reader again when it comes back.
 */
final class SluiceSplitEnumerator implements SplitEnumerator<SluiceTopicSplit, SluiceEnumeratorState> {
    private final SplitEnumeratorContext<SluiceTopicSplit> context;
    private final List<String> order;
    private final List<SluiceTopicSplit> pending;

    SluiceSplitEnumerator(SplitEnumeratorContext<SluiceTopicSplit> context, List<String> order,
            List<SluiceTopicSplit> pending) {
        this.context = context;
        this.order = order;
        this.pending = new ArrayList<>(pending);
    }

    @Override
    public void start() {}

    @Override
    public void handleSplitRequest(int subtaskId, String requesterHostname) {}

    @Override
    public void addSplitsBack(List<SluiceTopicSplit> splits, int subtaskId) {
        // The failed reader registers again (addReader) and gets them back then.
        pending.addAll(splits);
    }

    @Override
    public void addReader(int subtaskId) {
        assign(subtaskId);
    }

    private void assign(int subtaskId) {
        int parallelism = context.currentParallelism();
        Iterator<SluiceTopicSplit> it = pending.iterator();
        while (it.hasNext()) {
            SluiceTopicSplit s = it.next();
            int index = Math.max(0, order.indexOf(s.topic()));
            if (index % parallelism == subtaskId) {
                context.assignSplit(s, subtaskId);
                it.remove();
            }
        }
        context.signalNoMoreSplits(subtaskId);
    }

    @Override
    public SluiceEnumeratorState snapshotState(long checkpointId) {
        return new SluiceEnumeratorState(pending);
    }

    @Override
    public void close() {}
}
