// SPDX-License-Identifier: Apache-2.0
// Drives the dashboard in headless Chromium (playwright-core) for
// tests/integration/test_web_dashboard.sh. Environment:
//   PB_URL           the edge's dashboard, http://127.0.0.1:PORT/
//   PB_PEER          the edge's peer (the collector)
//   PB_COLLECTOR_URL the collector's dashboard (node "col", upstream "edge" id 91)
//   PB_COLLECTOR_PID the collector's pid: killed (SIGKILL) by this script
//   PB_TOKEN         the edge's API token, typed into the replay dialog
//   PB_SYNC          directory: writes want-restart, waits for restarted
//   PB_ARTIFACTS     where the screenshots go
//   PB_PLAYWRIGHT    playwright-core's directory; PB_CHROMIUM the browser
// Prints one line per step; exits 1 with the reason on the first failure.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const env = (k) => {
  if (!process.env[k]) throw new Error(k + " not set");
  return process.env[k];
};
const require = createRequire(import.meta.url);
const { chromium } = require(env("PB_PLAYWRIGHT"));
const peer = env("PB_PEER");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (m) => console.log("dashboard: " + m);
const consoleErrors = [];

async function waitFor(what, ms, fn) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error("timed out after " + ms + " ms waiting for " + what);
    await sleep(50);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.PB_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
