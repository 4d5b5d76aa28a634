package io.sluice.flink;

import java.util.Arrays;
import java.util.Base64;

/**
 * Reads one {@code sluice.v1} message (a JSON object, as UTF-8 bytes) into an {@link Envelope},
 * with the JDK alone.
 *
 * <p>Contract: the whole text must be one JSON object, with nothing but JSON whitespace after
 * it; anything else is {@link Malformed}, with the byte position. The scanner is strict about
 * JSON itself ({@link JsonReader}) and about the fields it knows: each with its JSON type, at
 * most once, integers as integers within a {@code long}, offsets from 1, and every field a kind of
 * message needs (see {@link Envelope}). Fields it does not know are checked as JSON and
 * skipped, in any order, so a newer relay may add some.
 *
 * <p>A publication's payload: {@code "data"} holding any JSON value other than a string is the
 * payload itself, handed on as its exact bytes in the message (the relay wrote the published
 * JSON text there unchanged, without the whitespace around it); {@code "data"} holding a
 * string is text that was not JSON, handed on unescaped as UTF-8; {@code "data_b64"} is a binary
 * payload in standard base64, decoded. Exactly one of them.
 */
final class EnvelopeScanner extends JsonReader {
    private EnvelopeScanner(byte[] text) {
        super(text);
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
}
