// The Java side of tests/flink_envelope.rs: unit tests of the connector's sluice.v1 scanner
// (io.sluice.flink.EnvelopeScanner, package-private, hence this package), and a reader of
// envelopes the real relay wrote.
//
//   java io.sluice.flink.EnvelopeScannerTest           the cases below; prints `PASSED n`
//   java io.sluice.flink.EnvelopeScannerTest FILE      reads FILE (each message: a 4-byte
//                                                      big-endian length, then its bytes) and
//                                                      prints one line per message:
//                                                      `kind topic offset epoch binary hex(payload)`
//
// Any failure exits non-zero, naming the case.
package io.sluice.flink;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.FileInputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

public class EnvelopeScannerTest {
    private static int passed;

    public static void main(String[] args) throws Exception {
        if (args.length == 1) {
            read(args[0]);
            return;
        }
        publications();
        payloads();
        controlMessages();
        forwardCompatible();
        malformed();
        everyPrefixIsMalformed();
        nesting();
        System.out.println("PASSED " + passed);
    }

    private static void read(String file) throws Exception {
        try (DataInputStream in = new DataInputStream(new FileInputStream(file))) {
            while (true) {
                int n;
                try {
                    n = in.readInt();
                } catch (EOFException end) {
                    break;
                }
                byte[] b = new byte[n];
                in.readFully(b);
                Envelope e = EnvelopeScanner.scan(b);
                StringBuilder hex = new StringBuilder();
                for (byte x : e.payload == null ? new byte[0] : e.payload) {
                    hex.append(String.format("%02x", x & 0xff));
                }
                System.out.println(e.kind + " " + e.topic + " " + e.offset + " " + e.epoch + " " + e.binary + " "
                        + (hex.length() == 0 ? "-" : hex));
            }
        }
    }

    // --- helpers

    private static Envelope ok(String json) throws Exception {
        try {
            Envelope e = EnvelopeScanner.scan(json.getBytes(StandardCharsets.UTF_8));
            passed++;
            return e;
        } catch (EnvelopeScanner.Malformed m) {
            throw new AssertionError("refused a valid message: " + json + ": " + m.getMessage(), m);
        }
    }

    private static void bad(String json, String expect) {
        try {
            Envelope e = EnvelopeScanner.scan(json.getBytes(StandardCharsets.UTF_8));
            throw new AssertionError("accepted a malformed message: " + json + " as " + e);
        } catch (EnvelopeScanner.Malformed m) {
            if (!m.getMessage().contains(expect)) {
                throw new AssertionError("the error for " + json + " is '" + m.getMessage() + "', without '" + expect
                        + "'");
            }
            passed++;
        }
    }

    private static void eq(Object got, Object want, String what) {
        boolean same = got instanceof byte[] && want instanceof byte[]
                ? Arrays.equals((byte[]) got, (byte[]) want)
                : got == null ? want == null : got.equals(want);
        if (!same) {
            throw new AssertionError(what + ": got " + show(got) + ", want " + show(want));
        }
    }

