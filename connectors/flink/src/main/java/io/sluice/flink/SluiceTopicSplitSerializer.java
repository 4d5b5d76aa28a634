package io.sluice.flink;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * Writes a {@link SluiceTopicSplit} into checkpoints. Version 1: the topic name
 * ({@code writeUTF}). A later version will add the stream position after it; this version's
 * bytes will then still be read, as a split with no position.
 */
public final class SluiceTopicSplitSerializer implements SimpleVersionedSerializer<SluiceTopicSplit> {
    static final int VERSION = 1;

    @Override
    public int getVersion() {
        return VERSION;
    }

    @Override
    public byte[] serialize(SluiceTopicSplit split) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeUTF(split.topic());
        }
        return bytes.toByteArray();
    }

    @Override
    public SluiceTopicSplit deserialize(int version, byte[] serialized) throws IOException {
        if (version != VERSION) {
            throw new IOException("unknown SluiceTopicSplit version " + version + " (this connector reads version "
                    + VERSION + ")");
        }
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(serialized))) {
            return new SluiceTopicSplit(in.readUTF());
        }
    }
}
