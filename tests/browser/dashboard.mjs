// Drives the Sluice dashboard in a real headless Chromium for tests/dashboard_browser.rs.
//
//   node tests/browser/dashboard.mjs <base-url> <topic> <screenshot.png>
//
// A line protocol with the Rust test on stdin/stdout:
//   -> "READY"                      the page is live and the topic viewer is subscribed to <topic>
//   <- "PUBLISHED <text>"           the Rust client published <text> to <topic>
//   -> "SEEN"                       <text> is in the viewer and the counters moved
//   <- "PIPELINED <name> <to> <n>"  pipeline <name> published a result to <to>; <n> workers
//   -> "PIPELINE_SHOWN"             its row counts the result, <to> is marked as produced by it,
//                                   and there is a queue gauge per worker and one for results
//   -> "BROWSER_PUBLISHED <text>"   the page published <text> to <topic> through its publish box
//   <- "RECEIVED"                   the Rust subscriber got it
//   -> "SCREENSHOT <path>"          saved; the process exits 0
// Any failure prints "FAIL <why>" and exits 1. Every wait is bounded.

import { launch } from "./chromium.mjs";
import { join } from "node:path";
import { createInterface } from "node:readline";

const [base, topic, shot] = process.argv.slice(2);
if (!base || !topic || !shot) {
  console.log("FAIL usage: dashboard.mjs <base-url> <topic> <screenshot.png>");
  process.exit(2);
}
const TIMEOUT = 60_000;

const lines = createInterface({ input: process.stdin });
const queue = [];
let waiter = null;
lines.on("line", (l) => (waiter ? (waiter(l), (waiter = null)) : queue.push(l)));
function nextLine() {
  if (queue.length) return Promise.resolve(queue.shift());
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no line from the test within the timeout")), TIMEOUT);
    waiter = (l) => { clearTimeout(t); resolve(l); };
  });
}

let browser;
const problems = [];
try {
  browser = await launch(TIMEOUT, { viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  const page = browser.page;
  // The page must load nothing from anywhere but the relay, and log no error (a CSP
  // violation or a script error shows up here).
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith(base.replace(/^http/, "ws")) && !u.startsWith("data:")) {
      problems.push(`request to another origin: ${u}`);
    }
  });
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console error: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  const check = () => { if (problems.length) throw new Error(problems.join("; ")); };

  await page.goto(base + "/", { waitUntil: "load" });
  await page.waitForSelector("#status.live");
  const inBefore = await counter(page, "#messages-in");

  await page.fill("#topic-input", topic);
  await page.click("#subscribe-btn");
  await page.waitForFunction((t) => document.getElementById("viewer-state").textContent === `subscribed to ${t}`, topic);
  check();
  console.log("READY");

  const published = await nextLine();
  if (!published.startsWith("PUBLISHED ")) throw new Error(`unexpected line: ${published}`);
  const text = published.slice("PUBLISHED ".length);
  await page.waitForFunction(
    (t) => [...document.querySelectorAll("#viewer-messages .msg .body")].some((e) => e.textContent === t),
    text,
  );
  // The live feed moves the counters: the total, and the topic's row.
  await page.waitForFunction(
    ([sel, before]) => Number(document.querySelector(sel).textContent.replace(/,/g, "")) > before,
    ["#messages-in", inBefore],
  );
  await page.waitForFunction(
    (t) => {
      const row = document.querySelector(`#topics-body tr[data-topic="${t}"]`);
      return row && Number(row.querySelector(".in-total").textContent.replace(/,/g, "")) >= 1
        && Number(row.querySelector(".subs").textContent) >= 1;
    },
    topic,
  );
  check();
  console.log("SEEN");

  const piped = await nextLine();
  if (!piped.startsWith("PIPELINED ")) throw new Error(`unexpected line: ${piped}`);
  const [name, to, workers] = piped.slice("PIPELINED ".length).split(" ");
  await page.waitForFunction(
    ([name, to, workers]) => {
      const row = [...document.querySelectorAll("#pipelines-body tr")]
        .find((r) => r.querySelector(".name").firstChild.textContent === name);
      const out = document.querySelector(`#topics-body tr[data-topic="${to}"] .tag`);
      const gauges = [...document.querySelectorAll("#queues .queue b")].map((b) => b.textContent);
      return !document.getElementById("pipelines-panel").hidden && row
        && Number(row.children[4].textContent.replace(/,/g, "")) >= 1
        && out && out.textContent === `from ${name}`
        && gauges.length === Number(workers) + 1 && gauges[gauges.length - 1] === "results";
    },
    [name, to, workers],
  );
  check();
  console.log("PIPELINE_SHOWN");

  const mine = `hello from the browser ${Date.now()}`;
  await page.fill("#publish-input", mine);
  await page.click("#publish-btn");
  console.log(`BROWSER_PUBLISHED ${mine}`);
  const ack = await nextLine();
  if (ack !== "RECEIVED") throw new Error(`unexpected line: ${ack}`);
  // Our own subscription shows it too, and the sent counter moved.
  await page.waitForFunction(
    (t) => [...document.querySelectorAll("#viewer-messages .msg .body")].some((e) => e.textContent === t),
    mine,
  );
  // Let one more feed tick land so the screenshot shows current numbers.
  const ticks = await counter(page, "#messages-in");
  await page.waitForFunction(
    ([sel, before]) => Number(document.querySelector(sel).textContent.replace(/,/g, "")) > before,
    ["#messages-in", ticks],
  );
  check();
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`SCREENSHOT ${shot}`);
  await browser.close();
  process.exit(0);
} catch (e) {
  console.log(`FAIL ${String(e && e.message ? e.message : e).split("\n")[0]}`);
  if (problems.length) console.log(`FAIL page problems: ${problems.join("; ")}`);
  if (browser) await browser.close();
  process.exit(1);
}

async function counter(page, sel) {
  const t = await page.textContent(sel);
  const n = Number(String(t).replace(/,/g, ""));
  return Number.isFinite(n) ? n : 0;
}
