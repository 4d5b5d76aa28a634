// Headless Chromium for the browser drivers: the same flags everywhere, a fresh profile
// directory per run, and a close that removes it. `CHROMIUM` names another binary.

import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

// Launch Chromium with `timeout` (ms) for the launch and as the page's default; `options` go to
// launchPersistentContext (viewport, deviceScaleFactor…). Returns { context, page, close }.
export async function launch(timeout, options = {}) {
  const dir = mkdtempSync(join(tmpdir(), "sluice-chromium-"));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  let context;
  try {
    context = await chromium.launchPersistentContext(dir, {
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      headless: true,
      args: ARGS,
      timeout,
      ...options,
    });
  } catch (e) {
    removeDir();
    throw e;
  }
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(timeout);
  const close = async () => {
    try { await context.close(); } catch (_) { /* already gone */ }
    removeDir();
  };
  return { context, page, close };
}
