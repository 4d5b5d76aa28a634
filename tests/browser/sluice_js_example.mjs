// Drives the example page of examples/sluice-js/ in a real headless Chromium for
// tests/sluice_js_example_browser.rs:
//
//   node tests/browser/sluice_js_example.mjs <page-url>
//
// Opens the page, prints "READY" once its connection is open, then follows commands, one per
// line on stdin:
//   SEE <text>   wait until a line of the page's log contains <text>; answers "SEEN <text>"
//   DONE         closes the browser and exits 0
// Any failure prints "FAIL <why>" (and the page's log) and exits 1. Every wait is bounded; the
// page must load nothing from another origin and throw no error.

import { launch } from "./chromium.mjs";
import { join } from "node:path";
import { createInterface } from "node:readline";

const [pageUrl] = process.argv.slice(2);
if (!pageUrl) {
  console.log("FAIL usage: sluice_js_example.mjs <page-url>");
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
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  const check = () => { if (problems.length) throw new Error(problems.join("; ")); };

  await page.goto(pageUrl, { waitUntil: "load" });
  await page.waitForFunction(() => document.querySelector("#state").textContent === "open");
  check();
  console.log("READY");
  for await (const line of createInterface({ input: process.stdin })) {
    const [command, ...rest] = line.split(" ");
    const text = rest.join(" ");
    if (command === "SEE") {
      await page.waitForFunction(
        (t) => [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes(t)), text);
      check();
      console.log(`SEEN ${text}`);
    } else if (command === "DONE") {
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
    const lines = await page.evaluate(() => [...document.querySelectorAll("#log li")].map((li) => li.textContent));
    console.log(`FAIL the page shows: ${JSON.stringify(lines)}`);
  } catch (_) { /* no page */ }
  if (browser) await browser.close();
  process.exit(1);
}
