// The logic of sluice.js (src/dashboard/assets/sluice.js) in Node, without a browser or a relay:
// a fake WebSocket class plays the relay's side and a manual clock replaces the timers, so every
// step is explicit. Run by tests/sluice_js_logic.rs, or by hand:
//
//   node --test tests/browser/sluice_js.test.mjs

import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

// The module as the browser gets it (a data: URL is an ES module whatever the package type).
const source = readFileSync(new URL("../../src/dashboard/assets/sluice.js", import.meta.url));
const { Sluice } = await import(`data:text/javascript;base64,${source.toString("base64")}`);

// ---- a manual clock: setTimeout and clearTimeout run only when the test advances time ----

const clock = { now: 0, timers: new Map(), next: 1 };
globalThis.setTimeout = (fn, ms = 0) => {
  clock.timers.set(clock.next, { at: clock.now + ms, fn });
  return clock.next++;
};
globalThis.clearTimeout = (id) => clock.timers.delete(id);
function advance(ms) {
  const until = clock.now + ms;
  for (;;) {
    const due = [...clock.timers].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
    if (!due) break;
    clock.timers.delete(due[0]);
    clock.now = due[1].at;
    due[1].fn();
  }
  clock.now = until;
}
// The delay of the one pending timer.
function pending() {
  const left = [...clock.timers.values()].map((t) => t.at - clock.now);
  assert.equal(left.length, 1, `one timer pending, not ${left.length}`);
  return left[0];
}

// ---- a fake WebSocket: the test plays the relay ----

class FakeSocket {
  constructor(url, protocols) {
    Object.assign(this, { url, protocols, readyState: 0, protocol: "", sent: [], closedWith: undefined });
    sockets.push(this);
  }
  send(text) {
    assert.equal(this.readyState, 1, "sends only on an open socket");
    this.sent.push(JSON.parse(text));
  }
  close(code) {
    // As a browser does: the close event comes later (here: when the test calls closed()).
    this.closedWith = code ?? null;
  }
  // The relay's side.
  open(protocol = "sluice.v1") {
    this.readyState = 1;
    this.protocol = protocol;
    this.onopen({});
  }
  recv(...messages) {
    for (const m of messages) this.onmessage({ data: JSON.stringify(m) });
  }
  closed(code = 1006) {
    this.readyState = 3;
    this.onclose({ code, reason: "" });
  }
}
let sockets;

const E1 = "00000000000000e1";
const E2 = "00000000000000e2";
const msg = (topic, offset, epoch = E1) => ({ topic, offset, epoch, data: offset });

beforeEach(() => {
  sockets = [];
  clock.timers.clear();
});

// A client on topics, with every event recorded, connected (after the constructor returns).
function client(topics, options = {}) {
  const c = new Sluice({ url: "ws://relay/", topics, WebSocket: FakeSocket, ...options });
  const log = [];
  for (const e of ["message", "subscribed", "recovery", "gap", "state", "error"]) {
    c.on(e, (ev) => log.push([e, ev]));
  }
  assert.equal(sockets.length, 0, "no connection before the application attached its handlers");
  advance(0);
  return { c, log, ws: sockets.at(-1) };
}
const of = (log, name) => log.filter(([e]) => e === name).map(([, ev]) => ev);
const offsets = (log) => of(log, "message").map((m) => `${m.topic}${m.offset}`);

// Lose the connection and reconnect after the backoff; returns the new socket.
function reconnect(ws) {
  ws.closed();
  advance(pending());
  return sockets.at(-1);
}

test("subscribes in envelope mode with the topics on the URL", () => {
  const { log, ws } = client(["a", "b"]);
  assert.equal(ws.url, "ws://relay/sub/a,b");
  assert.deepEqual(ws.protocols, ["sluice.v1"]);
  ws.open();
  assert.deepEqual(of(log, "state").map((s) => s.state), ["connecting", "open"]);
  assert.deepEqual(ws.sent, [], "the URL subscribed them: no command");
});