let failed = null;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push("uncaught: " + e.message));
  const resp = await page.goto(env("PB_URL"));
  const csp = resp.headers()["content-security-policy"] || "";
  if (!csp.includes("default-src 'self'")) throw new Error("page without a strict CSP: '" + csp + "'");

  const row = page.locator(`#peers tbody tr[data-key="${peer}"]`);
  const stateCell = row.locator("td").nth(0);
  const peerState = async () => (await row.count()) ? (await stateCell.textContent()).trim() : "";
  await waitFor(`peer ${peer} shown as up`, 15000, async () => (await peerState()) === "up");
  const rate = async () => Number((await row.locator("td").nth(3).textContent()).replace(/[^0-9.]/g, ""));
  await waitFor("a non-zero throughput for the peer", 10000, async () => (await rate()) > 0)
    .catch(async (e) => { throw new Error(e.message + ": row " + await row.textContent()); });
  log(`peer ${peer} up, ${await rate()} records/s; health: ${await page.locator("#health-text").textContent()}`);
  if (!(await page.locator("#health").getAttribute("class")).includes("green"))
    throw new Error("health is not green with the peer up: " + await page.locator("#health-text").textContent());
  if (!(await page.locator("#banner").isHidden()))
    throw new Error("banner with the API up: " + await page.locator("#banner").textContent());
  const name = (await page.locator("#node-name").textContent()).trim();
  if (name !== "edge") throw new Error("header names '" + name + "', not edge");

  // Let the charts gather a few points, then the screenshots at two widths.
  await sleep(2500);
  const art = env("PB_ARTIFACTS");
  fs.mkdirSync(art, { recursive: true });
  for (const [w, h] of [[1280, 800], [390, 844]]) {
    await page.setViewportSize({ width: w, height: h });
    await sleep(300);
    const file = path.join(art, `dashboard-${w}.png`);
    await page.screenshot({ path: file, fullPage: w < 1000 });
    // At phone width nothing may overflow the page sideways (tables scroll in their box).
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) throw new Error(`page ${overflow} px wider than the ${w} px viewport`);
    log("screenshot " + file);
  }
  await page.setViewportSize({ width: 1280, height: 800 });

  // Kill the collector: the row must say down within 5 s.
  const t0 = Date.now();
  process.kill(Number(env("PB_COLLECTOR_PID")), "SIGKILL");
  await waitFor(`peer ${peer} shown as down`, 5000, async () => (await peerState()) === "down");
  log(`peer ${peer} shown as down ${Date.now() - t0} ms after the collector was killed`);
  if (!(await page.locator("#health").getAttribute("class")).includes("red"))
    throw new Error("health is not red with the peer down");
  if (!(await page.locator("#banner").isHidden())) throw new Error("unreachable banner while the API answers");

  // Records time out into the DLQ; the table shows them.
  const dlqRows = page.locator("#dlq tbody tr[data-key]");
  await waitFor("DLQ entries in the table", 15000, async () => (await dlqRows.count()) > 0);
  log(`DLQ: ${await page.locator("#dlq-summary").textContent()}`);

  // The collector back, the DLQ settled: Replay with the token drains it.
  fs.writeFileSync(path.join(env("PB_SYNC"), "want-restart"), "");
  await waitFor("the test to restart the collector", 15000,
    async () => fs.existsSync(path.join(env("PB_SYNC"), "restarted")));
  await waitFor(`peer ${peer} up again`, 10000, async () => (await peerState()) === "up");
  await sleep(1500); // the last timed-out records committed (resend.timeout 1 s)
  await page.getByRole("button", { name: "Replay…" }).click();
  await page.getByLabel("API token").fill(env("PB_TOKEN"));
  await page.keyboard.press("Enter");
  await waitFor("the replay job to finish", 20000, async () =>
    /: (done|failed),/.test(await page.locator("#replay-status").textContent()));
  const status = await page.locator("#replay-status").textContent();
  log(status);
  if (!status.includes(": done,")) throw new Error("replay job did not finish: " + status);
  await waitFor("an empty DLQ table", 10000, async () => (await dlqRows.count()) === 0);
  log(`DLQ after replay: ${await page.locator("#dlq-summary").textContent()}`);

  // The collector's own dashboard: the edge's stream in the gaps table, with
  // its path by the names the engine reports (GET /gaps path).
  const page2 = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page2.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page2.on("pageerror", (e) => consoleErrors.push("uncaught: " + e.message));
  await page2.goto(env("PB_COLLECTOR_URL"));
  const gap = page2.locator("#gaps tbody tr[data-key]").first();
  const gapPath = async () => (await gap.count()) > 0 ? (await gap.locator("td").nth(0).textContent()).trim() : "";
  await waitFor("the edge's stream with its path edge → col in the collector's gaps table", 10000,
    async () => (await gapPath()) === "edge → col")
    .catch(async (e) => { throw new Error(e.message + ": path cell '" + await gapPath() + "'"); });
  log("collector gaps: " + (await gap.textContent()));
  // A relay that never announced its name is shown by id: the collector's
  // real answer with such a hop put in after the origin.
  await page2.route(/\/api\/v1\/gaps(\?|$)/, async (route) => {
    const resp = await route.fetch();
    const body = await resp.json();
    for (const s of body.streams) if (s.path.length >= 2) s.path.splice(1, 0, { node: 77, name: null });
    await route.fulfill({ response: resp, json: body });
  });
  await waitFor("an unnamed relay shown as #77 in the path", 10000,
    async () => (await gapPath()) === "edge → #77 → col")
    .catch(async (e) => { throw new Error(e.message + ": path cell '" + await gapPath() + "'"); });
  log("collector gaps with an unnamed relay: " + (await gapPath()));
  await page2.close();

  if (consoleErrors.length > 0) throw new Error("console errors: " + consoleErrors.join(" | "));
  log("no console errors");

  // The API gone: a banner, the data dimmed as stale.
  fs.writeFileSync(path.join(env("PB_SYNC"), "want-edge-stop"), "");
  await waitFor("the unreachable banner", 8000, async () => await page.locator("#banner").isVisible());
  if (!(await page.locator("#main").getAttribute("class") || "").includes("stale"))
    throw new Error("data not marked stale with the API gone");
  log("banner: " + await page.locator("#banner").textContent());
  // Failed fetches against the dead API are the one expected console noise.
  const real = consoleErrors.filter((e) => !/Failed to (load resource|fetch)|ERR_CONNECTION_REFUSED/.test(e));
  if (real.length > 0) throw new Error("console errors with the API gone: " + real.join(" | "));
} catch (e) {
  failed = e;
} finally {
  await browser.close();
}
if (failed) {
  console.log("dashboard: FAIL: " + failed.message);
  if (consoleErrors.length) console.log("dashboard: console: " + consoleErrors.join(" | "));
  process.exit(1);
}
