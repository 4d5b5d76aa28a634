// Drives the page of tests/browser/pages/sluice_js.html in a real headless Chromium for
// tests/sluice_js_browser.rs:
//
//   node tests/browser/sluice_js.mjs <page-url>
//
// Opens the page (it subscribes with sluice.js to the topics of its address), prints "READY"
// once every topic has a position, then follows commands, one per line on stdin:
//   WAIT <topic> <n>   wait until the page has received the message numbered <n> (or later)
//                      on <topic>; answers "HAVE <topic> <n>"
//   REPORT             prints "LOG <json>": the page's events in order and the client's stats;
//                      then closes the browser and exits 0
// Any failure prints "FAIL <why>" (and the end of the page's log) and exits 1. Every wait is
// bounded; the page must load nothing from another origin and throw no error.

import { launch } from "./chromium.mjs";
import { join } from "node:path";
import { createInterface } from "node:readline";

const [pageUrl] = process.argv.slice(2);
if (!pageUrl) {
  console.log("FAIL usage: sluice_js.mjs <page-url>");
  process.exit(2);
}
const TIMEOUT = 90_000;
const origin = new URL(pageUrl).origin;
const problems = [];
let browser;
let page;
try {
  browser = await launch(TIMEOUT);
  page = browser.page;
  page.on("request", (r) => {
    if (!r.url().startsWith(origin)) problems.push(`request to another origin: ${r.url()}`);
  });
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  // A cut connection is logged by Chromium as a console error about the WebSocket: expected.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().includes("WebSocket")) problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  const check = () => { if (problems.length) throw new Error(problems.join("; ")); };

  await page.goto(pageUrl, { waitUntil: "load" });
  await page.waitForFunction(() =>
    window.sluiceTest && window.sluiceTest.topics.every((t) => window.sluiceTest.client.position(t)));
  check();
  console.log("READY");
  for await (const line of createInterface({ input: process.stdin })) {
    const [command, topic, n] = line.trim().split(/\s+/);
    if (command === "WAIT") {
      await page.waitForFunction(([t, n]) => (window.sluiceTest.last[t] ?? 0) >= n, [topic, Number(n)]);
      check();
      console.log(`HAVE ${topic} ${n}`);
    } else if (command === "REPORT") {
      check();
      const report = await page.evaluate(() => ({
        log: window.sluiceTest.log, stats: window.sluiceTest.client.stats,
      }));
      console.log(`LOG ${JSON.stringify(report)}`);
      break;
    } else {
      throw new Error(`unknown command: ${line}`);
    }
  }
  await browser.close();
  process.exit(0);
} catch (e) {
  console.log(`FAIL ${String(e && e.message ? e.message : e).split("\n")[0]}`);
  if (problems.length) console.log(`FAIL page problems: ${problems.join("; ")}`);
  try {
    const tail = await page.evaluate(() => window.sluiceTest.log.slice(-40));
    console.log(`FAIL the page's last events: ${JSON.stringify(tail)}`);
  } catch (_) { /* no page */ }
  if (browser) await browser.close();
  process.exit(1);
}
