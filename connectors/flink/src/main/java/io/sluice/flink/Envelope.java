package io.sluice.flink;

/**
 * One message of the relay's {@code sluice.v1} envelope mode, as {@link EnvelopeScanner} read it:
 * a publication, or a control message.
 *
 * <pre>
 * {"topic":"prices","offset":42,"epoch":"7f3a9c1e5d2b4a60","data":{"px":1.5}}
 * {"type":"subscribed","topic":"prices","epoch":"…","offset":97}
 * {"type":"recovery","topic":"prices","recovered":true,"epoch":"…","from":43,"to":97}
 * {"type":"recovery","topic":"prices","recovered":false,"reason":"…","epoch":"…","offset":97,"oldest":60}
 * {"type":"gap","topic":"prices","from":44,"to":51,"reason":"…"}
 * {"type":"unsubscribed","topic":"x"}
 * {"type":"error","topic":"x","reason":"…"}
 * </pre>
 *
 * <p>Contract: {@link #kind} says which fields are set; a field a kind does not have is
 * {@code null}, 0 or false. The scanner checks that every field a kind needs is there with the
 * right JSON type, so code that reads an envelope never meets a missing one.
 */
final class Envelope {
    /** What a message is. */
    enum Kind {
        /** A publication: {@link #topic}, {@link #offset}, {@link #epoch}, {@link #payload}. */
        PUBLICATION,
        /** A subscription without a position started: live messages after {@link #offset}. */
        SUBSCRIBED,
        /**
         * The answer to a resume: {@link #recovered} with {@link #from}/{@link #to}, or not, with
         * {@link #reason}, {@link #offset} (the top now) and {@link #oldest} (the oldest kept).
         */
        RECOVERY,
        /** Offsets {@link #from} to {@link #to} will not be delivered ({@link #reason}). */
        GAP,
        /** The answer to an {@code unsubscribe} command. */
        UNSUBSCRIBED,
        /** A command could not be done ({@link #reason}; {@link #topic} may be null). */
        ERROR,
        /** A control message of a type this connector does not know (a newer relay): ignored. */
        OTHER
    }

    Kind kind;
    /** The {@code type} of a control message; null for a publication. */
    String type;
    String topic;
    String epoch;
    /** A publication's offset; the top offset of {@code subscribed} and of a refused recovery. */
    long offset;
    /** A publication's payload: the JSON text's exact bytes, a string's UTF-8, or decoded base64. */
    byte[] payload;
    /** The payload came as {@code data_b64}: it was a binary message. */
    boolean binary;
    /** A window result's watermark (ms), or null. */
    Long watermark;
    /** A window result's {@code final}, or null. */
    Boolean last;
    /** Messages a {@code latest}-policy value replaced; 0: none. */
    long conflated;
    boolean recovered;
    String reason;
    long from;
    long to;
    long oldest;

    @Override
    public String toString() {
        if (kind == Kind.PUBLICATION) {
            return "publication " + topic + "@" + epoch + ":" + offset + " (" + payload.length + " bytes"
                    + (binary ? ", binary" : "") + ")";
        }
        return type + " " + topic + " epoch=" + epoch + " recovered=" + recovered + " reason=" + reason
                + " offset=" + offset + " oldest=" + oldest + " from=" + from + " to=" + to;
    }
}
