// The Java side of tests/flink_cursor.rs: unit tests of what the source does with each message
// of a topic's stream (io.sluice.flink.TopicCursor, package-private, hence this package): the
// position it keeps and resumes from, duplicates, gaps, and every kind of refused resume.
//
//   java io.sluice.flink.TopicCursorTest     prints `PASSED n`; a failure exits non-zero
package io.sluice.flink;

import java.nio.charset.StandardCharsets;

public class TopicCursorTest {
    private static int passed;
    private static final String E = "00000000000000e1";
    private static final String F = "00000000000000f2";

    public static void main(String[] args) throws Exception {
        liveStartThenRecords();
        duplicatesAreNotEmittedTwice();
        gaps();
        resumes();
        tooManyGoesLive();
        expiredRefillsFromTheOldestKept();
        epochChangedRefillsTheNewStream();
        aRefusedRefillGoesLive();
        nothingKept();
        errorsReconnect();
        restoredPositions();
        checks();
        System.out.println("PASSED " + passed);
    }

    // --- helpers

    private static TopicCursor cursor() {
        return new TopicCursor("t", "test", null, 0);
    }

    private static TopicCursor.Step on(TopicCursor c, String json) throws Exception {
        return c.on(EnvelopeScanner.scan(json.getBytes(StandardCharsets.UTF_8)));
    }

    private static String pub(String epoch, long offset) {
        return "{\"topic\":\"t\",\"offset\":" + offset + ",\"epoch\":\"" + epoch + "\",\"data\":" + offset + "}";
    }

    private static String subscribed(String epoch, long top) {
        return "{\"type\":\"subscribed\",\"topic\":\"t\",\"epoch\":\"" + epoch + "\",\"offset\":" + top + "}";
    }

    private static String recovered(String epoch, long from, long to) {
        return "{\"type\":\"recovery\",\"topic\":\"t\",\"recovered\":true,\"epoch\":\"" + epoch + "\",\"from\":" + from
                + ",\"to\":" + to + "}";
    }

    private static String refused(String reason, String epoch, long top, long oldest) {
        return "{\"type\":\"recovery\",\"topic\":\"t\",\"recovered\":false,\"reason\":\"" + reason + "\",\"epoch\":\""
                + epoch + "\",\"offset\":" + top + ",\"oldest\":" + oldest + "}";
    }

    private static String gap(long from, long to) {
        return "{\"type\":\"gap\",\"topic\":\"t\",\"from\":" + from + ",\"to\":" + to + ",\"reason\":\"slow_consumer\"}";
    }

    /** Check a step: its kind, position (for EMIT and MOVE) and missed offsets. */
    private static void step(TopicCursor.Step s, TopicCursor.Step.Kind kind, String epoch, long offset, long missed,
            String what) {
        boolean positioned = kind == TopicCursor.Step.Kind.EMIT || kind == TopicCursor.Step.Kind.MOVE;
        if (s.kind != kind || (positioned && (!epoch.equals(s.epoch) || s.offset != offset)) || s.missed != missed) {
            throw new AssertionError(what + ": got " + s + ", want " + kind + " " + epoch + ":" + offset + " missed="
                    + missed);
        }
        passed++;
    }

    private static void since(TopicCursor c, String want, String what) {
        if (want == null ? c.since() != null : !want.equals(c.since())) {
            throw new AssertionError(what + ": resumes from " + c.since() + ", want " + want);
        }
        passed++;
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
        passed++;
    }

    private static final TopicCursor.Step.Kind EMIT = TopicCursor.Step.Kind.EMIT;
    private static final TopicCursor.Step.Kind MOVE = TopicCursor.Step.Kind.MOVE;
    private static final TopicCursor.Step.Kind DROP = TopicCursor.Step.Kind.DROP;
    private static final TopicCursor.Step.Kind REFILL = TopicCursor.Step.Kind.REFILL;
    private static final TopicCursor.Step.Kind RECONNECT = TopicCursor.Step.Kind.RECONNECT;

