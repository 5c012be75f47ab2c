// The Add action page in a real browser: Debian's headless Chromium, driven by playwright-core.
// tests/integration/test_browser.c starts byocd and the fake CXone, then runs this script with
// one argument, a JSON object:
//   addUrl      the Add page with a valid one-time token and backUrl
//   expiredUrl  the Add page with a token CXone does not accept
//   backUrl     where the browser must land after the channel is created
//   origins     every origin the browser may talk to (byocd's and the fake CXone's)
//   provider    the bot platform's name the page must show
//   brand       the brand id the page must show
//   channels    [{id, name, state}]: rows the channel table must have
//   channelName the name to type into the form
//   artifactDir where the screenshots go (created if missing)
// The page runs with JavaScript disabled: it must work without any.
// Exit status: 0 all checks passed; 1 a check failed (reasons on stderr); 2 bad input or no
// browser; 3 the whole run took longer than RUN_TIMEOUT_MS.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { limitRun, loadChromium } from "./common.mjs";

const RUN_TIMEOUT_MS = 25000;
const STEP_TIMEOUT_MS = 8000;
const CHROMIUM = process.env.BYOCD_CHROMIUM || "/usr/bin/chromium";

let cfg;
try {
  cfg = JSON.parse(process.argv[2] ?? "");
  for (const key of ["addUrl", "expiredUrl", "backUrl", "provider", "brand", "channelName"]) {
    assert.equal(typeof cfg[key], "string", `${key} is missing`);
  }
  assert.ok(Array.isArray(cfg.origins) && cfg.origins.length > 0, "origins is missing");
  assert.ok(Array.isArray(cfg.channels), "channels is missing");
} catch (err) {
  console.error(`add_page.mjs: bad argument: ${err.message}`);
  process.exit(2);
}
const artifactDir = cfg.artifactDir || ".";
mkdirSync(artifactDir, { recursive: true });

const runTimer = limitRun("add_page.mjs", RUN_TIMEOUT_MS);

const chromium = await loadChromium("add_page.mjs");

// What the browser did besides what the steps check: requests elsewhere, console errors.
const offsite = [];
const consoleErrors = [];
const allowed = new Set(cfg.origins);

function watch(page) {
  page.on("request", (req) => {
    const url = req.url();
    let origin = "";
    try {
      origin = new URL(url).origin;
    } catch {
      // not a URL with an origin (data:, about:): counts as off-site
    }
    if (!allowed.has(origin)) offsite.push(`${req.method()} ${url}`);
  });
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const where = msg.location().url;
    // Chromium reports every document answered with an error status; the 401 is the point of
    // the expired-token step, so that one is expected.
    if (where === cfg.expiredUrl && msg.text().includes("status of 401")) return;
    consoleErrors.push(`${msg.text()} (${where})`);
  });
  page.on("pageerror", (err) => consoleErrors.push(`page error: ${err.message}`));
}

async function shot(page, name) {
  const path = join(artifactDir, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`add_page.mjs: screenshot ${path}`);
}

