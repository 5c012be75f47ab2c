// `byocd sandbox` in a real browser: Debian's headless Chromium, driven by playwright-core, plays
// both people at once. The customer uses the demo bot's chat page; the agent uses the CXone
// simulator's console. tests/integration/test_sandbox_browser.c starts the sandbox and runs this
// script with one argument, a JSON object:
//   chatUrl      the customer chat page (the demo bot)
//   consoleUrl   the agent console (the CXone simulator)
//   origins      every origin the browser may talk to (the bot's, the simulator's and byocd's)
//   agentName    the name the customer must see on the agent's reply (the console's default)
//   customField  {ident, value}: a custom field the console must show for the contact
//   replyText    what the agent types
//   artifactDir  where the screenshots go (created if missing)
// The loop: the customer asks for an agent, the handover reaches the console with the
// transcript, the agent replies, the customer sees the reply with the agent's name and avatar,
// answers, and the agent's ONRELEASE gives the customer back to the bot.
// Exit status: 0 all checks passed; 1 a check failed (reasons on stderr); 2 bad input or no
// browser; 3 the whole run took longer than RUN_TIMEOUT_MS.
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { limitRun, loadChromium } from "./common.mjs";

const RUN_TIMEOUT_MS = 45000;
// Both pages poll (the chat every 0.7 s, the console every 1 s) and byocd relays in between, so
// one step can take a few polls; this bounds every wait of a step.
const STEP_TIMEOUT_MS = 10000;
const CHROMIUM = process.env.BYOCD_CHROMIUM || "/usr/bin/chromium";
const ME = "sandbox_loop.mjs";

// What the demo bot says (src/sandbox/demobot.c); the steps wait for these words.
const BOT = {
  greeting: "Hi, I'm the demo bot.",
  helloAnswer: "Hello! Ask me about opening hours or an order",
  connecting: "Connecting you to an agent",
  thanksAnswer: "You're welcome!",
  closed: "The agent closed the conversation.",
  back: "You're back with the demo bot.",
};
const MODE = { bot: "Talking to the demo bot", waiting: "Waiting for an agent" };

let cfg;
try {
  cfg = JSON.parse(process.argv[2] ?? "");
  for (const key of ["chatUrl", "consoleUrl", "agentName", "replyText"]) {
    assert.equal(typeof cfg[key], "string", `${key} is missing`);
  }
  assert.ok(Array.isArray(cfg.origins) && cfg.origins.length > 0, "origins is missing");
  assert.equal(typeof cfg.customField?.ident, "string", "customField.ident is missing");
  assert.equal(typeof cfg.customField?.value, "string", "customField.value is missing");
} catch (err) {
  console.error(`${ME}: bad argument: ${err.message}`);
  process.exit(2);
}
const artifactDir = cfg.artifactDir || ".";
mkdirSync(artifactDir, { recursive: true });
// A failed run leaves these; a later run must not show them as its own.
const FAILED_SHOTS = ["failed-console.png", "failed-chat.png"];
for (const name of FAILED_SHOTS) rmSync(join(artifactDir, name), { force: true });

const runTimer = limitRun(ME, RUN_TIMEOUT_MS);

const chromium = await loadChromium(ME);

// What the browser did besides what the steps check: requests elsewhere, console errors.
const offsite = [];
const consoleErrors = [];
const allowed = new Set(cfg.origins.map((o) => new URL(o).origin));

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch {
    return ""; // not a URL with an origin (data:, about:): counts as off-site
  }
}

function watch(page, who) {
  page.on("request", (req) => {
    const what = `${who}: ${req.method()} ${req.url()}`;
    if (!allowed.has(originOf(req.url())) && !offsite.includes(what)) offsite.push(what);
  });
  page.on("console", (msg) => {
    if (msg.type() === "error") consoleErrors.push(`${who}: ${msg.text()} (${msg.location().url})`);
  });
  page.on("pageerror", (err) => consoleErrors.push(`${who}: page error: ${err.message}`));
}

async function shot(page, name) {
  const path = join(artifactDir, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`${ME}: screenshot ${path}`);
}

// Runs one step; a failure names the step, so the log says where the loop broke.
async function step(name, fn) {
  try {
    await fn();
    console.log(`${ME}: ok: ${name}`);
  } catch (err) {
    err.message = `step "${name}": ${err.message}`;
    throw err;
  }
}

// Waits (bounded by STEP_TIMEOUT_MS) for a locator to match; a failure says what was expected
// and, when now is given, what the page shows instead.
async function seen(locator, what, now) {
  try {
    await locator.first().waitFor();
  } catch (err) {
    const instead = now ? ` (the page shows: ${await now().catch(() => "?")})` : "";
    throw new Error(`${what}${instead}; ${err.message.split("\n")[0]}`);
  }
}

// A pattern that matches the whole of text and nothing else.
const exactly = (text) => new RegExp(`^${text.replace(/[.*+?^$|()[\]{}\\]/g, "\\$&")}$`);