    /** A cursor at E:20, as after a live start at 10 and ten records. */
    private static TopicCursor at20() throws Exception {
        TopicCursor c = cursor();
        on(c, subscribed(E, 10));
        for (long o = 11; o <= 20; o++) {
            on(c, pub(E, o));
        }
        return c;
    }

    // --- cases

    private static void liveStartThenRecords() throws Exception {
        TopicCursor c = cursor();
        since(c, null, "a new split starts live");
        step(on(c, subscribed(E, 10)), MOVE, E, 10, 0, "subscribed: the position before the live messages");
        since(c, E + ":10", "resumes after the subscription's start");
        step(on(c, pub(E, 11)), EMIT, E, 11, 0, "a record");
        step(on(c, pub(E, 12)), EMIT, E, 12, 0, "the next record");
        since(c, E + ":12", "resumes after the last record");
    }

    private static void duplicatesAreNotEmittedTwice() throws Exception {
        TopicCursor c = at20();
        step(on(c, pub(E, 20)), DROP, null, 0, 0, "the same offset again");
        step(on(c, pub(E, 3)), DROP, null, 0, 0, "an older offset");
        since(c, E + ":20", "the position stays");
    }

    private static void gaps() throws Exception {
        TopicCursor c = at20();
        TopicCursor.Step s = on(c, gap(21, 25));
        step(s, MOVE, E, 25, 5, "a gap moves the position past it and counts its offsets");
        check(s.gap, "a gap is counted as one");
        step(on(c, pub(E, 26)), EMIT, E, 26, 0, "the record after the gap");
        step(on(c, gap(20, 26)), DROP, null, 0, 0, "a gap of offsets already had");
        step(on(c, gap(26, 28)), MOVE, E, 28, 2, "a gap partly had: only the new offsets count");
    }

    private static void resumes() throws Exception {
        TopicCursor c = at20();
        TopicCursor.Step s = on(c, recovered(E, 21, 30));
        step(s, MOVE, E, 20, 0, "a resume: the replay follows the position");
        check(s.recovered && !s.refused, "counted as recovered");
        step(on(c, pub(E, 21)), EMIT, E, 21, 0, "the first replayed record");
        // Nothing to replay.
        c = at20();
        step(on(c, recovered(E, 21, 20)), MOVE, E, 20, 0, "a resume with nothing missed");
        // A subscriber that had all of a topic's ended stream resumes into the next one.
        c = at20();
        step(on(c, recovered(F, 1, 5)), MOVE, F, 0, 0, "a resume into the next stream");
        step(on(c, pub(F, 1)), EMIT, F, 1, 0, "its first record");
    }

    private static void tooManyGoesLive() throws Exception {
        TopicCursor c = at20();
        TopicCursor.Step s = on(c, refused("too_many", E, 5000, 1));
        step(s, MOVE, E, 5000, 4980, "too_many: live from the top, offsets 21..5000 missed");
        check(s.refused, "counted as refused");
        since(c, E + ":5000", "resumes from the top after that");
    }

    private static void expiredRefillsFromTheOldestKept() throws Exception {
        TopicCursor c = at20();
        TopicCursor.Step s = on(c, refused("position_expired", E, 500, 400));
        step(s, REFILL, null, 0, 0, "position_expired with history: ask for what is kept");
        check(s.refused, "the refusal is counted");
        check(s.commands.length == 2 && s.commands[0].equals("{\"type\":\"unsubscribe\",\"topic\":\"t\"}")
                && s.commands[1].equals("{\"type\":\"subscribe\",\"topic\":\"t\",\"since\":{\"epoch\":\"" + E
                        + "\",\"offset\":399}}"), "the refill's commands: " + String.join(" ", s.commands));
        since(c, E + ":20", "until the answer, the position stays");
        step(on(c, pub(E, 501)), DROP, null, 0, 0, "live messages before the answer: the replay brings them");
        step(on(c, gap(502, 502)), DROP, null, 0, 0, "gaps before the answer too");
        step(on(c, "{\"type\":\"unsubscribed\",\"topic\":\"t\"}"), DROP, null, 0, 0, "unsubscribed");
        s = on(c, recovered(E, 400, 502));
        step(s, MOVE, E, 399, 379, "the refill: offsets 21..399 missed");
        check(s.recovered, "the refill's resume is counted");
        step(on(c, pub(E, 400)), EMIT, E, 400, 0, "the oldest kept is emitted");
    }

