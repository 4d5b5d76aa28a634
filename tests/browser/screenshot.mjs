// Screenshot of a running dashboard, for docs/operations.md (docs/dashboard.png):
//
//   node tests/browser/screenshot.mjs http://127.0.0.1:8080 docs/dashboard.png [topic]
//
// Opens the page in headless Chromium at a laptop's 1440x900, subscribes the topic viewer to
// [topic] if given, publishes one message from the page, waits a few feed ticks, and saves the
// whole page. Run `cargo run --release --example demo_traffic` first to have something to show
// (and a relay with pipelines to show the pipelines panel).

import { launch } from "./chromium.mjs";

const [base, out, topic] = process.argv.slice(2);
if (!base || !out) {
  console.error("usage: screenshot.mjs <base-url> <out.png> [topic]");
  process.exit(2);
}
const browser = await launch(30_000, { viewport: { width: 1440, height: 900 } });
try {
  const page = browser.page;
  await page.goto(base + "/");
  await page.waitForSelector("#status.live", { timeout: 30_000 });
  if (topic) {
    await page.fill("#topic-input", topic);
    await page.click("#subscribe-btn");
    await page.waitForFunction(
      (t) => document.getElementById("viewer-state").textContent === `subscribed to ${t}`, topic,
      { timeout: 30_000 });
    await page.waitForTimeout(2500);
    await page.fill("#publish-input", '{"note":"hello from the topic viewer"}');
    await page.click("#publish-btn");
  }
  await page.waitForTimeout(3000);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`saved ${out}`);
} finally {
  await browser.close();
}
