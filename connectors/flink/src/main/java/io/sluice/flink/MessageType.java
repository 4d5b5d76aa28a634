package io.sluice.flink;

/**
 * How {@link SluiceSink} sends the bytes of a serialized record: as a WebSocket text message
 * (the default; browsers receive a string) or a binary message (browsers receive a
 * {@code Blob} or {@code ArrayBuffer}). Text records must be valid UTF-8: the relay closes a
 * connection that sends invalid text, so the sink checks every record and fails with a clear
 * error instead.
 */
public enum MessageType {
    /** A WebSocket text message: the serialized bytes must be UTF-8. */
    TEXT,
    /** A WebSocket binary message: any bytes. */
    BINARY
}