    private static void epochChangedRefillsTheNewStream() throws Exception {
        TopicCursor c = at20();
        TopicCursor.Step s = on(c, refused("epoch_changed", F, 300, 201));
        step(s, REFILL, null, 0, 0, "epoch_changed: ask for what the new stream keeps");
        check(s.commands[1].contains("\"epoch\":\"" + F + "\",\"offset\":200"), "from the oldest kept of the new stream");
        step(on(c, recovered(F, 201, 320)), MOVE, F, 200, 200, "offsets 1..200 of the new stream missed");
        // The whole new stream kept: nothing missed that can be known.
        c = at20();
        step(on(c, refused("epoch_changed", F, 300, 1)), REFILL, null, 0, 0, "the whole new stream kept");
        step(on(c, recovered(F, 1, 300)), MOVE, F, 0, 0, "the new stream from its start");
        step(on(c, pub(F, 1)), EMIT, F, 1, 0, "its first record");
    }

    private static void aRefusedRefillGoesLive() throws Exception {
        TopicCursor c = at20();
        on(c, refused("epoch_changed", F, 300, 201));
        TopicCursor.Step s = on(c, refused("position_expired", F, 900, 800));
        step(s, MOVE, F, 900, 900, "a refused refill: live, the new stream's 1..900 missed");
        check(s.refused, "counted as refused again");
        // Same stream.
        c = at20();
        on(c, refused("position_expired", E, 500, 400));
        step(on(c, refused("position_expired", E, 900, 800)), MOVE, E, 900, 880, "21..900 missed");
    }

    private static void nothingKept() throws Exception {
        TopicCursor c = at20();
        step(on(c, refused("epoch_changed", F, 0, 1)), MOVE, F, 0, 0, "a new, empty stream: nothing to miss");
        c = at20();
        step(on(c, refused("epoch_changed", F, 50, 51)), MOVE, F, 50, 50, "a new stream with nothing kept");
        c = at20();
        step(on(c, refused("position_expired", E, 50, 51)), MOVE, E, 50, 30, "history of size 0");
    }

    private static void errorsReconnect() throws Exception {
        TopicCursor c = at20();
        on(c, refused("position_expired", E, 500, 400));
        step(on(c, "{\"type\":\"error\",\"topic\":\"t\",\"reason\":\"no\"}"), RECONNECT, null, 0, 0,
                "a refused command: reconnect");
        c.reconnecting();
        since(c, E + ":20", "the new connection resumes from the position");
        step(on(c, recovered(E, 21, 30)), MOVE, E, 20, 0, "and the refill asked before is void");
    }

    private static void restoredPositions() throws Exception {
        TopicCursor c = new TopicCursor("t", "test", E, 42);
        since(c, E + ":42", "a restored split resumes after its position");
        step(on(c, recovered(E, 43, 50)), MOVE, E, 42, 0, "its resume");
        step(on(c, pub(E, 43)), EMIT, E, 43, 0, "the next record");
        c = new TopicCursor("t", "test", E, 0);
        since(c, E + ":0", "offset 0 is a position: before the stream's first message");
    }

    private static void checks() throws Exception {
        try {
            on(cursor(), "{\"topic\":\"other\",\"offset\":1,\"epoch\":\"" + E + "\",\"data\":1}");
            throw new AssertionError("accepted a message of another topic");
        } catch (EnvelopeScanner.Malformed expected) {
            passed++;
        }
        TopicCursor c = at20();
        step(on(c, pub(F, 7)), EMIT, F, 7, 0, "another stream without an answer: followed");
        step(on(c, "{\"type\":\"welcome\"}"), DROP, null, 0, 0, "an unknown message type");
    }
}