// Text an admin reads must not be a stack trace, an error code or a JSON error body.
function assertPlainWords(text, where) {
  const raw = [
    /upstream_\w+/, /invalid_request/, /\bunauthorized\b/, /"error"/, /\{\s*"/, /Traceback/,
    /\bat \w+ \(/, /\.c:\d+/, /sqlite/i, /curl/i, /Segmentation/, /null|undefined/,
  ];
  for (const re of raw) assert.doesNotMatch(text, re, `${where} shows raw text matching ${re}`);
}

async function checkAddPage(page) {
  const resp = await page.goto(cfg.addUrl);
  assert.equal(resp.status(), 200, `Add page answered ${resp.status()}`);
  const csp = resp.headers()["content-security-policy"] ?? "";
  assert.match(csp, /default-src 'none'/, `Add page CSP: "${csp}"`);
  assert.equal(await page.locator("html").getAttribute("lang"), "en", "html lang");
  assert.equal(await page.locator('meta[name="viewport"]').count(), 1, "viewport meta");
  assert.equal(await page.locator("script, link, img, iframe").count(), 0, "external assets");

  await page.getByRole("heading", { level: 1, name: "Add a channel" }).waitFor();
  const facts = await page.locator("dl").innerText();
  assert.ok(facts.includes(cfg.provider), `the page does not name the bot platform: ${facts}`);
  assert.ok(facts.includes(cfg.brand), `the page does not name the brand: ${facts}`);

  await page.getByRole("heading", { name: "Channels of this brand" }).waitFor();
  const rows = page.getByRole("row");
  assert.equal(await rows.count(), cfg.channels.length + 1, "one table row per channel");
  for (const ch of cfg.channels) {
    const row = rows.filter({ hasText: ch.id });
    assert.equal(await row.count(), 1, `no row for channel ${ch.id}`);
    const cells = await row.getByRole("cell").allInnerTexts();
    assert.deepEqual(
      cells.map((s) => s.trim()),
      [ch.name, ch.id, ch.state],
      `row of ${ch.id}: ${JSON.stringify(cells)}`,
    );
  }
  assertPlainWords(await page.locator("main").innerText(), "the Add page");

  const name = page.getByLabel("Channel name");
  assert.equal(await name.count(), 1, "the name field has no label");
  assert.equal(await name.getAttribute("required"), "", "the name field is not required");
  const cancel = page.getByRole("link", { name: "Cancel and return to CXone" });
  assert.equal(await cancel.getAttribute("href"), cfg.backUrl, "Cancel link");
  await shot(page, "add-page.png");
  // On a phone-sized screen the page must fit: no sideways scrolling.
  await page.setViewportSize({ width: 390, height: 800 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= 390, `the Add page is ${wide} px wide on a 390 px screen`);
  await shot(page, "add-page-narrow.png");
  await page.setViewportSize({ width: 960, height: 720 });
  return name;
}

async function createChannel(page, name) {
  await name.fill(cfg.channelName);
  const create = page.getByRole("button", { name: "Create channel" });
  await Promise.all([page.waitForURL(cfg.backUrl), create.click()]);
  assert.equal(page.url(), cfg.backUrl, "after Create the browser is not on backUrl");
  await page.getByRole("heading", { name: "Back in CXone" }).waitFor();
  await shot(page, "after-create.png");
}

async function checkExpiredToken(page) {
  const resp = await page.goto(cfg.expiredUrl);
  assert.equal(resp.status(), 401, `an unknown token answered ${resp.status()}`);
  assert.match(resp.headers()["content-type"] ?? "", /^text\/html/, "error page type");
  assert.equal(await page.locator("html").getAttribute("lang"), "en", "error page lang");
  const h1 = await page.getByRole("heading", { level: 1 }).innerText();
  assert.equal(h1, "Start again from CXone", "error page heading");
  const text = await page.locator("main").innerText();
  for (const words of ["one-time token", "expired", "What to do next", "choose the action again"]) {
    assert.ok(text.includes(words), `the error page does not say "${words}": ${text}`);
  }
  assertPlainWords(text.replace(/Reference: req_\w+/, ""), "the error page");
  assert.equal(await page.locator("form, input").count(), 0, "the error page offers a form");
  const back = page.getByRole("link", { name: "Return to CXone" });
  assert.equal(await back.getAttribute("href"), cfg.backUrl, "error page link back");
  await shot(page, "error-page.png");
}

let browser;
let failed = false;
try {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
} catch (err) {
  console.error(`add_page.mjs: cannot start ${CHROMIUM}: ${err.message}`);
  process.exit(2);
}
try {
  const context = await browser.newContext({
    javaScriptEnabled: false,
    viewport: { width: 960, height: 720 },
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  watch(page);
  const name = await checkAddPage(page);
  await createChannel(page, name);
  await checkExpiredToken(page);
  assert.deepEqual(offsite, [], "the browser made requests outside byocd and the fake CXone");
  assert.deepEqual(consoleErrors, [], "the browser reported console errors");
  console.log("add_page.mjs: all checks passed");
} catch (err) {
  failed = true;
  console.error(`add_page.mjs: ${err.message}`);
  if (offsite.length) console.error(`off-site requests: ${offsite.join(", ")}`);
  if (consoleErrors.length) console.error(`console errors: ${consoleErrors.join(" | ")}`);
} finally {
  await browser.close();
  clearTimeout(runTimer);
}
process.exit(failed ? 1 : 0);