test("resumes every topic from its position, a topic at offset 0 included", () => {
  const { c, ws } = client(["a", "quiet"]);
  ws.open();
  ws.recv({ type: "subscribed", topic: "a", epoch: E1, offset: 5 });
  ws.recv({ type: "subscribed", topic: "quiet", epoch: E2, offset: 0 });
  ws.recv(msg("a", 6));
  assert.deepEqual(c.position("a"), { epoch: E1, offset: 6 });
  const next = reconnect(ws);
  assert.equal(next.url, `ws://relay/sub/a,quiet?since=a@${E1}:6,quiet@${E2}:0`);
});

test("delivers each offset once: duplicates and strays are dropped", () => {
  const { c, log, ws } = client(["a"]);
  ws.open();
  ws.recv(msg("a", 1)); // before the subscription's answer: not ours
  ws.recv({ type: "subscribed", topic: "a", epoch: E1, offset: 5 });
  ws.recv(msg("a", 6), msg("a", 6), msg("a", 5), msg("a", 7), msg("zz", 8));
  assert.deepEqual(offsets(log), ["a6", "a7"]);
  assert.equal(c.stats.duplicates, 2);
});

test("a resume that recovers replays without a duplicate", () => {
  const { log, ws } = client(["a"]);
  ws.open();
  ws.recv({ type: "subscribed", topic: "a", epoch: E1, offset: 0 }, msg("a", 1), msg("a", 2));
  const next = reconnect(ws);
  next.open();
  next.recv({ type: "recovery", topic: "a", recovered: true, epoch: E1, from: 3, to: 4 });
  next.recv(msg("a", 3), msg("a", 4), msg("a", 5));
  assert.deepEqual(offsets(log), ["a1", "a2", "a3", "a4", "a5"]);
  const [r] = of(log, "recovery");
  assert.deepEqual([r.recovered, r.previous, r.refill], [true, { epoch: E1, offset: 2 }, false]);
});

test("backoff: jittered, doubling up to the bound, reset by an open connection", () => {
  const { ws } = client(["a"], { backoff: { initial: 100, max: 400 } });
  ws.closed();
  const bounds = [[50, 100], [100, 200], [200, 400], [200, 400]];
  for (const [lo, hi] of bounds) {
    const d = pending();
    assert.ok(d >= lo && d <= hi, `${d} in ${lo}..${hi}`);
    advance(d);
    sockets.at(-1).closed(); // the attempt fails
  }
  advance(pending());
  sockets.at(-1).open();
  sockets.at(-1).closed(1001);
  const d = pending();
  assert.ok(d >= 50 && d <= 100, `after an open connection: ${d}`);
});

test("an attempt that does not open in time is abandoned", () => {
  const { log, ws } = client(["a"], { connectTimeout: 5000 });
  advance(5000);
  assert.notEqual(ws.closedWith, undefined, "the attempt was closed");
  ws.closed();
  assert.equal(of(log, "state").at(-1).state, "waiting");
});

test("epoch_changed: the app is told, and the new stream is fetched from its start", () => {
  const { c, log, ws } = client(["a"]);
  ws.open();
  ws.recv({ type: "subscribed", topic: "a", epoch: E1, offset: 9 }, msg("a", 10));
  const next = reconnect(ws);
  next.open();
  next.recv({ type: "recovery", topic: "a", recovered: false, reason: "epoch_changed", epoch: E2, offset: 3, oldest: 1 });
  const [told] = of(log, "recovery");
  assert.deepEqual([told.recovered, told.reason, told.previous, told.refill], [false, "epoch_changed", { epoch: E1, offset: 10 }, true]);
  assert.deepEqual(next.sent, [
    { type: "unsubscribe", topic: "a" },
    { type: "subscribe", topic: "a", since: { epoch: E2, offset: 0 } },
  ]);
  next.recv(msg("a", 4, E2)); // live, before the relay ran the commands: held back
  next.recv({ type: "unsubscribed", topic: "a" });
  next.recv({ type: "recovery", topic: "a", recovered: true, epoch: E2, from: 1, to: 4 });
  next.recv(msg("a", 1, E2), msg("a", 2, E2), msg("a", 3, E2), msg("a", 4, E2), msg("a", 5, E2));
  assert.deepEqual(offsets(log), ["a10", "a1", "a2", "a3", "a4", "a5"]);
  assert.deepEqual(c.position("a"), { epoch: E2, offset: 5 });
  assert.equal(c.stats.duplicates, 0);
});

