package io.sluice.flink;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * The enumerator's checkpoint: the splits not yet assigned to a reader, and the topics already
 * assigned (whose splits are in their readers' own state). A job restored with more topics in
 * {@code setTopics} gets splits for the new ones.
 */
public final class SluiceEnumeratorState {
    private final List<SluiceTopicSplit> pending;
    private final List<String> assigned;

    /** A state with these unassigned splits and these assigned topics. */
    public SluiceEnumeratorState(List<SluiceTopicSplit> pending, List<String> assigned) {
        this.pending = Collections.unmodifiableList(new ArrayList<>(pending));
        this.assigned = Collections.unmodifiableList(new ArrayList<>(assigned));
    }

    /** The splits not yet assigned. */
    public List<SluiceTopicSplit> pending() {
        return pending;
    }

    /** The topics already assigned to readers. */
    public List<String> assigned() {
        return assigned;
    }

    /**
     * Writes the state: the pending splits (a count, then each as
     * {@link SluiceTopicSplitSerializer} does), then the assigned topics (a count, then each
     * name). Its version is the split serializer's, and it reads every version that one reads.
     */
    public static final class Serializer implements SimpleVersionedSerializer<SluiceEnumeratorState> {
        private final SluiceTopicSplitSerializer splits = new SluiceTopicSplitSerializer();

        @Override
        public int getVersion() {
            return SluiceTopicSplitSerializer.VERSION;
        }

        @Override
        public byte[] serialize(SluiceEnumeratorState state) throws IOException {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (DataOutputStream out = new DataOutputStream(bytes)) {
                out.writeInt(state.pending.size());
                for (SluiceTopicSplit s : state.pending) {
                    byte[] b = splits.serialize(s);
                    out.writeInt(b.length);
                    out.write(b);
                }
                out.writeInt(state.assigned.size());
                for (String t : state.assigned) {
                    out.writeUTF(t);
                }
            }
            return bytes.toByteArray();
        }

        @Override
        public SluiceEnumeratorState deserialize(int version, byte[] serialized) throws IOException {
            try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(serialized))) {
                int n = in.readInt();
                List<SluiceTopicSplit> pending = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    byte[] b = new byte[in.readInt()];
                    in.readFully(b);
                    pending.add(splits.deserialize(version, b));
                }
                int m = in.readInt();
                List<String> assigned = new ArrayList<>(m);
                for (int i = 0; i < m; i++) {
                    assigned.add(in.readUTF());
                }
                return new SluiceEnumeratorState(pending, assigned);
            }
        }
    }
}
