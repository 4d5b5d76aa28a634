// sluice.js: the browser client of the Sluice relay, a dependency-free ES module. Every relay
// serves it at /_sluice/sluice.js.
//
//   import { Sluice } from "/_sluice/sluice.js";
//   const client = new Sluice({ topics: ["prices"] });
//   client.on("message", (m) => draw(m.topic, m.data));
//   client.on("recovery", (r) => { if (!r.recovered) reload(r.topic); });
//
// What it does for the application:
// - It subscribes in envelope mode (the `sluice.v1` subprotocol): every message carries its
//   topic, its offset (1, 2, 3, ... per topic) and its epoch (the name of the topic's stream).
// - It keeps, per topic, its position: the epoch and the last offset it delivered.
// - After any close it reconnects, with jittered exponential backoff, and resumes every topic from
//   its position (`/sub/a,b?since=a@<epoch>:<offset>,b@<epoch>:<offset>`). The relay replays what
//   was missed, all or nothing.
// - It delivers each offset of a stream at most once, in order: a duplicate is dropped.
// - It never hides a loss. A resume the relay refuses is a `recovery` event with
//   `recovered: false` and the reason; a stretch the relay skipped is a `gap` event.
//
// Events, with client.on(name, fn); fn gets one object:
//   message     {topic, offset, epoch, data} (or data_b64 for a binary payload; window results
//               add watermark and final, values of the `latest` policy add conflated)
//   subscribed  {topic, epoch, offset}: a new subscription; messages after `offset` follow
//   recovery    {topic, recovered: true, epoch, from, to, previous, refill}: offsets from..to follow
//               {topic, recovered: false, reason, epoch, offset, oldest, previous, refill}:
//               what came after `previous` may be lost; messages after `offset` follow (or,
//               with refill: true, the new stream from its first offset; see recovery() below)
//   gap         {topic, from, to, reason}: offsets from..to will not be delivered
//   state       {state: "connecting" | "open" | "waiting" | "idle" | "closed", ...}
//   error       {topic?, reason}: the relay refused a subscription (the topic is dropped), the
//               WebSocket could not be created (a bad url), or the relay does not speak sluice.v1

const PROTOCOL = "sluice.v1";
const TOPIC = /^[A-Za-z0-9._:-]{1,128}$/;
const EPOCH = /^[0-9a-fA-F]{16}$/;
const OPEN = 1; // WebSocket.OPEN

export class Sluice {
  // options:
  //   url             the relay, "ws://host:port" (default: the page's own host; wss: on https:)
  //   topics          topic names to subscribe to at once
  //   token           an access token, or a function returning one (read at every connect)
  //   backoff         {initial: 500, max: 30000}: the wait before reconnecting, in milliseconds:
  //                   initial, doubled after each failed attempt up to max; the actual wait is
  //                   drawn between half of that and all of it
  //   connectTimeout  milliseconds an attempt may take before it is abandoned (10000)
  //   WebSocket       a WebSocket class (default: the global one)
  constructor(options = {}) {
    this.url = (options.url ?? pageRelay()).replace(/\/+$/, "");
    this.token = options.token;
    this.backoff = { initial: 500, max: 30_000, ...options.backoff };
    this.connectTimeout = options.connectTimeout ?? 10_000;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.stats = { connects: 0, duplicates: 0 };
    this.state = "idle";
    this.topics = new Map(); // name -> {epoch, offset, joined, held}; see subscribe()
    this.handlers = new Map(); // event name -> [fn]
    this.ws = null; // the current connection (connecting or open)
    this.asked = new Set(); // topics the current connection subscribed to (URL or command)
    this.timer = null; // the next connect
    this.deadline = null; // the current attempt's connect timeout
    this.retries = 0; // attempts since the last open connection
    this.closed = false;
    this.online = () => this.state === "waiting" && this.connect();
    globalThis.addEventListener?.("online", this.online);
    for (const name of options.topics ?? []) this.subscribe(name);
  }