test("a connection lost during a refill resumes the new stream from 0", () => {
  const { ws } = client(["a"]);
  ws.open();
  ws.recv({ type: "subscribed", topic: "a", epoch: E1, offset: 9 });
  const next = reconnect(ws);
  next.open();
  next.recv({ type: "recovery", topic: "a", recovered: false, reason: "epoch_changed", epoch: E2, offset: 3, oldest: 1 });
  next.recv(msg("a", 4, E2));
  assert.equal(reconnect(next).url, `ws://relay/sub/a?since=a@${E2}:0`);
});

test("a refused refill delivers what was held and says so", () => {
  const { c, log, ws } = client(["a"]);
  ws.open();
  ws.recv({ type: "recovery", topic: "a", recovered: false, reason: "epoch_changed", epoch: E2, offset: 3, oldest: 1 });
  ws.recv(msg("a", 4, E2), { type: "unsubscribed", topic: "a" });
  ws.recv({ type: "recovery", topic: "a", recovered: false, reason: "too_many", epoch: E2, offset: 7, oldest: 1 });
  ws.recv(msg("a", 8, E2));
  assert.deepEqual(offsets(log), ["a4", "a8"]);
  const [, second] = of(log, "recovery");
  assert.deepEqual([second.reason, second.previous, second.refill], ["too_many", { epoch: E2, offset: 4 }, false]);
  assert.deepEqual(c.position("a"), { epoch: E2, offset: 8 });
  assert.equal(ws.sent.length, 2, "one refill only");
});

test("epoch_changed without a whole new stream: told, then live", () => {
  const { c, log, ws } = client(["a", "b"]);
  ws.open();
  ws.recv({ type: "recovery", topic: "a", recovered: false, reason: "epoch_changed", epoch: E2, offset: 30, oldest: 12 });
  ws.recv({ type: "recovery", topic: "b", recovered: false, reason: "epoch_changed", epoch: E2, offset: 0, oldest: 1 });
  assert.deepEqual(ws.sent, [], "nothing to refill");
  assert.deepEqual(of(log, "recovery").map((r) => r.refill), [false, false]);
  assert.deepEqual(c.position("a"), { epoch: E2, offset: 30 });
  ws.recv(msg("a", 31, E2));
  assert.deepEqual(offsets(log), ["a31"]);
});

test("other refusals are told and go live", () => {
  const { c, log, ws } = client(["a"]);
  ws.open();
  ws.recv({ type: "subscribed", topic: "a", epoch: E1, offset: 1 });
  const next = reconnect(ws);
  next.open();
  next.recv({ type: "recovery", topic: "a", recovered: false, reason: "position_expired", epoch: E1, offset: 500, oldest: 300 });
  assert.deepEqual(next.sent, []);
  assert.deepEqual(of(log, "recovery")[0].previous, { epoch: E1, offset: 1 });
  assert.deepEqual(c.position("a"), { epoch: E1, offset: 500 });
});

test("a position the stream never had: the relay's position wins", () => {
  const { c, log, ws } = client([]);
  c.subscribe("a", { since: { epoch: E1, offset: 900 } });
  advance(0);
  const next = sockets.at(-1);
  assert.equal(next.url, `ws://relay/sub/a?since=a@${E1}:900`);
  next.open();
  next.recv({ type: "recovery", topic: "a", recovered: false, reason: "epoch_changed", epoch: E1, offset: 50, oldest: 20 });
  next.recv(msg("a", 51));
  assert.deepEqual(offsets(log), ["a51"], "live messages are not taken for duplicates");
  assert.equal(ws, undefined, "no connection without a topic");
});

test("gaps are events and move the position", () => {
  const { c, log, ws } = client(["a"]);
  ws.open();
  ws.recv({ type: "subscribed", topic: "a", epoch: E1, offset: 2 });
  ws.recv({ type: "gap", topic: "a", from: 3, to: 5, reason: "slow_consumer" }, msg("a", 6));
  ws.recv({ type: "gap", topic: "a", from: 4, to: 4, reason: "slow_consumer" }); // already past
  assert.deepEqual(of(log, "gap"), [{ type: "gap", topic: "a", from: 3, to: 5, reason: "slow_consumer" }]);
  assert.deepEqual(c.position("a"), { epoch: E1, offset: 6 });
});

