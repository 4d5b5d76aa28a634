// Opens examples/flink/index.html in headless Chromium for tests/flink_example.rs.
//
//   node tests/flink/example_page.mjs <page-url> <screenshot.png>
//
// A line protocol with the Rust test on stdin/stdout:
//   -> "READY"              the page says it is subscribed
//   <- "EXPECT /p0=25,..."  the job has published its results; the last window's views per page
//   -> "SHOWN"              the table shows exactly those pages with those views
//   -> "SCREENSHOT <path>"  saved; exits 0
// Any failure prints "FAIL <why>" and exits 1. Every wait is bounded. playwright-core and
// Chromium come from tests/browser (tests/run.sh installs them).

import { createRequire } from "node:module";
import { createInterface } from "node:readline";

const require = createRequire(new URL("../browser/package.json", import.meta.url));
const { chromium } = require("playwright-core");
const [url, shot] = process.argv.slice(2);
const TIMEOUT = 60_000;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

let browser;
try {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium" });
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.log("FAIL page error: " + e.message));
  await page.goto(url);
  await page.waitForSelector("#status.up", { timeout: TIMEOUT });
  console.log("READY");
  const { value } = await lines.next();
  const want = value.split(" ")[1];
  await page.waitForFunction(
    (want) => {
      const rows = [...document.querySelectorAll("#rows tr")];
      const shown = rows.map((r) => r.children[0].textContent + "=" + r.children[2].textContent);
      return shown.join(",") === want;
    },
    want,
    { timeout: TIMEOUT },
  );
  console.log("SHOWN");
  await page.screenshot({ path: shot });
  console.log("SCREENSHOT " + shot);
  await browser.close();
} catch (e) {
  console.log("FAIL " + e.message.split("\n")[0]);
  if (browser) await browser.close();
  process.exit(1);
}
