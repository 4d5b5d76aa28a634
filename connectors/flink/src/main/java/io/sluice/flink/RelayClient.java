package io.sluice.flink;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpTimeoutException;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.channels.UnresolvedAddressException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLException;

/**
 * Opens WebSocket connections to the relay with the JDK's client, and says why one failed.
 *
 * <p>Contract: {@link #open} makes one attempt, bounded by the connect timeout (TCP connect, TLS
 * and the WebSocket handshake together), and either returns an open WebSocket or throws a
 * {@link Failure} that says whether trying again can help: an HTTP 4xx answer to the handshake
 * (401 no valid token, 403 no right to the topic, 404 wrong path, 400 bad request) and a TLS
 * failure (certificate not trusted, wrong host name) are fatal; a refused or reset connection,
 * a timeout, a 5xx (a relay at its connection limit answers 503) are not. The bearer token, if
 * any, is sent as {@code Authorization: Bearer <token>} and never appears in a message. One
 * client per sink writer or source reader; {@link #close} stops its threads.
 */
final class RelayClient implements AutoCloseable {
    private final ExecutorService executor;
    private final HttpClient http;
    private final String token;
    private final long connectTimeoutMillis;

    /** Why an attempt failed, and whether another attempt can help. */
    static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;
        final boolean fatal;

        Failure(String message, boolean fatal, Throwable cause) {
            super(message, cause);
            this.fatal = fatal;
        }
    }

    RelayClient(String threadName, String token, long connectTimeoutMillis) {
        AtomicInteger n = new AtomicInteger();
        ThreadFactory threads = r -> {
            Thread t = new Thread(r, threadName + "-http-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
        this.executor = Executors.newCachedThreadPool(threads);
        this.http = HttpClient.newBuilder()
                .executor(executor)
                .connectTimeout(Duration.ofMillis(connectTimeoutMillis))
                .build();
        this.token = token;
        this.connectTimeoutMillis = connectTimeoutMillis;
    }

    /**
     * One connection attempt to {@code uri}; {@code what} names it in messages (for example
     * "ws://relay:8080/pub/results"), since the URI itself may carry a query with secrets.
     */
    WebSocket open(URI uri, String what, WebSocket.Listener listener) throws Failure, InterruptedException {
        return open(uri, what, listener, null);
    }

    /** {@link #open(URI, String, WebSocket.Listener)}, offering {@code subprotocol} if not null. */
    WebSocket open(URI uri, String what, WebSocket.Listener listener, String subprotocol)
            throws Failure, InterruptedException {
        WebSocket.Builder b = http.newWebSocketBuilder().connectTimeout(Duration.ofMillis(connectTimeoutMillis));
        if (subprotocol != null) {
            b.subprotocols(subprotocol);
        }
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        CompletableFuture<WebSocket> f = b.buildAsync(uri, listener);
        try {
            // The builder's timeout bounds the handshake; this bounds everything else too.
            return f.get(connectTimeoutMillis + 5000, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.thenAccept(WebSocket::abort);
            f.cancel(true);
            throw new Failure(what + ": no answer within " + connectTimeoutMillis + " ms", false, e);
        } catch (InterruptedException e) {
            f.thenAccept(WebSocket::abort);
            throw e;
        } catch (ExecutionException e) {
            throw classify(what, e.getCause() == null ? e : e.getCause());
        }
    }

    /** Turn what the JDK threw into a {@link Failure} with a message a user can act on. */
    static Failure classify(String what, Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof WebSocketHandshakeException) {
                WebSocketHandshakeException h = (WebSocketHandshakeException) c;
                int status = h.getResponse() == null ? 0 : h.getResponse().statusCode();
                return refused(what, status, h);
            }
            if (c instanceof SSLException) {
                return new Failure(what + ": TLS failed (" + c.getMessage()
                        + "); check the relay's certificate and that the URL's host matches it", true, e);
            }
            if (c instanceof HttpTimeoutException) {
                return new Failure(what + ": no answer within the connect timeout", false, e);
            }
            if (c instanceof ConnectException) {
                return new Failure(what + ": connection refused (is the relay running?)", false, e);
            }
            if (c instanceof UnknownHostException || c instanceof UnresolvedAddressException) {
                return new Failure(what + ": cannot resolve the host name", false, e);
            }
        }
        String detail = e.getMessage() == null ? e.getClass().getSimpleName() : e.getClass().getSimpleName() + ": " + e.getMessage();
        return new Failure(what + ": " + detail, false, e);
    }

    /** The failure for an HTTP answer instead of {@code 101 Switching Protocols}. */
    static Failure refused(String what, int status, Throwable cause) {
        String why;
        boolean fatal = status >= 400 && status < 500 && status != 408 && status != 429;
        switch (status) {
            case 401:
                why = "the relay requires a valid token and none was accepted (set one with setToken; "
                        + "a JWT may have expired)";
                break;
            case 403:
                why = "the token does not give the right to this topic (or the Origin is not allowed)";
                break;
            case 404:
                why = "no WebSocket endpoint at this path: the URL must be the relay's address, such as ws://host:8080";
                break;
            case 400:
                why = "the relay refused the request (an invalid topic name, or more topics than it allows)";
                break;
            case 503:
                why = "the relay is at its connection limit";
                break;
            default:
                why = fatal ? "the relay refused the upgrade" : "the relay could not accept the connection now";
        }
        return new Failure(what + ": HTTP " + status + ": " + why, fatal, cause);
    }

    @Override
    public void close() {
        executor.shutdownNow();
        // Java 21 added HttpClient.shutdownNow(); on older JDKs the client's selector thread ends
        // once the client is unreachable.
        try {
            HttpClient.class.getMethod("shutdownNow").invoke(http);
        } catch (ReflectiveOperationException | RuntimeException ignored) {
            // Not available on this JDK.
        }
    }

    /** A message for an I/O error on an open connection. */
    static String describe(Throwable e) {
        if (e == null) {
            return "unknown error";
        }
        if (e instanceof ExecutionException && e.getCause() != null) {
            e = e.getCause();
        }
        String m = e.getMessage();
        return e instanceof IOException && m != null ? m : e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }
}
