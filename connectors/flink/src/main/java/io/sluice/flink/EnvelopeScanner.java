package io.sluice.flink;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;

/**
 * Reads one {@code sluice.v1} message (a JSON object, as UTF-8 bytes) into an {@link Envelope},
 * with the JDK alone.
 *
 * <p>Contract: the whole text must be one JSON object, with nothing but JSON whitespace after
 * it; anything else is {@link Malformed}, with the byte position. The scanner is strict about
 * JSON itself (RFC 8259: no trailing commas, no single quotes, no leading zeros, no control
 * characters or unknown escapes in strings, a {@code \\u} escape of half a surrogate pair only
 * inside a value it does not decode) and about the fields it knows: each with its JSON type, at
 * most once, integers as integers within a {@code long}, offsets from 1, and every field a kind of
 * message needs (see {@link Envelope}). Fields it does not know are checked as JSON and
 * skipped, in any order, so a newer relay may add some.
 *
 * <p>A publication's payload: {@code "data"} holding any JSON value other than a string is the
 * payload itself, handed on as its exact bytes in the message (the relay wrote the published
 * JSON text there unchanged, without the whitespace around it); {@code "data"} holding a
 * string is text that was not JSON, handed on unescaped as UTF-8; {@code "data_b64"} is a binary
 * payload in standard base64, decoded. Exactly one of them.
 *
 * <p>Nesting inside a payload is followed with an explicit stack (no recursion), bounded by
 * {@link #MAX_DEPTH}.
 */
final class EnvelopeScanner {
    /** The deepest nesting of arrays and objects accepted inside a message. */
    static final int MAX_DEPTH = 1000;

    /** The text is not a {@code sluice.v1} message. */
    static final class Malformed extends Exception {
        private static final long serialVersionUID = 1L;

        Malformed(String message) {
            super(message);
        }
    }

    private final byte[] b;
    private int i;

    private EnvelopeScanner(byte[] text) {
        this.b = text;
    }

    /** Read the message in {@code text} (UTF-8). */
    static Envelope scan(byte[] text) throws Malformed {
        EnvelopeScanner s = new EnvelopeScanner(text);
        Envelope e = s.message();
        s.ws();
        if (s.i != text.length) {
            throw s.error("text after the message's object");
        }
        return e;
    }

    // Bits of the known fields, to refuse one given twice.
    private static final int TYPE = 1, TOPIC = 2, EPOCH = 4, OFFSET = 8, DATA = 16, DATA_B64 = 32,
            WATERMARK = 64, FINAL = 128, CONFLATED = 256, RECOVERED = 512, REASON = 1024, FROM = 2048,
            TO = 4096, OLDEST = 8192;

    private Envelope message() throws Malformed {
        Envelope e = new Envelope();
        int seen = 0;
        ws();
        expect('{', "a message must be a JSON object");
        ws();
        if (peek() == '}') {
            i++;
        } else {
            while (true) {
                ws();
                int at = i;
                if (peek() != '"') {
                    throw error("a field name (a string)");
                }
                String key = string();
                ws();
                expect(':', "':' after a key");
                ws();
                int bit = bit(key);
                if (bit != 0) {
                    if ((seen & bit) != 0) {
                        i = at;
                        throw error("the field \"" + key + "\" is given twice");
                    }
                    seen |= bit;
                }
                switch (bit) {
                    case TYPE: e.type = string(); break;
                    case TOPIC: e.topic = string(); break;
                    case EPOCH: e.epoch = string(); break;
                    case REASON: e.reason = string(); break;
                    case OFFSET: e.offset = integer(key); break;
                    case FROM: e.from = integer(key); break;
                    case TO: e.to = integer(key); break;
                    case OLDEST: e.oldest = integer(key); break;
                    case CONFLATED: e.conflated = integer(key); break;
                    case WATERMARK: e.watermark = integer(key); break;
                    case RECOVERED: e.recovered = bool(key); break;
                    case FINAL: e.last = bool(key); break;
                    case DATA:
                        if (peek() == '"') {
                            e.payload = stringBytes();
                        } else {
                            int start = i;
                            skipValue();
                            e.payload = Arrays.copyOfRange(b, start, i);
                        }
                        break;
                    case DATA_B64: {
                        int start = i;
                        String s = string();
                        try {
                            e.payload = Base64.getDecoder().decode(s);
                        } catch (IllegalArgumentException x) {
                            i = start;
                            throw error("\"data_b64\" is not standard base64 (" + x.getMessage() + ")");
                        }
                        e.binary = true;
                        break;
                    }
                    default: skipValue();
                }
                ws();
                int c = next("',' or '}' after a field");
                if (c == '}') {
                    break;
                }
                if (c != ',') {
                    i--;
                    throw error("',' or '}' after a field");
                }
            }
        }
        return classify(e, seen);
    }

