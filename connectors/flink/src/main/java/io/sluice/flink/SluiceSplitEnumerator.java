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
 * reader failure goes to the same reader again when it comes back. Restored from a checkpoint,
 * it keeps what was pending, adds the configured topics it had never assigned, and drops
 * pending topics that are no longer configured (readers drop such restored splits too).
 */
final class SluiceSplitEnumerator implements SplitEnumerator<SluiceTopicSplit, SluiceEnumeratorState> {
    private final SplitEnumeratorContext<SluiceTopicSplit> context;
    private final List<String> order;
    private final List<SluiceTopicSplit> pending = new ArrayList<>();
    private final List<String> assigned = new ArrayList<>();

    SluiceSplitEnumerator(SplitEnumeratorContext<SluiceTopicSplit> context, List<String> order,
            SluiceEnumeratorState restored) {
        this.context = context;
        this.order = order;
        List<String> known = new ArrayList<>();
        if (restored != null) {
            for (SluiceTopicSplit s : restored.pending()) {
                known.add(s.topic());
                if (order.contains(s.topic())) {
                    pending.add(s);
                }
            }
            known.addAll(restored.assigned());
            for (String t : restored.assigned()) {
                if (order.contains(t)) {
                    assigned.add(t);
                }
            }
        }
        for (String t : order) {
            if (!known.contains(t)) {
                pending.add(new SluiceTopicSplit(t));
            }
        }
    }

    @Override
    public void start() {}

    @Override
    public void handleSplitRequest(int subtaskId, String requesterHostname) {}

    @Override
    public void addSplitsBack(List<SluiceTopicSplit> splits, int subtaskId) {
        // The failed reader registers again (addReader) and gets them back then.
        for (SluiceTopicSplit s : splits) {
            assigned.remove(s.topic());
            pending.add(s);
        }
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
                assigned.add(s.topic());
                it.remove();
            }
        }
        context.signalNoMoreSplits(subtaskId);
    }

    @Override
    public SluiceEnumeratorState snapshotState(long checkpointId) {
        return new SluiceEnumeratorState(pending, assigned);
    }

    @Override
    public void close() {}
}