test("a message of another stream, unannounced, is still reported", () => {
  const { log, ws } = client(["a"]);
  ws.open();
  ws.recv({ type: "subscribed", topic: "a", epoch: E1, offset: 3 }, msg("a", 1, E2));
  const [r] = of(log, "recovery");
  assert.deepEqual([r.recovered, r.reason, r.epoch, r.previous], [false, "epoch_changed", E2, { epoch: E1, offset: 3 }]);
  assert.deepEqual(offsets(log), ["a1"]);
});

test("subscribe and unsubscribe at run time, and again after a reconnect", () => {
  const { c, log, ws } = client(["a"]);
  assert.throws(() => c.subscribe("not a topic"), TypeError);
  c.subscribe("b"); // while connecting: sent once open
  ws.open();
  assert.deepEqual(ws.sent, [{ type: "subscribe", topic: "b" }]);
  ws.recv({ type: "subscribed", topic: "a", epoch: E1, offset: 0 }, { type: "subscribed", topic: "b", epoch: E2, offset: 4 });
  c.unsubscribe("a");
  c.subscribe("c");
  c.subscribe("d", { since: { epoch: E1, offset: 7 } });
  assert.deepEqual(ws.sent.slice(1), [
    { type: "unsubscribe", topic: "a" },
    { type: "subscribe", topic: "c" },
    { type: "subscribe", topic: "d", since: { epoch: E1, offset: 7 } },
  ]);
  ws.recv(msg("a", 1), { type: "unsubscribed", topic: "a" }); // in flight: dropped
  ws.recv({ type: "error", topic: "c", reason: "this token may not subscribe to it" });
  assert.deepEqual(of(log, "error"), [{ topic: "c", reason: "this token may not subscribe to it" }]);
  assert.deepEqual(offsets(log), []);
  const next = reconnect(ws);
  assert.equal(next.url, `ws://relay/sub/b,d?since=b@${E2}:4,d@${E1}:7`, "a is gone, c was refused");
});

test("no topic, no connection; the first subscribe connects", () => {
  const c = new Sluice({ url: "ws://relay", WebSocket: FakeSocket });
  advance(1000);
  assert.equal(sockets.length, 0);
  c.subscribe("a");
  advance(0);
  assert.equal(sockets[0].url, "ws://relay/sub/a");
});

test("the token is read at every connect", () => {
  let n = 0;
  const { ws } = client(["a"], { token: () => `t ${++n}` });
  assert.equal(ws.url, "ws://relay/sub/a?token=t%201");
  ws.open();
  ws.recv({ type: "subscribed", topic: "a", epoch: E1, offset: 2 });
  assert.equal(reconnect(ws).url, `ws://relay/sub/a?since=a@${E1}:2&token=t%202`);
});

test("a relay that does not speak sluice.v1 is an error", () => {
  const { log, ws } = client(["a"]);
  ws.open("");
  assert.equal(of(log, "error").length, 1);
  assert.notEqual(ws.closedWith, undefined);
});

test("a handler may close the client in the middle of a replay", () => {
  const { c, log, ws } = client(["a"]);
  ws.open();
  c.on("message", (m) => m.offset === 2 && c.close());
  ws.recv({ type: "subscribed", topic: "a", epoch: E1, offset: 0 }, msg("a", 1), msg("a", 2));
  ws.recv(msg("a", 3));
  assert.deepEqual(offsets(log), ["a1", "a2"]);
  assert.equal(of(log, "state").at(-1).state, "closed");
});

test("close() is for good", () => {
  const { c, log, ws } = client(["a"]);
  ws.open();
  c.close();
  assert.equal(ws.closedWith, 1000);
  ws.closed(1000);
  advance(60_000);
  assert.equal(sockets.length, 1, "no reconnect");
  assert.deepEqual(of(log, "state").map((s) => s.state), ["connecting", "open", "closed"]);
});
