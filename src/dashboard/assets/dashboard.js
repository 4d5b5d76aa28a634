// Sluice dashboard: reads the relay's live feed (/_sluice/stats, one JSON message a second) and
// draws it; the topic viewer is an ordinary /sub/<topic> and /pub/<topic> client. No library,
// no external request: everything this page needs comes from the relay that served it.
"use strict";

(() => {
  const FEED = "/_sluice/stats";
  const HISTORY = 300; // seconds kept for the charts (the relay keeps as many)
  const MAX_VIEWER_MESSAGES = 500;
  const TOPIC_RE = /^[A-Za-z0-9._:-]{1,128}$/;
  const wsBase = (location.protocol === "https:" ? "wss://" : "ws://") + location.host;

  const $ = (id) => document.getElementById(id);
  const setText = (id, v) => {
    const el = $(id);
    if (el && el.textContent !== String(v)) el.textContent = v;
  };

  // ---- formatting ---------------------------------------------------------------------------
  const fmtInt = (n) => Math.round(n).toLocaleString("en-US");
  function fmtCompact(n) {
    if (!isFinite(n)) return "–";
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 1 : 2) + "G";
    if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 1 : 2) + "M";
    if (a >= 1e4) return (n / 1e3).toFixed(a >= 1e5 ? 0 : 1) + "k";
    if (a >= 100 || n === 0) return String(Math.round(n));
    return n.toFixed(1);
  }
  function fmtBytes(n) {
    if (!isFinite(n)) return "–";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (Math.abs(n) >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i === 0 ? Math.round(n) : n.toFixed(n >= 100 ? 0 : 1)) + " " + units[i];
  }
  function fmtNs(ns) {
    if (!ns) return "–";
    if (ns < 1e3) return ns + " ns";
    if (ns < 1e6) return (ns / 1e3).toFixed(ns < 1e4 ? 2 : ns < 1e5 ? 1 : 0) + " µs";
    if (ns < 1e9) return (ns / 1e6).toFixed(ns < 1e7 ? 2 : ns < 1e8 ? 1 : 0) + " ms";
    return (ns / 1e9).toFixed(2) + " s";
  }
  function fmtUptime(s) {
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${sec}s`;
    return `${sec}s`;
  }
  const clock = (t) => {
    const d = new Date(t);
    const p = (n, w = 2) => String(n).padStart(w, "0");
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
  };

  // ---- state --------------------------------------------------------------------------------
  let prev = null;         // previous feed message, for rates
  let history = [];        // [{t, n, p50, p99, max, in, out}]
  const topicRates = new Map(); // name -> {in, out}
  let selected = null;     // topic shown in the viewer

  // ---- the live feed ------------------------------------------------------------------------
  let retry = 500;
  function connectFeed() {
    const ws = new WebSocket(wsBase + FEED);
    ws.onopen = () => { retry = 500; status("live", "live"); };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      onFeed(msg);
    };
    ws.onclose = () => {
      status("down", "reconnecting");
      prev = null;
      setTimeout(connectFeed, retry);
      retry = Math.min(retry * 2, 8000);
    };
  }
  function status(cls, text) {
    const el = $("status");
    el.className = "status " + cls;
    el.textContent = text;
  }

  function onFeed(m) {
    if (m.type === "hello") {
      history = m.history.slice(-HISTORY);
    } else {
      for (const s of m.history) {
        if (!history.length || s.t > history[history.length - 1].t) history.push(s);
      }
      if (history.length > HISTORY) history.splice(0, history.length - HISTORY);
    }
    const dt = prev ? Math.max((m.unix_ms - prev.unix_ms) / 1000, 0.001) : 0;
    const rate = (now, before) => (dt ? Math.max(now - before, 0) / dt : NaN);

    setText("version", "v" + m.version);
    setText("uptime", fmtUptime(m.uptime_s));
    setText("where", location.host);

    const t = m.totals, c = m.conns;
    const inRate = prev ? rate(t.messages_in, prev.totals.messages_in) : lastSample("in");
    const outRate = prev ? rate(t.messages_out, prev.totals.messages_out) : lastSample("out");
    setText("c-open", fmtInt(c.open));
    setText("c-accepted", fmtInt(c.accepted));
    setText("c-in-rate", fmtCompact(inRate));
    setText("c-out-rate", fmtCompact(outRate));
    setText("messages-in", fmtInt(t.messages_in));
    setText("messages-out", fmtInt(t.messages_out));
    setText("c-bw", prev ? fmtBytes(rate(t.bytes_out, prev.totals.bytes_out)) + "/s" : "–");
    setText("bytes-out", fmtBytes(t.bytes_out));
    const last = history[history.length - 1];
    setText("c-p99", last && last.n ? fmtNs(last.p99) : "–");
    setText("c-p50", last && last.n ? fmtNs(last.p50) : "–");
    const drops = Object.values(m.drops).reduce((a, b) => a + b, 0);
    setText("c-drops", fmtInt(drops));
    setText("c-slow", fmtInt(m.closes.slow_consumer));
    $("c-drops").parentElement.classList.toggle("alert", m.drops.slow_consumer > 0);

    setText("k-open", fmtInt(c.open));
    setText("k-accepted", fmtInt(c.accepted));
    setText("k-upgrades", fmtInt(c.upgrades));
    setText("k-dashboards", fmtInt(c.dashboards));
    setText("k-hs-timeouts", fmtInt(c.handshake_timeouts));
    setText("k-accept-errors", fmtInt(c.accept_errors));
    setText("k-rejected", fmtInt(c.rejected));
    renderChips(m.rejected);
    setText("k-slow", fmtInt(m.closes.slow_consumer));
    setText("k-protocol", fmtInt(m.closes.protocol));
    setText("k-keepalive", fmtInt(m.closes.keepalive));
    setText("k-unrouted", fmtInt(t.unrouted));
    const d = m.delivery, l = m.loop;
    setText("k-d-p50-99", `${fmtNs(d.p50_ns)} / ${fmtNs(d.p99_ns)}`);
    setText("k-d-p999-max", `${fmtNs(d.p999_ns)} / ${fmtNs(d.max_ns)}`);
    setText("k-d-count", fmtInt(d.count));
    setText("k-l-p50-99", `${fmtNs(l.p50_ns)} / ${fmtNs(l.p99_ns)}`);
    setText("k-l-max", fmtNs(l.max_ns));
    setText("k-bytes", `${fmtBytes(t.bytes_in)} / ${fmtBytes(t.bytes_out)}`);

    renderTopics(m, dt);
    renderPipelines(m, dt);
    prev = m;
    drawCharts();
  }

  function lastSample(key) {
    const s = history[history.length - 1];
    return s ? s[key] : NaN;
  }

  function renderChips(rejected) {
    const el = $("k-rejected-by");
    const entries = Object.entries(rejected);
    const key = JSON.stringify(entries);
    if (el.dataset.key === key) return;
    el.dataset.key = key;
    el.textContent = entries.length ? "" : "–";
    for (const [status, n] of entries) {
      const chip = document.createElement("span");
      chip.textContent = `${status} × ${fmtInt(n)}`;
      el.appendChild(chip);
    }
  }

  // ---- topics table -------------------------------------------------------------------------
  function renderTopics(m, dt) {
    const before = new Map((prev ? prev.topics : []).map((x) => [x.name, x]));
    const rows = m.topics.map((x) => {
      const b = before.get(x.name);
      const r = {
        in: b && dt ? Math.max(x.messages_in - b.messages_in, 0) / dt : (topicRates.get(x.name) || {}).in || 0,
        out: b && dt ? Math.max(x.messages_out - b.messages_out, 0) / dt : (topicRates.get(x.name) || {}).out || 0,
      };
      topicRates.set(x.name, r);
      return { ...x, rate: r, drops_total: Object.values(x.drops).reduce((a, c) => a + c, 0) };
    });
    // Topics that pipelines read or write live as long as the relay; the others are gone when
    // they have no subscriber and no publisher. Busiest first, gone ones last.
    const producedBy = new Map(), piped = new Set();
    for (const p of m.pipelines || []) {
      producedBy.set(p.to, [...(producedBy.get(p.to) || []), p.name]);
      piped.add(p.to);
      for (const f of p.from || []) piped.add(f);
    }
    for (const r of rows) r.live = r.subs + r.pubs > 0 || piped.has(r.name);
    rows.sort((a, b) => {
      const liveA = a.live, liveB = b.live;
      if (liveA !== liveB) return liveA ? -1 : 1;
      return b.rate.in - a.rate.in || b.messages_in - a.messages_in || a.name.localeCompare(b.name);
    });
    const maxRate = Math.max(1, ...rows.map((r) => r.rate.in));
    const body = $("topics-body");
    const live = rows.filter((r) => r.live).length;
    setText("topics-hint", `${live} live · ${rows.length} tracked`);
    if (!rows.length) return;
    const frag = document.createDocumentFragment();
    for (const r of rows) {
      const tr = document.createElement("tr");
      tr.dataset.topic = r.name;
      if (!r.live) tr.className = "gone";
      if (r.name === selected) tr.classList.add("selected");
      const cells = [
        [r.name, "name"],
        [fmtInt(r.subs), "n subs"],
        [fmtInt(r.pubs), "n pubs"],
        [fmtCompact(r.rate.in), "n bar-cell in-rate"],
        [fmtCompact(r.rate.out), "n out-rate"],
        [fmtInt(r.messages_in), "n in-total"],
        [fmtInt(r.messages_out), "n out-total"],
        [fmtBytes(r.bytes_out), "n"],
        [`${fmtInt(r.history)} · ${fmtBytes(r.history_bytes)}`, "n history"],
        [fmtInt(r.drops_total), "n drops" + (r.drops.slow_consumer || r.drops.lost ? " bad" : "")],
      ];
      for (const [text, cls] of cells) {
        const td = document.createElement("td");
        td.className = cls;
        td.textContent = text;
        if (cls.startsWith("n drops")) {
          // Each reason: slow-consumer closes, skips, conflations, losses, …
          td.title = Object.entries(r.drops).filter(([, n]) => n > 0)
            .map(([why, n]) => `${why.replace(/_/g, " ")}: ${fmtInt(n)}`).join("\n") || "none";
        } else if (cls === "n history") {
          td.title = `${fmtInt(r.history)} messages kept for resumes, ${fmtBytes(r.history_bytes)}; ` +
            `${fmtInt(r.history_evicted)} evicted by the global bound`;
        }
        if (cls === "name" && producedBy.has(r.name)) {
          const tag = document.createElement("span");
          tag.className = "tag";
          tag.textContent = "from " + producedBy.get(r.name).join(", ");
          tag.title = "results of the pipeline(s) " + producedBy.get(r.name).join(", ");
          td.appendChild(tag);
        }
        if (cls.includes("bar-cell") && r.rate.in > 0) {
          const bar = document.createElement("span");
          bar.className = "rate-bar";
          bar.style.width = Math.max(4, (60 * r.rate.in) / maxRate) + "px";
          td.appendChild(bar);
        }
        tr.appendChild(td);
      }
      if (r.name.startsWith("~")) tr.removeAttribute("data-topic"); // the overflow series
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
    const list = $("topic-list");
    const names = rows.filter((r) => !r.name.startsWith("~")).map((r) => r.name);
    if (list.dataset.key !== names.join(",")) {
      list.dataset.key = names.join(",");
      list.replaceChildren(...names.map((n) => Object.assign(document.createElement("option"), { value: n })));
    }
  }

  // ---- pipelines (shown only when the relay runs some) -------------------------------------
  const cell = (text, cls, sub, title) => {
    const td = document.createElement("td");
    td.className = cls;
    td.textContent = text;
    if (sub) {
      const s = document.createElement("small");
      s.textContent = sub;
      td.appendChild(s);
    }
    if (title) td.title = title;
    return td;
  };

  function renderPipelines(m, dt) {
    const list = m.pipelines || [];
    $("pipelines-panel").hidden = list.length === 0;
    if (!list.length) return;
    setText("pipelines-hint", `${fmtInt(m.workers)} worker${m.workers === 1 ? "" : "s"}`);
    const before = new Map((prev && prev.pipelines ? prev.pipelines : []).map((p) => [p.name, p]));
    const frag = document.createDocumentFragment();
    for (const p of list) {
      const b = before.get(p.name);
      const rate = b && dt ? Math.max(p.messages_in - b.messages_in, 0) / dt : NaN;
      const late = p.late_out + p.late_dropped;
      const tr = document.createElement("tr");
      tr.append(
        cell(p.name, "name", `${(p.from || []).join(", ")} → ${p.to}`),
        cell(fmtCompact(rate), "n"),
        cell(fmtInt(p.messages_in), "n"),
        cell(fmtInt(p.records_in), "n"),
        cell(fmtInt(p.records_out), "n"),
        cell(fmtInt(p.filtered), "n" + (p.filtered ? "" : " zero")),
        cell(fmtInt(p.windows_fired), "n" + (p.windows_fired ? "" : " zero"),
          p.updates ? `${fmtInt(p.updates)} updates` : "",
          "window results published; updates are late re-firings"),
        cell(fmtInt(late), "n" + (late ? "" : " zero"),
          late ? `${fmtInt(p.late_out)} out · ${fmtInt(p.late_dropped)} dropped` : "",
          "events past the allowed lateness: published to the late topic, or dropped"),
        cell(fmtInt(p.dropped_full), "n" + (p.dropped_full ? " bad" : " zero")),
        cell(fmtInt(p.errors), "n" + (p.errors ? " bad" : " zero")),
      );
      frag.appendChild(tr);
    }
    $("pipelines-body").replaceChildren(frag);
    renderQueues(m);
  }

  // One gauge per worker's inbound queue, then the shared result queue (batches / bound).
  function renderQueues(m) {
    const queues = (m.queues || []).map((q, i) => [`worker ${i}`, q]);
    if (m.result_queue) queues.push(["results", m.result_queue]);
    const frag = document.createDocumentFragment();
    for (const [name, q] of queues) {
      const fill = q.capacity ? q.queued / q.capacity : 0;
      const el = document.createElement("span");
      el.className = "queue" + (fill >= 0.9 ? " full" : fill >= 0.5 ? " high" : "");
      el.title = `${name}: ${q.queued} of ${q.capacity} batches queued`;
      const label = document.createElement("b");
      label.textContent = name;
      const meter = document.createElement("i");
      const level = document.createElement("i");
      level.style.width = (q.queued ? Math.max(2, 100 * fill) : 0) + "%";
      meter.appendChild(level);
      const count = document.createElement("span");
      count.textContent = `${fmtInt(q.queued)} / ${fmtInt(q.capacity)}`;
      el.append(label, meter, count);
      frag.appendChild(el);
    }
    $("queues").replaceChildren(frag);
  }

  $("topics-body").addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr[data-topic]");
    if (!tr) return;
    $("topic-input").value = tr.dataset.topic;
    subscribe(tr.dataset.topic);
  });

  // ---- charts -------------------------------------------------------------------------------
  function setupCanvas(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return { ctx, w, h };
  }

  // A "nice" grid step (1, 2, 2.5 or 5 times a power of ten) so that `lines` steps cover v.
  function niceStep(v, lines) {
    if (!(v > 0)) return 1;
    const raw = v / lines;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }

  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  function drawSeries({ canvas, series, fmt, emptyText, log }) {
    const { ctx, w, h } = setupCanvas(canvas);
    const padL = 64, padR = 10, padT = 10, padB = 22;
    const plotW = w - padL - padR, plotH = h - padT - padB;
    const now = history.length ? history[history.length - 1].t : Date.now();
    const t0 = now - HISTORY * 1000;
    // The axis follows the series marked `scale` (p50/p99); others (max) are clipped at the top.
    let top = 0;
    for (const s of series) {
      if (s.scale === false) continue;
      for (const p of history) if (p.t >= t0 && s.ok(p)) top = Math.max(top, s.value(p));
    }
    const x = (t) => padL + ((t - t0) / (HISTORY * 1000)) * plotW;
    // Linear axis: four nice steps. Log axis (latency): whole decades around every series, so a
    // 30 µs median and a 5 ms tail are both readable.
    let ticks, y;
    if (log) {
      let lo = Infinity, hi = 0;
      for (const s of series) {
        for (const p of history) {
          if (p.t >= t0 && s.ok(p) && s.value(p) > 0) {
            lo = Math.min(lo, s.value(p));
            hi = Math.max(hi, s.value(p));
          }
        }
      }
      const dLo = Math.floor(Math.log10(lo > 0 && isFinite(lo) ? lo : 1e4));
      const dHi = Math.max(Math.ceil(Math.log10(hi > 0 ? hi : 1e6)), dLo + 2);
      ticks = [];
      for (let d = dLo; d <= dHi; d++) ticks.push(Math.pow(10, d));
      y = (v) => padT + plotH - ((Math.log10(Math.max(v, 1)) - dLo) / (dHi - dLo)) * plotH;
    } else {
      const step = niceStep(top * 1.05, 4);
      ticks = [0, 1, 2, 3, 4].map((i) => i * step);
      y = (v) => padT + plotH - (v / (step * 4)) * plotH;
    }

    ctx.font = "11px system-ui, sans-serif";
    ctx.lineWidth = 1;
    // Grid and y labels.
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ticks.forEach((v, i) => {
      const yy = Math.round(y(v)) + 0.5;
      ctx.strokeStyle = i === 0 ? css("--line") : "rgba(34,48,64,0.55)";
      ctx.beginPath(); ctx.moveTo(padL, yy); ctx.lineTo(w - padR, yy); ctx.stroke();
      ctx.fillStyle = css("--faint");
      ctx.fillText(top > 0 ? (v === 0 ? "0" : fmt(v)) : "", padL - 8, yy);
    });
    // Time labels: every minute.
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let k = 0; k <= 5; k++) {
      const t = now - (5 - k) * 60000;
      ctx.fillStyle = css("--faint");
      ctx.fillText(k === 5 ? "now" : `-${5 - k}m`, Math.min(Math.max(x(t), padL + 10), w - padR - 12), h - padB + 6);
    }
    if (top === 0) {
      ctx.fillStyle = css("--faint");
      ctx.textBaseline = "middle";
      ctx.fillText(emptyText, padL + plotW / 2, padT + plotH / 2);
      return;
    }
    ctx.save();
    ctx.beginPath();
    ctx.rect(padL, padT - 1, plotW, plotH + 2);
    ctx.clip();
    for (const s of series) {
      ctx.strokeStyle = s.color;
      ctx.globalAlpha = s.alpha || 1;
      ctx.lineWidth = s.width || 1.6;
      ctx.lineJoin = "round";
      ctx.beginPath();
      let pen = false, lastT = null;
      for (const p of history) {
        if (p.t < t0) continue;
        // Break the line over gaps (relay restarted, feed lost) and idle seconds.
        if (!s.ok(p) || (lastT !== null && p.t - lastT > 2500)) { pen = false; }
        if (s.ok(p)) {
          const xx = x(p.t), yy = y(s.value(p));
          if (pen) ctx.lineTo(xx, yy); else ctx.moveTo(xx, yy);
          pen = true;
        }
        lastT = p.t;
      }
      ctx.stroke();
      if (s.fill) {
        ctx.globalAlpha = 0.08;
        ctx.fillStyle = s.color;
        ctx.beginPath();
        let started = false, firstX = 0, lastX = 0;
        for (const p of history) {
          if (p.t < t0 || !s.ok(p)) continue;
          const xx = x(p.t);
          if (!started) { ctx.moveTo(xx, padT + plotH); firstX = xx; started = true; }
          ctx.lineTo(xx, y(s.value(p)));
          lastX = xx;
        }
        const floor = padT + plotH;
        if (started) { ctx.lineTo(lastX, floor); ctx.lineTo(firstX, floor); ctx.fill(); }
      }
      ctx.globalAlpha = 1;
    }
    ctx.restore();
  }

  function drawCharts() {
    const has = (p) => p.n > 0;
    drawSeries({
      canvas: $("latency-chart"),
      fmt: (v) => fmtNs(v).replace(/\.0+ /, " "),
      log: true,
      emptyText: "no deliveries yet",
      series: [
        { color: css("--max"), alpha: 0.4, width: 1, ok: has, value: (p) => p.max },
        { color: css("--p99"), ok: has, value: (p) => p.p99, width: 1.8 },
        { color: css("--p50"), ok: has, value: (p) => p.p50, width: 1.8, fill: true },
      ],
    });
    drawSeries({
      canvas: $("rate-chart"),
      fmt: fmtCompact,
      emptyText: "no messages yet",
      series: [
        { color: css("--out"), ok: () => true, value: (p) => p.out, fill: true },
        { color: css("--in"), ok: () => true, value: (p) => p.in, fill: true },
      ],
    });
  }
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawCharts, 100);
  });

  // ---- topic viewer -------------------------------------------------------------------------
  let sub = null, pub = null, received = 0, sent = 0;
  const pending = [];
  const decoder = new TextDecoder("utf-8", { fatal: false });

  function viewerState(text) { setText("viewer-state", text); }

  function subscribe(topic) {
    const input = $("topic-input");
    if (!TOPIC_RE.test(topic)) {
      input.classList.add("invalid");
      viewerState("a topic is 1–128 of A–Z a–z 0–9 . _ : -");
      return;
    }
    input.classList.remove("invalid");
    closeViewer();
    selected = topic;
    for (const tr of document.querySelectorAll("#topics-body tr")) {
      tr.classList.toggle("selected", tr.dataset.topic === topic);
    }
    viewerState(`connecting to ${topic}…`);
    const ws = new WebSocket(wsBase + "/sub/" + topic);
    ws.binaryType = "arraybuffer";
    sub = ws;
    ws.onopen = () => {
      if (sub !== ws) return;
      viewerState(`subscribed to ${topic}`);
      $("publish-input").disabled = false;
      $("publish-btn").disabled = false;
      $("subscribe-btn").textContent = "Switch";
    };
    ws.onmessage = (ev) => { if (sub === ws) addMessage(ev.data); };
    ws.onclose = (ev) => {
      if (sub !== ws) return;
      viewerState(`closed (${ev.code}${ev.reason ? ": " + ev.reason : ""})`);
      $("publish-input").disabled = true;
      $("publish-btn").disabled = true;
    };
  }

  function closeViewer() {
    if (sub) { const s = sub; sub = null; s.close(1000); }
    if (pub) { const p = pub; pub = null; p.close(1000); }
    pending.length = 0;
  }

  // Messages are rendered at most once per animation frame, and only the newest
  // MAX_VIEWER_MESSAGES of a burst are kept, so a topic at tens of thousands of messages a
  // second cannot freeze the page.
  let inbox = [];
  let flushQueued = false;
  function addMessage(data) {
    received += 1;
    inbox.push({ data, at: Date.now() });
    if (inbox.length > MAX_VIEWER_MESSAGES) inbox.splice(0, inbox.length - MAX_VIEWER_MESSAGES);
    if (!flushQueued) {
      flushQueued = true;
      requestAnimationFrame(flushInbox);
    }
  }

  function flushInbox() {
    flushQueued = false;
    const batch = inbox;
    inbox = [];
    setText("viewer-count", fmtInt(received));
    if (!batch.length) return;
    const box = $("viewer-messages");
    const empty = $("viewer-empty");
    if (empty) empty.remove();
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
    const frag = document.createDocumentFragment();
    const animate = batch.length <= 20;
    for (const { data, at } of batch) frag.appendChild(messageRow(data, at, animate));
    box.appendChild(frag);
    let extra = box.children.length - MAX_VIEWER_MESSAGES;
    while (extra-- > 0) box.firstChild.remove();
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  function messageRow(data, at, animate) {
    const row = document.createElement("div");
    row.className = animate ? "msg fresh" : "msg";
    const time = document.createElement("time");
    time.textContent = clock(at);
    const kind = document.createElement("span");
    const body = document.createElement("span");
    body.className = "body";
    if (typeof data === "string") {
      kind.className = "kind";
      kind.textContent = "text";
      body.textContent = data.length > 4000 ? data.slice(0, 4000) + "…" : data;
    } else {
      const bytes = new Uint8Array(data);
      kind.className = "kind bin";
      kind.textContent = "bin";
      const hex = Array.from(bytes.slice(0, 48), (b) => b.toString(16).padStart(2, "0")).join(" ");
      body.textContent = `${bytes.length} B  ${hex}${bytes.length > 48 ? " …" : ""}`;
      body.title = decoder.decode(bytes.slice(0, 512));
    }
    row.append(time, kind, body);
    return row;
  }

  function publish(text) {
    if (!selected || text === "") return;
    if (!pub || pub.readyState > 1) {
      const topic = selected;
      const ws = new WebSocket(wsBase + "/pub/" + topic);
      pub = ws;
      ws.onopen = () => { while (pending.length && ws.readyState === 1) ws.send(pending.shift()); };
      ws.onclose = (ev) => {
        if (pub === ws) { pub = null; if (ev.code !== 1000) viewerState(`publisher closed (${ev.code})`); }
      };
    }
    if (pub.readyState === 1) pub.send(text); else pending.push(text);
    sent += 1;
    setText("viewer-sent", fmtInt(sent));
  }

  $("subscribe-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    subscribe($("topic-input").value.trim());
  });
  $("topic-input").addEventListener("input", () => $("topic-input").classList.remove("invalid"));
  $("publish-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("publish-input");
    publish(input.value);
    input.value = "";
  });
  // Long messages show on one line; a click unfolds one.
  $("viewer-messages").addEventListener("click", (ev) => {
    const row = ev.target.closest(".msg");
    if (row) row.classList.toggle("open");
  });
  $("clear-btn").addEventListener("click", () => {
    const box = $("viewer-messages");
    box.replaceChildren();
    inbox = [];
    received = 0;
    setText("viewer-count", "0");
  });

  connectFeed();
  drawCharts();
})();
