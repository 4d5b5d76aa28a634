// Drives the example page of examples/web/ in a real headless Chromium for
// tests/web_example_browser.rs, and takes the screenshot of docs/web-example.png:
//
//   node tests/browser/web_example.mjs <page-url> <min-results> <screenshot.png>
//
// Opens the page (served by the relay under /app/), waits until it has received at least
// <min-results> window results over its WebSocket and drawn them on a chart, checks that the
// page loaded nothing from another origin and logged no error, and saves a screenshot.
// Prints "OK <results> <keys>" then "SCREENSHOT <path>" and exits 0; any failure prints
// "FAIL <why>" and exits 1. Every wait is bounded.

import { launch } from "./chromium.mjs";
import { join } from "node:path";

const [pageUrl, minArg, shot] = process.argv.slice(2);
const min = Number(minArg);
if (!pageUrl || !(min > 0) || !shot) {
  console.log("FAIL usage: web_example.mjs <page-url> <min-results> <screenshot.png>");
  process.exit(2);
}
const TIMEOUT = 90_000;
const origin = new URL(pageUrl).origin;
const problems = [];
let browser;
try {
  browser = await launch(TIMEOUT, { viewport: { width: 1200, height: 540 }, deviceScaleFactor: 1 });
  const page = browser.page;
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith(origin.replace(/^http/, "ws"))) {
      problems.push(`request to another origin: ${u}`);
    }
  });
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console error: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  const check = () => { if (problems.length) throw new Error(problems.join("; ")); };

  await page.goto(pageUrl, { waitUntil: "load" });
  await page.waitForSelector("#status.live");
  check();
  // Results arrive and are drawn: the counter, and a canvas with candles on it.
  await page.waitForFunction((n) => Number(document.body.dataset.points || 0) >= n, min);
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#charts canvas")].some((c) => Number(c.dataset.drawn || 0) >= 2));
  const drawn = await page.evaluate(() => {
    // Count the pixels the chart painted: candles are green or red.
    let painted = 0;
    for (const c of document.querySelectorAll("#charts canvas")) {
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 4) {
        const [r, g, b, a] = [d[i], d[i + 1], d[i + 2], d[i + 3]];
        if (a > 0 && ((g > 100 && r < 60) || (r > 150 && g < 90))) painted++;
      }
    }
    return { painted, keys: document.querySelectorAll("#charts canvas").length,
      results: Number(document.body.dataset.points) };
  });
  if (drawn.painted < 50) throw new Error(`the chart painted only ${drawn.painted} candle pixels`);
  check();
  console.log(`OK ${drawn.results} ${drawn.keys}`);
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
