// A live chart of a window-results topic, drawn on canvases with no library.
//
// The page subscribes to /sub/<topic> on the server that served it (same origin: no CORS, no
// extra configuration) and draws one chart per key. A window result looks like
//   {"key":"BTC-USD","window_start":1700000000000,"window_end":1700000001000,
//    "open":67012.5,"high":67020,"low":67001,"close":67010,"ticks":402}
// With open/high/low/close fields each window is a candle; otherwise the first numeric field is
// drawn as a line. A count-like field (ticks, trades, count, volume) is drawn as bars below.
// A late re-firing ("update": true) replaces the window it updates.

"use strict";

const MAX_POINTS = 90;              // windows kept per key
const MIN_SLOTS = 40;               // the x axis holds at least this many windows
const params = new URLSearchParams(location.search);
const topic = params.get("topic") || "candles.1s";
const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
  "/sub/" + encodeURIComponent(topic);
const series = new Map();          // key -> { points, card, canvas, value, fields }
let received = 0;
let drawPending = false;

document.getElementById("topic").textContent = topic;
document.getElementById("url").textContent = "/sub/" + topic;

function setStatus(text, cls) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.className = cls;
}

function connect(delay) {
  const ws = new WebSocket(url);
  ws.onopen = () => { delay = 500; setStatus("live", "live"); };
  ws.onmessage = (ev) => {
    let r;
    try { r = JSON.parse(ev.data); } catch { return; }
    if (r && typeof r === "object" && !Array.isArray(r)) add(r);
  };
  ws.onclose = () => {
    setStatus("disconnected, retrying…", "closed");
    setTimeout(() => connect(Math.min(delay * 2, 5000)), delay);
  };
}

function numericFields(r) {
  return Object.keys(r).filter((k) =>
    typeof r[k] === "number" && !["window_start", "window_end"].includes(k));
}

function add(r) {
  const key = r.key === undefined || r.key === null ? "all" : String(r.key);
  let s = series.get(key);
  if (!s) s = newSeries(key);
  const t = r.window_end ?? r.window_start ?? Date.now();
  const at = s.points.findIndex((p) => p.t === t);
  if (at >= 0) s.points[at] = { t, r }; else s.points.push({ t, r });
  s.points.sort((a, b) => a.t - b.t);
  if (s.points.length > MAX_POINTS) s.points.splice(0, s.points.length - MAX_POINTS);
  received += 1;
  document.getElementById("points").textContent = String(received);
  document.body.dataset.points = String(received);
  const end = new Date(t).toLocaleTimeString();
  document.getElementById("last").textContent = `last window ended ${end}`;
  if (!drawPending) {
    drawPending = true;
    requestAnimationFrame(() => { drawPending = false; series.forEach(draw); });
  }
}

function newSeries(key) {
  const card = document.createElement("section");
  card.className = "card";
  const h = document.createElement("h2");
  const name = document.createElement("span");
  name.textContent = key;
  const value = document.createElement("span");
  value.className = "value";
  h.append(name, value);
  const fields = document.createElement("div");
  fields.className = "fields";
  const canvas = document.createElement("canvas");
  canvas.dataset.key = key;
  card.append(h, fields, canvas);
  document.getElementById("charts").append(card);
  const s = { points: [], card, canvas, value, fields };
  series.set(key, s);
  return s;
}

function draw(s) {
  const { canvas, points } = s;
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  if (points.length === 0) return;

  const last = points[points.length - 1].r;
  const candles = ["open", "high", "low", "close"].every((f) => typeof last[f] === "number");
  const nums = numericFields(last);
  const line = candles ? "close" : nums[0];
  const bars = ["ticks", "trades", "count", "volume"].find((f) => typeof last[f] === "number");
  s.fields.textContent = nums.map((f) => `${f} ${fmt(last[f])}`).join(" · ");
  if (line === undefined) return;
  const prev = points.length > 1 ? points[points.length - 2].r[line] : last[line];
  s.value.textContent = fmt(last[line]);
  s.value.className = "value " + (last[line] >= prev ? "up" : "down");

  const pad = { l: 8, r: 64, t: 8, b: 18 };
  const barH = bars ? 44 : 0;
  const plotH = h - pad.t - pad.b - barH - (bars ? 8 : 0);
  const lows = points.map((p) => (candles ? p.r.low : p.r[line])).filter(Number.isFinite);
  const highs = points.map((p) => (candles ? p.r.high : p.r[line])).filter(Number.isFinite);
  let lo = Math.min(...lows), hi = Math.max(...highs);
  if (!(hi > lo)) { hi = hi + 1; lo = lo - 1; }
  const y = (v) => pad.t + (hi - v) / (hi - lo) * plotH;
  const slots = Math.max(MIN_SLOTS, points.length);
  const step = (w - pad.l - pad.r) / slots;
  const x = (i) => pad.l + (slots - points.length + i + 0.5) * step;

  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#667085";
  g.strokeStyle = "#e3e6eb";
  g.lineWidth = 1;
  for (let k = 0; k <= 4; k++) {
    const v = lo + (hi - lo) * k / 4;
    const yy = Math.round(y(v)) + 0.5;
    g.beginPath(); g.moveTo(pad.l, yy); g.lineTo(w - pad.r, yy); g.stroke();
    g.fillText(fmt(v), w - pad.r + 6, yy + 4);
  }
  const first = new Date(points[0].t).toLocaleTimeString();
  const lastT = new Date(points[points.length - 1].t).toLocaleTimeString();
  g.fillText(first, Math.max(pad.l, x(0) - 24), h - 4);
  if (points.length > 8) g.fillText(lastT, w - pad.r - g.measureText(lastT).width, h - 4);

  if (candles) {
    const body = Math.max(1, step * 0.6);
    points.forEach((p, i) => {
      const { open, high, low, close } = p.r;
      g.strokeStyle = g.fillStyle = close >= open ? "#138a52" : "#c93a3a";
      g.beginPath(); g.moveTo(x(i), y(high)); g.lineTo(x(i), y(low)); g.stroke();
      const top = y(Math.max(open, close)), bottom = y(Math.min(open, close));
      g.fillRect(x(i) - body / 2, top, body, Math.max(1, bottom - top));
    });
  } else {
    g.strokeStyle = "#2f6fdb";
    g.lineWidth = 2;
    g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo(x(i), y(p.r[line])) : g.moveTo(x(i), y(p.r[line]))));
    g.stroke();
  }

  if (bars) {
    const top = h - pad.b - barH;
    const max = Math.max(1, ...points.map((p) => p.r[bars] || 0));
    g.fillStyle = "#c5d3ee";
    points.forEach((p, i) => {
      const bh = (p.r[bars] || 0) / max * barH;
      g.fillRect(x(i) - step * 0.35, top + barH - bh, step * 0.7, bh);
    });
    g.fillStyle = "#667085";
    g.fillText(bars, w - pad.r + 6, top + 12);
    g.fillText(fmt(last[bars]), w - pad.r + 6, top + 26);
  }
  canvas.dataset.drawn = String(points.length);
}

function fmt(v) {
  if (!Number.isFinite(v) || Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(1) : a >= 10 ? v.toFixed(2) : v.toPrecision(4);
}

connect(500);
