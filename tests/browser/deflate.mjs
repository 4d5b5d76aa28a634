// Drives tests/browser/pages/deflate.html in a real headless Chromium for
// tests/deflate_browser.rs:
//
//   node tests/browser/deflate.mjs <page-url>
//
// Opens the page (a WebSocket subscribed to a topic) and prints "OPEN <json extensions>" once
// the socket is open, then follows one command on stdin:
//   WAIT <n>   wait until the page has received <n> messages; prints "MESSAGES <json array>"
//              (the messages, in order), closes the browser and exits 0
// Any failure prints "FAIL <why>" and exits 1. Every wait is bounded; the page must throw no
// error and its socket must stay open.

import { launch } from "./chromium.mjs";
import { join } from "node:path";
import { createInterface } from "node:readline";

const [pageUrl] = process.argv.slice(2);
if (!pageUrl) {
  console.log("FAIL usage: deflate.mjs <page-url>");
  process.exit(2);
}
const TIMEOUT = 90_000;
const problems = [];
let browser;
try {
  browser = await launch(TIMEOUT);
  const page = browser.page;
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  const check = async () => {
    const closed = await page.evaluate(() => window.deflateTest.closed);
    if (closed !== null) problems.push(`the socket closed with ${closed}`);
    if (problems.length) throw new Error(problems.join("; "));
  };

  await page.goto(pageUrl, { waitUntil: "load" });
  if (problems.length) throw new Error(problems.join("; "));
  await page.waitForFunction(() => window.deflateTest.open || window.deflateTest.closed !== null);
  await check();
  const extensions = await page.evaluate(() => window.deflateTest.extensions);
  console.log(`OPEN ${JSON.stringify(extensions)}`);
  for await (const line of createInterface({ input: process.stdin })) {
    const [command, n] = line.trim().split(/\s+/);
    if (command !== "WAIT") throw new Error(`unknown command: ${line}`);
    await page.waitForFunction(
      (n) => window.deflateTest.messages.length >= n || window.deflateTest.closed !== null,
      Number(n));
    await check();
    const messages = await page.evaluate(() => window.deflateTest.messages);
    console.log(`MESSAGES ${JSON.stringify(messages)}`);
    break;
  }
  await browser.close();
  process.exit(0);
} catch (e) {
  console.log(`FAIL ${String(e && e.message || e).replace(/\n/g, " ")}`);
  if (browser) await browser.close();
  process.exit(1);
}