// A chat message of one kind holding text (the newest, if more than one).
const chatMsg = (chat, kind, text) =>
  chat.locator(`#messages .msg.${kind}`).filter({ hasText: text }).last();
const chatLines = (chat) => chat.locator("#messages .msg .text").allInnerTexts()
  .then((t) => JSON.stringify(t));

async function say(chat, text) {
  await chat.locator("#text").fill(text);
  await chat.locator("#send").click();
  await seen(chatMsg(chat, "customer", text), `the chat does not show the customer's "${text}"`,
    () => chatLines(chat));
}

async function botSays(chat, text) {
  await seen(chatMsg(chat, "bot", text), `the bot does not say "${text}"`, () => chatLines(chat));
}

async function modeIs(chat, words, cls, what) {
  const mode = chat.locator("#mode");
  await seen(chat.locator("#mode", { hasText: words }), `${what}: #mode does not say "${words}"`,
    () => mode.innerText());
  assert.equal(await mode.getAttribute("class"), cls, `${what}: #mode class`);
}

async function consoleIsEmpty(agent) {
  await seen(agent.locator("#empty-state:visible"), "the console shows no empty state");
  const empty = await agent.locator("#empty-state").innerText();
  assert.match(empty, /No handover yet/, `the empty state says "${empty}"`);
  await seen(agent.locator("#contacts-empty:visible"), "the contact list does not say it is empty");
  assert.equal(await agent.locator("#contacts .contact").count(), 0, "the console lists a contact");
  assert.equal(await agent.locator("#conversation").isVisible(), false, "a conversation is open");
}

async function askForAgent(chat) {
  await botSays(chat, BOT.greeting);
  const who = await chatMsg(chat, "bot", BOT.greeting).locator(".who").innerText();
  assert.equal(who, "Demo bot", "the greeting's author");
  await modeIs(chat, MODE.bot, "", "before the handover");
  await say(chat, "hello");
  await botSays(chat, BOT.helloAnswer);
  await say(chat, "I want an agent");
  await botSays(chat, BOT.connecting);
  await modeIs(chat, MODE.waiting, "waiting", "after asking for an agent");
}

async function handoverArrives(agent) {
  const contact = agent.locator("#contacts .contact");
  await seen(agent.locator("#contacts .contact.selected"), "no selected contact in the console");
  assert.equal(await contact.count(), 1, "the console lists more than one contact");
  assert.match(await contact.getAttribute("data-contact-id"), /^\d+$/, "data-contact-id");
  await seen(agent.locator("#conversation:visible"), "the contact's conversation is not shown");
  assert.equal(await agent.locator("#empty-state").isVisible(), false, "the empty state stays");
  const transcript = agent.locator("#transcript");
  const texts = () => agent.locator("#transcript .msg .text").allInnerTexts()
    .then((t) => JSON.stringify(t));
  for (const words of ["hello", "I want an agent", BOT.greeting, BOT.helloAnswer, BOT.connecting]) {
    await seen(agent.locator("#transcript .msg.inbound", { hasText: words }),
      `the transcript does not show "${words}"`, texts);
  }
  assert.equal(await transcript.locator(".msg.outbound").count(), 0, "an agent message already");
  const ident = agent.locator(".cf-ident", { hasText: exactly(cfg.customField.ident) });
  const row = agent.locator("#custom-fields tbody tr").filter({ has: ident });
  await seen(row, `no custom field "${cfg.customField.ident}"`,
    () => agent.locator("#custom-fields").innerText());
  const value = await row.first().locator(".cf-value").innerText();
  assert.equal(value, cfg.customField.value, `custom field "${cfg.customField.ident}"`);
  const status = await agent.locator("#contact-status").innerText();
  assert.ok(["new", "open"].includes(status), `a fresh contact's status is "${status}"`);
}

async function agentReplies(agent) {
  await agent.locator("#reply-text").fill(cfg.replyText);
  await agent.locator("#reply-send").click();
  const out = agent.locator("#transcript .msg.outbound").filter({ hasText: cfg.replyText });
  await seen(out.and(agent.locator('[data-state="sent"]')),
    "the agent's reply did not reach data-state=\"sent\"",
    () => out.first().evaluate((el) => `${el.dataset.state}: ${el.textContent}`));
  assert.equal(await agent.locator("#reply-text").inputValue(), "", "the reply box keeps the text");
}

async function customerSeesAgent(chat) {
  await seen(chatMsg(chat, "system", `${cfg.agentName} joined`),
    `the chat does not say "${cfg.agentName} joined"`, () => chatLines(chat));
  const msg = chatMsg(chat, "agent", cfg.replyText);
  await seen(msg, "the agent's reply does not reach the chat", () => chatLines(chat));
  assert.equal(await msg.locator(".text").innerText(), cfg.replyText, "the agent's text");
  assert.equal(await msg.locator(".agent-name").innerText(), cfg.agentName, "the agent's name");
  const img = msg.locator("img.avatar");
  assert.equal(await img.count(), 1, "the agent's message has no img.avatar");
  try {
    await chat.waitForFunction((el) => el.complete && el.naturalWidth > 0,
      await img.elementHandle(), { timeout: STEP_TIMEOUT_MS });
  } catch (err) {
    throw new Error(`the agent's avatar ${await img.getAttribute("src")} did not load`);
  }
  await modeIs(chat, `Talking to ${cfg.agentName}`, "agent", "with the agent's reply");
}