    private static int bit(String key) {
        switch (key) {
            case "type": return TYPE;
            case "topic": return TOPIC;
            case "epoch": return EPOCH;
            case "offset": return OFFSET;
            case "data": return DATA;
            case "data_b64": return DATA_B64;
            case "watermark": return WATERMARK;
            case "final": return FINAL;
            case "conflated": return CONFLATED;
            case "recovered": return RECOVERED;
            case "reason": return REASON;
            case "from": return FROM;
            case "to": return TO;
            case "oldest": return OLDEST;
            default: return 0;
        }
    }

    /** Which message this is, checking it has the fields its kind needs. */
    private Envelope classify(Envelope e, int seen) throws Malformed {
        if ((seen & TYPE) == 0) {
            e.kind = Envelope.Kind.PUBLICATION;
            need(seen, TOPIC | OFFSET | EPOCH, "a publication");
            if ((seen & (DATA | DATA_B64)) == 0 || (seen & (DATA | DATA_B64)) == (DATA | DATA_B64)) {
                throw new Malformed("a publication needs exactly one of \"data\" and \"data_b64\"");
            }
            if (e.offset < 1) {
                throw new Malformed("a publication's offset must be 1 or more, not " + e.offset);
            }
            if (e.conflated < 0) {
                throw new Malformed("\"conflated\" must not be negative");
            }
            return e;
        }
        switch (e.type) {
            case "subscribed":
                e.kind = Envelope.Kind.SUBSCRIBED;
                need(seen, TOPIC | EPOCH | OFFSET, "\"subscribed\"");
                break;
            case "recovery":
                e.kind = Envelope.Kind.RECOVERY;
                need(seen, TOPIC | EPOCH | RECOVERED, "\"recovery\"");
                need(seen, e.recovered ? FROM | TO : REASON | OFFSET | OLDEST,
                        e.recovered ? "\"recovery\" with recovered:true" : "\"recovery\" with recovered:false");
                break;
            case "gap":
                e.kind = Envelope.Kind.GAP;
                need(seen, TOPIC | FROM | TO | REASON, "\"gap\"");
                if (e.from < 1 || e.to < e.from) {
                    throw new Malformed("a gap's offsets must be 1 <= from <= to, not " + e.from + ".." + e.to);
                }
                break;
            case "unsubscribed":
                e.kind = Envelope.Kind.UNSUBSCRIBED;
                need(seen, TOPIC, "\"unsubscribed\"");
                break;
            case "error":
                e.kind = Envelope.Kind.ERROR;
                need(seen, REASON, "\"error\"");
                break;
            default:
                e.kind = Envelope.Kind.OTHER;
        }
        if (e.offset < 0 || e.from < 0 || e.to < 0 || e.oldest < 0) {
            throw new Malformed("offsets must not be negative: " + e);
        }
        return e;
    }

    private static void need(int seen, int fields, String what) throws Malformed {
        int missing = fields & ~seen;
        if (missing == 0) {
            return;
        }
        StringBuilder names = new StringBuilder();
        for (String k : new String[] {"type", "topic", "epoch", "offset", "data", "data_b64", "watermark", "final",
                "conflated", "recovered", "reason", "from", "to", "oldest"}) {
            if ((missing & bit(k)) != 0) {
                names.append(names.length() == 0 ? "" : ", ").append('"').append(k).append('"');
            }
        }
        throw new Malformed(what + " needs " + names);
    }

