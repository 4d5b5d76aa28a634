// The Java side of tests/flink_split_state.rs: what a SluiceSource checkpoint holds. Splits are
// written in version 2 (topic and position) and read back equal; bytes of version 1 (the topic
// alone, written by connector versions without positions) still read, as splits without a
// position; the enumerator's state follows the split version; an unknown version is an error.
//
//   java SplitStateTest     prints `PASSED n`; a failure exits non-zero

import io.sluice.flink.SluiceEnumeratorState;
import io.sluice.flink.SluiceTopicSplit;
import io.sluice.flink.SluiceTopicSplitSerializer;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.List;

public class SplitStateTest {
    private static int passed;

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
        passed++;
    }

    /** Bytes as connector versions without positions wrote a split: the topic alone. */
    private static byte[] version1(String topic) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(b)) {
            out.writeUTF(topic);
        }
        return b.toByteArray();
    }

    public static void main(String[] args) throws Exception {
        SluiceTopicSplitSerializer splits = new SluiceTopicSplitSerializer();
        check(splits.getVersion() == 2, "splits are written in version 2");
        for (SluiceTopicSplit s : List.of(new SluiceTopicSplit("events"),
                new SluiceTopicSplit("events", "7f3a9c1e5d2b4a60", 42),
                new SluiceTopicSplit("a.b:c-d_e", "7f3a9c1e5d2b4a60", 0),
                new SluiceTopicSplit("events", "7f3a9c1e5d2b4a60", Long.MAX_VALUE))) {
            SluiceTopicSplit back = splits.deserialize(2, splits.serialize(s));
            check(back.equals(s) && back.splitId().equals(s.topic()), "version 2 round trip of " + s + ": " + back);
        }

        SluiceTopicSplit old = splits.deserialize(1, version1("events"));
        check(old.topic().equals("events") && old.epoch() == null && old.offset() == 0,
                "a version 1 split reads as its topic without a position: " + old);

        SluiceEnumeratorState.Serializer states = new SluiceEnumeratorState.Serializer();
        check(states.getVersion() == 2, "the enumerator state follows the split version");
        SluiceEnumeratorState state = new SluiceEnumeratorState(
                List.of(new SluiceTopicSplit("alerts", "00000000000000e1", 7)), List.of("events"));
        SluiceEnumeratorState back = states.deserialize(2, states.serialize(state));
        check(back.pending().equals(state.pending()) && back.assigned().equals(state.assigned()),
                "version 2 enumerator state round trip");

        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(b)) {
            byte[] split = version1("alerts");
            out.writeInt(1);
            out.writeInt(split.length);
            out.write(split);
            out.writeInt(1);
            out.writeUTF("events");
        }
        SluiceEnumeratorState v1 = states.deserialize(1, b.toByteArray());
        check(v1.pending().equals(List.of(new SluiceTopicSplit("alerts"))) && v1.assigned().equals(List.of("events")),
                "a version 1 enumerator state reads");

        try {
            splits.deserialize(3, splits.serialize(new SluiceTopicSplit("events")));
            throw new AssertionError("read a split of an unknown version");
        } catch (IOException expected) {
            check(expected.getMessage().contains("unknown SluiceTopicSplit version 3"), expected.getMessage());
        }
        try {
            new SluiceTopicSplit("events", "e", -1);
            throw new AssertionError("accepted a negative offset");
        } catch (IllegalArgumentException expected) {
            passed++;
        }
        System.out.println("PASSED " + passed);
    }
}