  // Call fn(event) for every event `name`. Returns a function that removes it.
  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, []);
    this.handlers.get(name).push(fn);
    return () => this.handlers.set(name, this.handlers.get(name).filter((f) => f !== fn));
  }

  // Subscribe to a topic, now or at the next connect. `since: {epoch, offset}` resumes from a
  // position the application kept (from position(), say across page loads); without it the
  // subscription starts with the next message.
  subscribe(name, { since } = {}) {
    if (!TOPIC.test(name)) throw new TypeError(`not a topic name: ${name}`);
    if (since && !(EPOCH.test(since.epoch) && Number.isSafeInteger(since.offset) && since.offset >= 0)) {
      throw new TypeError("since is {epoch: <16 hex digits>, offset: <a number>}");
    }
    if (this.closed || this.topics.has(name)) return;
    // epoch and offset: the position (null: none yet). joined: the relay answered this topic's
    // subscription on the current connection. held: messages held back during a refill.
    this.topics.set(name, { epoch: since?.epoch ?? null, offset: since?.offset ?? 0, joined: false, held: null });
    if (this.ws) this.sync();
    else if (this.timer === null) this.timer = setTimeout(() => this.connect(), 0);
  }

  // Stop receiving a topic (its position is forgotten).
  unsubscribe(name) {
    if (this.topics.delete(name) && this.ws) this.sync();
  }

  // The position of a topic, {epoch, offset}, or null before its first answer.
  position(name) {
    const t = this.topics.get(name);
    return t && t.epoch !== null ? { epoch: t.epoch, offset: t.offset } : null;
  }

  // Close for good: no more events but a last `state` (closed).
  close() {
    if (this.closed) return;
    this.closed = true;
    globalThis.removeEventListener?.("online", this.online);
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
    this.setState("closed");
  }

  // ---- the connection ----

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.closed || this.ws) return;
    if (this.topics.size === 0) return this.setState("idle"); // subscribe() connects again
    const since = [];
    for (const [name, t] of this.topics) {
      t.joined = false;
      t.held = null; // a refill in progress is asked again by since=<new epoch>:0
      if (t.epoch !== null) since.push(`${name}@${t.epoch}:${t.offset}`);
    }
    const query = since.length ? [`since=${since.join(",")}`] : [];
    const token = typeof this.token === "function" ? this.token() : this.token;
    if (token) query.push(`token=${encodeURIComponent(token)}`);
    const names = [...this.topics.keys()];
    const url = `${this.url}/sub/${names.join(",")}${query.length ? "?" + query.join("&") : ""}`;
    this.setState("connecting", { retries: this.retries });
    let ws;
    try {
      ws = new this.WebSocket(url, [PROTOCOL]);
    } catch (e) {
      this.emit("error", { reason: `cannot connect to ${this.url}: ${e.message ?? e}` });
      return this.lost(1006, "");
    }
    this.ws = ws;
    this.asked = new Set(names);
    this.deadline = setTimeout(() => ws.close(), this.connectTimeout);
    ws.onopen = () => this.ws === ws && this.opened(ws);
    ws.onmessage = (ev) => this.ws === ws && this.receive(ev.data);
    ws.onclose = (ev) => this.ws === ws && this.lost(ev.code, ev.reason);
  }

  opened(ws) {
    clearTimeout(this.deadline);
    if (ws.protocol !== PROTOCOL) {
      this.emit("error", { reason: `the relay did not accept the ${PROTOCOL} subprotocol` });
      return ws.close();
    }
    this.retries = 0;
    this.stats.connects += 1;
    this.setState("open");
    this.sync();
  }

  // The connection is gone: wait, then connect again (every topic resumes from its position).
  lost(code, reason) {
    clearTimeout(this.deadline);
    this.ws = null;
    this.asked = new Set();
    if (this.closed) return;
    const base = Math.min(this.backoff.max, this.backoff.initial * 2 ** Math.min(this.retries, 30));
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    this.retries += 1;
    this.setState("waiting", { delay, code, reason, retries: this.retries });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  // Bring the open connection's subscriptions in line with the topics.
  sync() {
    if (!this.ws || this.ws.readyState !== OPEN) return; // opened() calls it again
    for (const [name, t] of this.topics) {
      if (this.asked.has(name)) continue;
      this.asked.add(name);
      const since = t.epoch === null ? undefined : { epoch: t.epoch, offset: t.offset };
      this.send({ type: "subscribe", topic: name, since });
    }
    for (const name of this.asked) {
      if (this.topics.has(name)) continue;
      this.asked.delete(name);
      this.send({ type: "unsubscribe", topic: name });
    }
  }

  send(command) {
    this.ws?.send(JSON.stringify(command)); // (none if a handler just called close())
  }

  // ---- what the relay sends ----

  receive(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return this.emit("error", { reason: "the relay sent something that is not JSON" });
    }
    const t = this.topics.get(m.topic);
    if (m.type === "error") return this.refused(m);
    if (!t) return; // a topic unsubscribed since (or an answer to that)
    if (m.type === undefined || m.type === "gap") return this.item(m.topic, t, m);
    if (m.type === "subscribed") return this.subscribed(m.topic, t, m);
    if (m.type === "recovery") return this.recovery(m.topic, t, m);
    // "unsubscribed", and any control message a later relay may add: nothing to do.
  }

  // A message or a gap (each has its offsets in the stream).
  item(name, t, m) {
    if (!t.joined) return; // left over from an earlier subscription of this topic
    if (t.held) return void t.held.push(m);
    if (m.type === undefined && m.epoch !== t.epoch) {
      // Another stream, unannounced (the relay announces new streams; this is a safety net).
      const previous = { epoch: t.epoch, offset: t.offset };
      t.epoch = m.epoch;
      t.offset = m.offset - 1;
      const info = { topic: name, recovered: false, reason: "epoch_changed", epoch: m.epoch };
      this.emit("recovery", { ...info, offset: t.offset, oldest: null, previous, refill: false });
    }
    const last = m.type === "gap" ? m.to : m.offset;
    if (last <= t.offset) return void (this.stats.duplicates += 1);
    t.offset = last;
    this.emit(m.type === "gap" ? "gap" : "message", m);
  }

  // A new subscription (no position asked): messages after m.offset follow.
  subscribed(name, t, m) {
    t.joined = true;
    t.epoch = m.epoch;
    t.offset = m.offset;
    this.emit("subscribed", { topic: name, epoch: m.epoch, offset: m.offset });
  }

  // The answer to a resume.
  //
  // recovered: true: the gap follows, then live messages; nothing to do. (During a refill, the
  // messages held back are all in that gap: dropped.)
  //
  // recovered: false: the application is told, always. The position becomes the relay's
  // (epoch, offset): live messages after it follow. One case is worth more: `epoch_changed`
  // means the stream we had a position in is gone (a relay restart, or a quiet topic whose stream
  // ended while nothing used it) and a new one began. What came after our position in the old
  // stream is unknown, but the new stream may be whole in the relay's history (oldest offset
  // 1): then the client asks for it from its start (a "refill": unsubscribe, then subscribe
  // since <new epoch>:0, holding back live messages until the answer). That answer is all or
  // nothing too; if refused, it is a second recovery event and the held messages are delivered.
  recovery(name, t, m) {
    const refilling = t.held !== null;
    const held = t.held ?? [];
    t.joined = true;
    t.held = null;
    if (m.recovered) {
      const previous = t.epoch === null ? null : { epoch: t.epoch, offset: t.offset };
      t.epoch = m.epoch;
      return this.emit("recovery", { ...m, previous, refill: false });
    }
    for (const h of held) this.item(name, t, h); // they came before this answer
    const previous = t.epoch === null ? null : { epoch: t.epoch, offset: t.offset };
    const refill = !refilling && m.reason === "epoch_changed" && m.oldest <= 1 && m.offset > 0;
    if (refill) {
      t.epoch = m.epoch;
      t.offset = 0;
      t.held = [];
      this.send({ type: "unsubscribe", topic: name });
      this.send({ type: "subscribe", topic: name, since: { epoch: m.epoch, offset: 0 } });
    } else {
      // The relay's position is the truth, even below ours (a `since` it never had).
      t.epoch = m.epoch;
      t.offset = m.offset;
    }
    this.emit("recovery", { ...m, previous, refill });
  }

  // {"type":"error"}: about a subscription not (or no longer) in place, the topic is dropped.
  refused(m) {
    const t = this.topics.get(m.topic);
    if (t && (!t.joined || t.held)) {
      const held = t.held ?? [];
      t.joined = true;
      t.held = null;
      for (const h of held) this.item(m.topic, t, h);
      this.topics.delete(m.topic);
      this.asked.delete(m.topic);
    }
    this.emit("error", { topic: m.topic, reason: m.reason });
  }

  // ---- events ----

  setState(state, info = {}) {
    this.state = state;
    this.emit("state", { state, ...info });
  }

  emit(name, event) {
    if (this.closed && name !== "state") return;
    for (const fn of this.handlers.get(name) ?? []) {
      try {
        fn(event);
      } catch (e) {
        // The application's bug: reported as uncaught, without breaking the client's state.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }
}

// The relay that served this page: ws://host[:port], or wss:// on an https page.
function pageRelay() {
  if (typeof location === "undefined") throw new TypeError("sluice.js: give the relay's url");
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
}
