package io.sluice.flink;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * Writes a {@link SluiceTopicSplit} into checkpoints.
 *
 * <ul>
 *   <li>Version 2 (written): the topic name ({@code writeUTF}), a boolean "has a position", and
 *       if it has one the epoch ({@code writeUTF}) and the offset ({@code writeLong}).
 *   <li>Version 1 (read, from checkpoints of connector versions without positions): the topic
 *       name alone, read as a split without a position.
 * </ul>
 */
public final class SluiceTopicSplitSerializer implements SimpleVersionedSerializer<SluiceTopicSplit> {
    static final int VERSION = 2;

    @Override
    public int getVersion() {
        return VERSION;
    }

    @Override
    public byte[] serialize(SluiceTopicSplit split) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeUTF(split.topic());
            out.writeBoolean(split.epoch() != null);
            if (split.epoch() != null) {
                out.writeUTF(split.epoch());
                out.writeLong(split.offset());
            }
        }
        return bytes.toByteArray();
    }

    @Override
    public SluiceTopicSplit deserialize(int version, byte[] serialized) throws IOException {
        if (version != 1 && version != 2) {
            throw new IOException("unknown SluiceTopicSplit version " + version + " (this connector reads versions 1 and "
                    + VERSION + ")");
        }
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(serialized))) {
            String topic = in.readUTF();
            if (version == 1 || !in.readBoolean()) {
                return new SluiceTopicSplit(topic);
            }
            String epoch = in.readUTF();
            return new SluiceTopicSplit(topic, epoch, in.readLong());
        }
    }
}