    /** Skip one JSON value, checking it. */
    private void skipValue() throws Malformed {
        byte[] stack = new byte[16];
        int depth = 0;
        value:
        while (true) {
            ws();
            int c = peek();
            switch (c) {
                case '{':
                case '[':
                    if (depth == MAX_DEPTH) {
                        throw error("nested deeper than " + MAX_DEPTH);
                    }
                    if (depth == stack.length) {
                        stack = Arrays.copyOf(stack, depth * 2);
                    }
                    stack[depth++] = (byte) c;
                    i++;
                    ws();
                    if (peek() == (c == '{' ? '}' : ']')) {
                        i++;
                        depth--;
                        break;
                    }
                    if (c == '{') {
                        skipString();
                        ws();
                        expect(':', "':' after a key");
                    }
                    continue value;
                case '"':
                    skipString();
                    break;
                case 't':
                    literal("true");
                    break;
                case 'f':
                    literal("false");
                    break;
                case 'n':
                    literal("null");
                    break;
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        number();
                    } else {
                        throw error(c < 0 ? "the text ends where a value should be" : "not a JSON value");
                    }
            }
            // After a value: close containers, or go on to the next element.
            while (depth > 0) {
                ws();
                int open = stack[depth - 1];
                int d = next("',' or the end of an " + (open == '{' ? "object" : "array"));
                if (d == ',') {
                    if (open == '{') {
                        ws();
                        skipString();
                        ws();
                        expect(':', "':' after a key");
                    }
                    continue value;
                }
                if (d != (open == '{' ? '}' : ']')) {
                    i--;
                    throw error("',' or the end of an " + (open == '{' ? "object" : "array"));
                }
                depth--;
            }
            return;
        }
    }

    private void literal(String word) throws Malformed {
        for (int k = 0; k < word.length(); k++) {
            if (peekAt(i + k) != word.charAt(k)) {
                throw error("not a JSON value");
            }
        }
        i += word.length();
    }

    /** A JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    private void number() throws Malformed {
        if (peek() == '-') {
            i++;
        }
        int c = peek();
        if (c == '0') {
            i++;
        } else if (c >= '1' && c <= '9') {
            digits();
        } else {
            throw error("a digit after '-'");
        }
        if (peek() == '.') {
            i++;
            if (!isDigit(peek())) {
                throw error("a digit after '.'");
            }
            digits();
        }
        if (peek() == 'e' || peek() == 'E') {
            i++;
            if (peek() == '+' || peek() == '-') {
                i++;
            }
            if (!isDigit(peek())) {
                throw error("a digit in the exponent");
            }
            digits();
        }
    }

    private void digits() {
        while (isDigit(peek())) {
            i++;
        }
    }

    private static boolean isDigit(int c) {
        return c >= '0' && c <= '9';
    }

    /** An integer field: a JSON number without fraction or exponent, within a long. */
    private long integer(String key) throws Malformed {
        int start = i;
        boolean negative = peek() == '-';
        if (negative) {
            i++;
        }
        if (!isDigit(peek()) || (peek() == '0' && isDigit(peekAt(i + 1)))) {
            i = start;
            throw error("\"" + key + "\" must be an integer");
        }
        long v = 0;
        while (isDigit(peek())) {
            int d = peek() - '0';
            if (v > (Long.MAX_VALUE - d) / 10) {
                i = start;
                throw error("\"" + key + "\" is too large");
            }
            v = v * 10 + d;
            i++;
        }
        if (peek() == '.' || peek() == 'e' || peek() == 'E') {
            i = start;
            throw error("\"" + key + "\" must be an integer");
        }
        return negative ? -v : v;
    }

    private boolean bool(String key) throws Malformed {
        if (peek() == 't') {
            literal("true");
            return true;
        }
        if (peek() == 'f') {
            literal("false");
            return false;
        }
        throw error("\"" + key + "\" must be true or false");
    }

    private String string() throws Malformed {
        return new String(stringBytes(), StandardCharsets.UTF_8);
    }

    /** A JSON string, unescaped, as UTF-8 bytes. */
    private byte[] stringBytes() throws Malformed {
        if (peek() != '"') {
            throw error("a string");
        }
        int start = ++i;
        while (true) {
            int c = peek();
            if (c == '"') {
                i++;
                return Arrays.copyOfRange(b, start, i - 1);
            }
            if (c == '\\') {
                break;
            }
            plain(c);
            i++;
        }
        // With escapes: copy what came before, then decode the rest.
        byte[] out = new byte[2 * (i - start) + 16];
        System.arraycopy(b, start, out, 0, i - start);
        int n = i - start;
        while (true) {
            int c = peek();
            if (c == '"') {
                i++;
                return Arrays.copyOf(out, n);
            }
            out = grow(out, n, 4);
            if (c != '\\') {
                plain(c);
                out[n++] = b[i++];
                continue;
            }
            int at = i;
            i++;
            int e = next("an escape");
            switch (e) {
                case '"': out[n++] = '"'; break;
                case '\\': out[n++] = '\\'; break;
                case '/': out[n++] = '/'; break;
                case 'b': out[n++] = '\b'; break;
                case 'f': out[n++] = '\f'; break;
                case 'n': out[n++] = '\n'; break;
                case 'r': out[n++] = '\r'; break;
                case 't': out[n++] = '\t'; break;
                case 'u': {
                    int cp = hex4();
                    if (Character.isLowSurrogate((char) cp)) {
                        i = at;
                        throw error("half a surrogate pair in a string");
                    }
                    if (Character.isHighSurrogate((char) cp)) {
                        if (peek() != '\\' || peekAt(i + 1) != 'u') {
                            i = at;
                            throw error("half a surrogate pair in a string");
                        }
                        i += 2;
                        int low = hex4();
                        if (!Character.isLowSurrogate((char) low)) {
                            i = at;
                            throw error("half a surrogate pair in a string");
                        }
                        cp = Character.toCodePoint((char) cp, (char) low);
                    }
                    n = utf8(out, n, cp);
                    break;
                }
                default:
                    i = at;
                    throw error("an unknown escape in a string");
            }
        }
    }

    /** Skip a JSON string without decoding it (a {@code \\u} escape needs four hex digits). */
    private void skipString() throws Malformed {
        if (peek() != '"') {
            throw error("a string");
        }
        i++;
        while (true) {
            int c = peek();
            if (c == '"') {
                i++;
                return;
            }
            if (c == '\\') {
                i++;
                int e = next("an escape");
                if (e == 'u') {
                    hex4();
                } else if ("\"\\/bfnrt".indexOf(e) < 0) {
                    i -= 2;
                    throw error("an unknown escape in a string");
                }
                continue;
            }
            plain(c);
            i++;
        }
    }

    /** A byte allowed as is inside a string. */
    private void plain(int c) throws Malformed {
        if (c < 0) {
            throw error("the text ends inside a string");
        }
        if (c < 0x20) {
            throw error("a control character inside a string (it must be escaped)");
        }
    }

    private int hex4() throws Malformed {
        int v = 0;
        for (int k = 0; k < 4; k++) {
            int c = peek();
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0) {
                throw error("four hex digits after \\u");
            }
            v = v * 16 + d;
            i++;
        }
        return v;
    }

    private static byte[] grow(byte[] out, int n, int more) {
        return n + more <= out.length ? out : Arrays.copyOf(out, Math.max(out.length * 2, n + more));
    }

    private static int utf8(byte[] out, int n, int cp) {
        if (cp < 0x80) {
            out[n++] = (byte) cp;
        } else if (cp < 0x800) {
            out[n++] = (byte) (0xc0 | cp >> 6);
            out[n++] = (byte) (0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out[n++] = (byte) (0xe0 | cp >> 12);
            out[n++] = (byte) (0x80 | (cp >> 6 & 0x3f));
            out[n++] = (byte) (0x80 | (cp & 0x3f));
        } else {
            out[n++] = (byte) (0xf0 | cp >> 18);
            out[n++] = (byte) (0x80 | (cp >> 12 & 0x3f));
            out[n++] = (byte) (0x80 | (cp >> 6 & 0x3f));
            out[n++] = (byte) (0x80 | (cp & 0x3f));
        }
        return n;
    }

    private void ws() {
        while (i < b.length && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r')) {
            i++;
        }
    }

    /** The byte at the position (0..255), or -1 at the end. */
    private int peek() {
        return peekAt(i);
    }

    private int peekAt(int at) {
        return at < b.length ? b[at] & 0xff : -1;
    }

    /** Take the next byte; the end of the text is an error naming {@code what} was expected. */
    private int next(String what) throws Malformed {
        if (i >= b.length) {
            throw error("the text ends where " + what + " should be");
        }
        return b[i++] & 0xff;
    }

    private void expect(int c, String what) throws Malformed {
        if (peek() != c) {
            throw error(what);
        }
        i++;
    }

    private Malformed error(String what) {
        int from = Math.max(0, i - 20);
        int to = Math.min(b.length, i + 20);
        String near = new String(b, from, to - from, StandardCharsets.UTF_8);
        return new Malformed(what + " (at byte " + i + ", near '" + near + "')");
    }
}
