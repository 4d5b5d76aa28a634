package io.sluice.flink;

import java.io.IOException;

/**
 * A failure of a {@link SluiceSink} or {@link SluiceSource} that retrying cannot fix: the relay
 * refused the connection (HTTP 401, 403, 404, 400), TLS failed, the relay closed the connection
 * because of a record it cannot take (a message over its size limit), or the relay stayed
 * unreachable past the configured reconnect limit. The message names the relay URL, the topic
 * and the cause. Flink's restart strategy decides what happens to the job next.
 */
public class SluiceException extends IOException {
    private static final long serialVersionUID = 1L;

    /** A failure with this message. */
    public SluiceException(String message) {
        super(message);
    }

    /** A failure with this message and cause. */
    public SluiceException(String message, Throwable cause) {
        super(message, cause);
    }
}
