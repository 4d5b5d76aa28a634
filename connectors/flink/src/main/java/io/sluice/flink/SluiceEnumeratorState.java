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
 * The enumerator's checkpoint: the splits not yet assigned to a reader (assigned splits are in
 * their reader's own state).
 */
public final class SluiceEnumeratorState {
    private final List<SluiceTopicSplit> pending;

    /** A state with these unassigned splits. */
    public SluiceEnumeratorState(List<SluiceTopicSplit> pending) {
        this.pending = Collections.unmodifiableList(new ArrayList<>(pending));
    }

    /** The splits not yet assigned. */
    public List<SluiceTopicSplit> pending() {
        return pending;
    }

    /** Writes the state: a count, then each split as {@link SluiceTopicSplitSerializer} does. */
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
                return new SluiceEnumeratorState(pending);
            }
        }
    }
}
