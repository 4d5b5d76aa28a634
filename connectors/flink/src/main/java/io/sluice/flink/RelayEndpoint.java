package io.sluice.flink;

import java.io.Serializable;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;

/**
 * The relay's address and the WebSocket URLs built from it.
 *
 * <p>Contract: {@link #parse} accepts only {@code ws://} and {@code wss://} URLs with a host, and
 * throws {@link IllegalArgumentException} with a message naming the problem otherwise, so a bad
 * URL fails when the sink or source is built, not when the job runs. A path in the base URL (a
 * relay behind a reverse proxy at {@code /sluice}) is kept: publishing goes to
 * {@code <path>/pub/<topic>}, subscribing to {@code <path>/sub/<topic>}. A query string is kept
 * too and appended after the endpoint path (before a subscription's own {@code since}).
 */
final class RelayEndpoint implements Serializable {
    private static final long serialVersionUID = 1L;

    /** The longest topic name the relay accepts, in bytes. */
    static final int MAX_TOPIC_BYTES = 128;

    private final String scheme;
    private final String authority;
    private final String basePath;
    private final String query;

    private RelayEndpoint(String scheme, String authority, String basePath, String query) {
        this.scheme = scheme;
        this.authority = authority;
        this.basePath = basePath;
        this.query = query;
    }

    /** Check and parse a relay URL such as {@code ws://127.0.0.1:8080}. */
    static RelayEndpoint parse(String url) {
        if (url == null || url.isBlank()) {
            throw new IllegalArgumentException("the relay URL is not set: call setUrl(\"ws://host:port\")");
        }
        URI uri;
        try {
            uri = new URI(url.trim());
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("the relay URL '" + url + "' is not a valid URL: " + e.getMessage());
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase();
        if (!scheme.equals("ws") && !scheme.equals("wss")) {
            throw new IllegalArgumentException("the relay URL '" + url
                    + "' must start with ws:// or wss:// (the relay speaks WebSocket), not '"
                    + (scheme.isEmpty() ? "(no scheme)" : scheme + "://") + "'");
        }
        if (uri.getHost() == null || uri.getHost().isEmpty()) {
            throw new IllegalArgumentException("the relay URL '" + url + "' has no host (or an invalid port)");
        }
        if (uri.getPort() > 65535) {
            throw new IllegalArgumentException("the relay URL '" + url + "' has an invalid port");
        }
        if (uri.getRawFragment() != null) {
            throw new IllegalArgumentException("the relay URL '" + url + "' must not have a #fragment");
        }
        if (uri.getRawUserInfo() != null) {
            throw new IllegalArgumentException("the relay URL '" + url
                    + "' must not carry user:password; use setToken for a bearer token");
        }
        String path = uri.getRawPath() == null ? "" : uri.getRawPath();
        while (path.endsWith("/")) {
            path = path.substring(0, path.length() - 1);
        }
        if (path.endsWith("/pub") || path.endsWith("/sub") || path.contains("/pub/") || path.contains("/sub/")) {
            throw new IllegalArgumentException("the relay URL '" + url
                    + "' must be the relay's address (ws://host:port), without /pub or /sub: "
                    + "the topic is set with setTopic/setTopics");
        }
        return new RelayEndpoint(scheme, uri.getRawAuthority(), path, uri.getRawQuery());
    }

    /** Check a topic name: 1-128 bytes of {@code [A-Za-z0-9._:-]}, as the relay requires. */
    static String checkTopic(String topic) {
        if (topic == null || topic.isEmpty()) {
            throw new IllegalArgumentException("a topic name must not be empty");
        }
        if (topic.getBytes(StandardCharsets.UTF_8).length > MAX_TOPIC_BYTES) {
            throw new IllegalArgumentException("the topic name '" + topic + "' is longer than "
                    + MAX_TOPIC_BYTES + " bytes");
        }
        for (int i = 0; i < topic.length(); i++) {
            char c = topic.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '.' || c == '_' || c == ':' || c == '-';
            if (!ok) {
                throw new IllegalArgumentException("the topic name '" + topic
                        + "' has the character '" + c + "': a topic is 1-128 of A-Z a-z 0-9 . _ : -");
            }
        }
        return topic;
    }

    /** The URL that publishes to {@code topic}. */
    URI publish(String topic) {
        return endpoint("/pub/" + topic);
    }

    /**
     * The URL that subscribes to {@code topic}, resuming after {@code since}
     * ({@code <epoch>:<offset>}) if it is not null.
     */
    URI subscribe(String topic, String since) {
        return endpoint("/sub/" + topic, since == null ? null : "since=" + since);
    }

    private URI endpoint(String path) {
        return endpoint(path, null);
    }

    private URI endpoint(String path, String more) {
        String q = query == null ? more : more == null ? query : query + "&" + more;
        return URI.create(scheme + "://" + authority + basePath + path + (q == null ? "" : "?" + q));
    }

    @Override
    public String toString() {
        return scheme + "://" + authority + basePath;
    }
}