    private static String show(Object o) {
        return o instanceof byte[] ? new String((byte[]) o, StandardCharsets.UTF_8) + " " + Arrays.toString((byte[]) o)
                : String.valueOf(o);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    // --- cases

    private static void publications() throws Exception {
        Envelope e = ok("{\"topic\":\"prices\",\"offset\":42,\"epoch\":\"7f3a9c1e5d2b4a60\",\"data\":{\"sym\":\"EUR\",\"px\":1.0812}}");
        eq(e.kind, Envelope.Kind.PUBLICATION, "kind");
        eq(e.topic, "prices", "topic");
        eq(e.offset, 42L, "offset");
        eq(e.epoch, "7f3a9c1e5d2b4a60", "epoch");
        eq(e.payload, utf8("{\"sym\":\"EUR\",\"px\":1.0812}"), "data, exact bytes");
        eq(e.binary, false, "binary");
        eq(e.watermark, null, "watermark");
        eq(e.last, null, "final");

        e = ok("{\"topic\":\"w\",\"offset\":7,\"epoch\":\"00000000000000ff\",\"data\":{\"n\":3},"
                + "\"watermark\":-59999,\"final\":false}");
        eq(e.watermark, -59999L, "a negative watermark");
        eq(e.last, false, "final");
        e = ok("{\"topic\":\"w\",\"offset\":8,\"epoch\":\"e\",\"data\":1,\"watermark\":60000,\"final\":true,\"conflated\":12}");
        eq(e.last, true, "final");
        eq(e.conflated, 12L, "conflated");

        // Order does not matter; whitespace anywhere between tokens.
        e = ok(" \r\n\t{ \"data\" : [ 1 , 2 ] , \"epoch\" : \"e\" ,\n\"offset\" : 9223372036854775807 , \"topic\" : \"t\" } \n");
        eq(e.offset, Long.MAX_VALUE, "the largest offset");
        eq(e.payload, utf8("[ 1 , 2 ]"), "the data value's own bytes, inner whitespace kept");
        // Escapes in a field name.
        e = ok("{\"\\u0074opic\":\"t\",\"offset\":1,\"epoch\":\"e\",\"data\":null}");
        eq(e.topic, "t", "an escaped field name");
        eq(e.payload, utf8("null"), "null");
    }

    private static void payloads() throws Exception {
        String head = "{\"topic\":\"t\",\"offset\":1,\"epoch\":\"e\",";
        // Nested JSON with braces, brackets and escapes inside strings: the exact bytes.
        String nested = "{\"a\":{\"b\":[1,{\"c\":\"}\"},\"]\",[[]],{}],\"d\":\"\\\"}\\\\\",\"e\":\"\\u007d\"},\"f\":-0.5e+10}";
        eq(ok(head + "\"data\":" + nested + "}").payload, utf8(nested), "nested JSON with } inside strings");
        // Unicode, raw and escaped, is left as it is in JSON data.
        String uni = "{\"s\":\"h\u00e9llo \u2603 \ud83d\ude00\",\"e\":\"\\u00e9\\ud83d\\ude00\"}";
        eq(ok(head + "\"data\":" + uni + "}").payload, utf8(uni), "unicode in JSON data");
        // A string is text that was not JSON: unescaped.
        eq(ok(head + "\"data\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t}{\\u0001\"}").payload,
                utf8("a\"b\\c/d\b\f\n\r\t}{\u0001"), "every escape");
        eq(ok(head + "\"data\":\"\\u00e9\\u2603\\ud83d\\ude00 h\u00e9llo \ud83d\ude00\"}").payload,
                utf8("\u00e9\u2603\ud83d\ude00 h\u00e9llo \ud83d\ude00"), "unicode escapes and raw UTF-8 in text");
        eq(ok(head + "\"data\":\"\"}").payload, new byte[0], "empty text");
        // Binary, base64.
        byte[] all = new byte[256];
        for (int k = 0; k < 256; k++) {
            all[k] = (byte) k;
        }
        Envelope e = ok(head + "\"data_b64\":\"" + java.util.Base64.getEncoder().encodeToString(all) + "\"}");
        eq(e.payload, all, "every byte value");
        eq(e.binary, true, "binary");
        eq(ok(head + "\"data_b64\":\"\"}").payload, new byte[0], "empty binary");
        eq(ok(head + "\"data_b64\":\"AJ+Slg==\"}").payload, new byte[] {0, (byte) 159, (byte) 146, (byte) 150},
                "the relay's own example");
        // Scalars.
        for (String v : new String[] {"0", "-0", "42", "-1.5e3", "1E-7", "2.50", "true", "false", "null", "[]", "{}"}) {
            eq(ok(head + "\"data\":" + v + "}").payload, utf8(v), "the scalar " + v);
        }
    }

    private static void controlMessages() throws Exception {
        Envelope e = ok("{\"type\":\"subscribed\",\"topic\":\"prices\",\"epoch\":\"7f3a\",\"offset\":97}");
        eq(e.kind, Envelope.Kind.SUBSCRIBED, "subscribed");
        eq(e.offset, 97L, "subscribed offset");
        e = ok("{\"type\":\"subscribed\",\"topic\":\"prices\",\"epoch\":\"7f3a\",\"offset\":0}");
        eq(e.offset, 0L, "subscribed to an empty stream");
        e = ok("{\"type\":\"recovery\",\"topic\":\"prices\",\"recovered\":true,\"epoch\":\"7f3a\",\"from\":43,\"to\":97}");
        eq(e.kind, Envelope.Kind.RECOVERY, "recovery");
        eq(e.recovered, true, "recovered");
        eq(e.from, 43L, "from");
        eq(e.to, 97L, "to");
        e = ok("{\"type\":\"recovery\",\"topic\":\"prices\",\"recovered\":false,\"reason\":\"position_expired\","
                + "\"epoch\":\"7f3a\",\"offset\":97,\"oldest\":60}");
        eq(e.recovered, false, "not recovered");
        eq(e.reason, "position_expired", "reason");
        eq(e.offset, 97L, "top");
        eq(e.oldest, 60L, "oldest");
        e = ok("{\"type\":\"gap\",\"topic\":\"prices\",\"from\":44,\"to\":51,\"reason\":\"slow_consumer\"}");
        eq(e.kind, Envelope.Kind.GAP, "gap");
        eq(e.to - e.from, 7L, "gap range");
        eq(ok("{\"type\":\"unsubscribed\",\"topic\":\"x\"}").kind, Envelope.Kind.UNSUBSCRIBED, "unsubscribed");
        e = ok("{\"type\":\"error\",\"topic\":\"x\\\"y\",\"reason\":\"no \\\"right\\\"\"}");
        eq(e.kind, Envelope.Kind.ERROR, "error");
        eq(e.reason, "no \"right\"", "error reason");
        eq(ok("{\"type\":\"error\",\"reason\":\"not a command\"}").topic, null, "an error without a topic");
    }

    private static void forwardCompatible() throws Exception {
        // Fields and message types this connector does not know are skipped, whatever they hold.
        Envelope e = ok("{\"topic\":\"t\",\"x\":{\"y\":[true,null,\"}\\ud800\"]},\"offset\":3,\"epoch\":\"e\","
                + "\"data\":\"d\",\"z\":-1.0E+2}");
        eq(e.payload, utf8("d"), "unknown fields skipped");
        eq(ok("{\"type\":\"welcome\",\"server\":{\"v\":2}}").kind, Envelope.Kind.OTHER, "an unknown message type");
    }

    private static void malformed() {
        String head = "{\"topic\":\"t\",\"offset\":1,\"epoch\":\"e\",";
        bad("", "a message must be a JSON object");
        bad("[]", "a message must be a JSON object");
        bad("\"x\"", "a message must be a JSON object");
        bad("{}", "a publication needs \"topic\", \"epoch\", \"offset\"");
        bad(head + "\"data\":1} x", "text after the message's object");
        bad(head + "\"data\":1}}", "text after the message's object");
        bad(head + "\"data\":1,}", "a field name");
        bad(head + "\"data\":[1,]}", "not a JSON value");
        bad(head + "\"data\":[1 2]}", "',' or the end of an array");
        bad(head + "\"data\":{\"a\" 1}}", "':' after a key");
        bad(head + "\"data\":{a:1}}", "a string");
        bad(head + "\"data\":'x'}", "not a JSON value");
        bad(head + "data:1}", "a field name");
        bad(head + "\"data\":01}", "',' or '}' after a field");
        bad(head + "\"data\":1.}", "a digit after '.'");
        bad(head + "\"data\":.5}", "not a JSON value");
        bad(head + "\"data\":-}", "a digit after '-'");
        bad(head + "\"data\":1e}", "a digit in the exponent");
        bad(head + "\"data\":+1}", "not a JSON value");
        bad(head + "\"data\":tru}", "not a JSON value");
        bad(head + "\"data\":\"a\u0001b\"}", "a control character inside a string");
        bad(head + "\"data\":\"a\nb\"}", "a control character inside a string");
        bad(head + "\"data\":\"\\x\"}", "an unknown escape");
        bad(head + "\"data\":[\"\\x\"]}", "an unknown escape");
        bad(head + "\"data\":\"\\u12\"}", "four hex digits");
        bad(head + "\"data\":\"\\ud83d\"}", "half a surrogate pair");
        bad(head + "\"data\":\"\\ude00\"}", "half a surrogate pair");
        bad(head + "\"data\":\"\\ud83d\\u0041\"}", "half a surrogate pair");
        bad(head + "\"data\":1,\"data\":2}", "the field \"data\" is given twice");
        bad(head + "\"data\":1,\"data_b64\":\"AA==\"}", "exactly one of \"data\" and \"data_b64\"");
        bad(head + "\"x\":1}", "exactly one of \"data\" and \"data_b64\"");
        bad(head + "\"data_b64\":\"A\"}", "not standard base64");
        bad(head + "\"data_b64\":\"AJ-Slg==\"}", "not standard base64");
        bad(head + "\"data_b64\":1}", "a string");
        bad("{\"topic\":\"t\",\"epoch\":\"e\",\"data\":1}", "a publication needs \"offset\"");
        bad("{\"topic\":\"t\",\"offset\":\"1\",\"epoch\":\"e\",\"data\":1}", "\"offset\" must be an integer");
        bad("{\"topic\":\"t\",\"offset\":1.0,\"epoch\":\"e\",\"data\":1}", "\"offset\" must be an integer");
        bad("{\"topic\":\"t\",\"offset\":1e3,\"epoch\":\"e\",\"data\":1}", "\"offset\" must be an integer");
        bad("{\"topic\":\"t\",\"offset\":01,\"epoch\":\"e\",\"data\":1}", "\"offset\" must be an integer");
        bad("{\"topic\":\"t\",\"offset\":0,\"epoch\":\"e\",\"data\":1}", "offset must be 1 or more");
        bad("{\"topic\":\"t\",\"offset\":-1,\"epoch\":\"e\",\"data\":1}", "offset must be 1 or more");
        bad("{\"topic\":\"t\",\"offset\":9223372036854775808,\"epoch\":\"e\",\"data\":1}", "\"offset\" is too large");
        bad("{\"topic\":7,\"offset\":1,\"epoch\":\"e\",\"data\":1}", "a string");
        bad(head + "\"data\":1,\"final\":1}", "\"final\" must be true or false");
        bad(head + "\"data\":1,\"conflated\":-2}", "\"conflated\" must not be negative");
        bad("{\"type\":\"recovery\",\"topic\":\"t\",\"recovered\":true,\"epoch\":\"e\",\"from\":1}",
                "\"recovery\" with recovered:true needs \"to\"");
        bad("{\"type\":\"recovery\",\"topic\":\"t\",\"recovered\":false,\"epoch\":\"e\",\"offset\":3}",
                "\"recovery\" with recovered:false needs \"reason\", \"oldest\"");
        bad("{\"type\":\"recovery\",\"topic\":\"t\",\"recovered\":\"no\",\"epoch\":\"e\"}", "must be true or false");
        bad("{\"type\":\"gap\",\"topic\":\"t\",\"from\":5,\"to\":4,\"reason\":\"x\"}", "1 <= from <= to");
        bad("{\"type\":\"gap\",\"topic\":\"t\",\"from\":5,\"reason\":\"x\"}", "\"gap\" needs \"to\"");
        bad("{\"type\":\"subscribed\",\"topic\":\"t\",\"epoch\":\"e\",\"offset\":-3}", "must not be negative");
        bad("{\"type\":\"error\",\"topic\":\"t\"}", "\"error\" needs \"reason\"");
        bad("{\"type\":1}", "a string");
    }

    private static void everyPrefixIsMalformed() {
        String[] whole = {
            "{\"topic\":\"t\",\"offset\":12,\"epoch\":\"e\",\"data\":{\"a\":[1,\"}\\\"\",{\"b\":null}],\"c\":-1.5e-3}}",
            "{\"topic\":\"t\",\"offset\":12,\"epoch\":\"e\",\"data\":\"x\\u00e9\\ud83d\\ude00\\n\"}",
            "{\"topic\":\"t\",\"offset\":12,\"epoch\":\"e\",\"data_b64\":\"AJ+Slg==\",\"watermark\":5,\"final\":true}",
            "{\"type\":\"recovery\",\"topic\":\"t\",\"recovered\":false,\"reason\":\"too_many\",\"epoch\":\"e\","
                    + "\"offset\":97,\"oldest\":60}",
        };
        for (String w : whole) {
            byte[] b = utf8(w);
            for (int n = 0; n < b.length; n++) {
                byte[] prefix = Arrays.copyOf(b, n);
                try {
                    Envelope e = EnvelopeScanner.scan(prefix);
                    throw new AssertionError("accepted the first " + n + " bytes of " + w + " as " + e);
                } catch (EnvelopeScanner.Malformed expected) {
                    passed++;
                }
            }
        }
    }

    private static void nesting() throws Exception {
        String head = "{\"topic\":\"t\",\"offset\":1,\"epoch\":\"e\",\"data\":";
        int depth = EnvelopeScanner.MAX_DEPTH;
        String deep = "[".repeat(depth) + "]".repeat(depth);
        eq(ok(head + deep + "}").payload, utf8(deep), "nesting at the bound");
        String mixed = "{\"a\":[".repeat(depth / 2) + "]}".repeat(depth / 2);
        eq(ok(head + mixed + "}").payload, utf8(mixed), "objects in arrays at the bound");
        bad(head + "[".repeat(depth + 1) + "]".repeat(depth + 1) + "}", "nested deeper than");
        bad(head + "[".repeat(depth) + "]".repeat(depth - 1) + "}", "',' or the end of an array");
    }
}