async function customerAnswers(chat, agent) {
  await say(chat, "thanks");
  const text = agent.locator(".text", { hasText: exactly("thanks") });
  await seen(agent.locator("#transcript .msg.inbound").filter({ has: text }),
    "the console's transcript does not show the customer's \"thanks\"",
    () => agent.locator("#transcript .msg .text").allInnerTexts().then((t) => JSON.stringify(t)));
}

async function agentReleases(agent) {
  await agent.locator("#ev-release").click();
  const ev = agent.locator("#events .event").filter({ hasText: "ONRELEASE" });
  await seen(ev.and(agent.locator('[data-state="done"]')),
    "the ONRELEASE event did not reach data-state=\"done\"",
    () => agent.locator("#events").innerText());
  const status = agent.locator("#contact-status");
  await seen(agent.locator("#contact-status", { hasText: exactly("closed") }),
    "#contact-status did not become \"closed\"", () => status.innerText());
  await seen(agent.locator("#closed-note:visible"), "the console does not say the contact is closed");
  assert.equal(await agent.locator("#reply-send").isDisabled(), true, "a closed contact takes replies");
}

async function botIsBack(chat) {
  for (const words of [BOT.closed, BOT.back]) {
    await seen(chatMsg(chat, "system", words), `the chat does not say "${words}"`,
      () => chatLines(chat));
  }
  await modeIs(chat, MODE.bot, "", "after ONRELEASE");
  const bot = chat.locator("#messages .msg.bot");
  // The bot kept quiet while the agent had the chat.
  const thanked = bot.filter({ hasText: BOT.thanksAnswer });
  assert.equal(await thanked.count(), 0, "the bot answered while the agent had the chat");
  const before = await bot.filter({ hasText: BOT.helloAnswer }).count();
  await say(chat, "hello");
  await seen(bot.filter({ hasText: BOT.helloAnswer }).nth(before),
    "the bot does not answer \"hello\" after ONRELEASE", () => chatLines(chat));
}

let browser;
let failed = false;
try {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
} catch (err) {
  console.error(`${ME}: cannot start ${CHROMIUM}: ${err.message}`);
  process.exit(2);
}
let agent;
let chat;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  // Nothing leaves the sandbox: other origins are refused (and the request listener reports them).
  await context.route("**/*", (route) =>
    allowed.has(originOf(route.request().url())) ? route.continue() : route.abort("blockedbyclient"));
  agent = await context.newPage();
  watch(agent, "console");
  chat = await context.newPage();
  watch(chat, "chat");
  await step("1 open both pages; the console is empty", async () => {
    const a = await agent.goto(cfg.consoleUrl);
    assert.equal(a.status(), 200, `the console answered ${a.status()}`);
    await consoleIsEmpty(agent);
    await shot(agent, "console-empty.png");
    const c = await chat.goto(cfg.chatUrl);
    assert.equal(c.status(), 200, `the chat answered ${c.status()}`);
  });
  await step("2 the customer asks for an agent", () => askForAgent(chat));
  await step("3 the handover reaches the console", async () => {
    await handoverArrives(agent);
    await shot(agent, "console-handover.png");
  });
  await step("4 the agent replies", () => agentReplies(agent));
  await step("5 the customer sees the agent's reply", async () => {
    await customerSeesAgent(chat);
    await shot(chat, "chat-agent.png");
  });
  await step("6 the customer answers the agent", () => customerAnswers(chat, agent));
  await step("7 ONRELEASE gives the customer back to the bot", async () => {
    await agentReleases(agent);
    await botIsBack(chat);
    await shot(agent, "console-released.png");
    await shot(chat, "chat-released.png");
  });
  assert.deepEqual(offsite, [], "the browser made requests outside the sandbox");
  assert.deepEqual(consoleErrors, [], "the browser reported console errors");
  console.log(`${ME}: all checks passed`);
} catch (err) {
  failed = true;
  console.error(`${ME}: ${err.message}`);
  for (const [page, name] of [[agent, FAILED_SHOTS[0]], [chat, FAILED_SHOTS[1]]]) {
    if (page) await shot(page, name).catch(() => {});
  }
  if (offsite.length) console.error(`off-site requests: ${offsite.join(", ")}`);
  if (consoleErrors.length) console.error(`console errors: ${consoleErrors.join(" | ")}`);
} finally {
  await browser.close();
  clearTimeout(runTimer);
}
process.exit(failed ? 1 : 0);
