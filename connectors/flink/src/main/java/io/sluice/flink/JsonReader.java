package io.sluice.flink;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A strict reader of JSON (RFC 8259) over UTF-8 bytes, with the JDK alone: the tokens
 * {@link EnvelopeScanner} reads a {@code sluice.v1} message with.
 *
 * <p>Contract: every method reads from the position on and leaves it after what it read, or
 * throws {@link Malformed} naming what it expected and the byte position. Strict: no trailing
 * commas, no single quotes, no leading zeros, no control characters or unknown escapes in
 * strings, and a backslash-u escape of half a surrogate pair only where the string is skipped,
 * not decoded. The input is the UTF-8 of a WebSocket text message, so it is valid UTF-8 and not
 * checked again. {@link #skipValue} follows nesting with an explicit stack (no recursion), up to
 * {@link #MAX_DEPTH}.
 */
class JsonReader {
    /** The deepest nesting of arrays and objects accepted. */
    static final int MAX_DEPTH = 1000;

    /** The text is not what was expected. */
    static final class Malformed extends Exception {
        private static final long serialVersionUID = 1L;

        Malformed(String message) {
            super(message);
        }
    }

    final byte[] b;
    int i;

    JsonReader(byte[] text) {
        this.b = text;
    }

    /** Skip one JSON value, checking it. */
    void skipValue() throws Malformed {
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
    long integer(String key) throws Malformed {
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

    boolean bool(String key) throws Malformed {
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

    String string() throws Malformed {
        return new String(stringBytes(), StandardCharsets.UTF_8);
    }

    /** A JSON string, unescaped, as UTF-8 bytes. */
    byte[] stringBytes() throws Malformed {
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

    void ws() {
        while (i < b.length && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r')) {
            i++;
        }
    }

    /** The byte at the position (0..255), or -1 at the end. */
    int peek() {
        return peekAt(i);
    }

    private int peekAt(int at) {
        return at < b.length ? b[at] & 0xff : -1;
    }

    /** Take the next byte; the end of the text is an error naming {@code what} was expected. */
    int next(String what) throws Malformed {
        if (i >= b.length) {
            throw error("the text ends where " + what + " should be");
        }
        return b[i++] & 0xff;
    }

    void expect(int c, String what) throws Malformed {
        if (peek() != c) {
            throw error(what);
        }
        i++;
    }

    Malformed error(String what) {
        int from = Math.max(0, i - 20);
        int to = Math.min(b.length, i + 20);
        String near = new String(b, from, to - from, StandardCharsets.UTF_8);
        return new Malformed(what + " (at byte " + i + ", near '" + near + "')");
    }
}
