// Verifies Standard Webhooks signatures with the reference implementation (npm
// `standardwebhooks`), so byocd's signing is checked by code byocd does not share.
//
// Input: JSON lines on stdin, each
//   {"secret":"whsec_...","id":"...","timestamp":"...","signature":"...","body":"..."}
// Output: one line per input line, in order: "ok" or "fail <reason>".
// Exit status 0 once every line is answered; 2 if the package is missing.
//
// The package refuses timestamps more than 5 minutes from now: live deliveries only.
import { createInterface } from "node:readline";

let Webhook;
try {
  ({ Webhook } = await import("standardwebhooks"));
} catch (err) {
  console.error(`verify.mjs: cannot load standardwebhooks (run npm ci in tests/): ${err.message}`);
  process.exit(2);
}

// One verdict for one input line; never throws.
function verdict(line) {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (err) {
    return `fail bad input line: ${err.message}`;
  }
  if (msg === null || typeof msg !== "object") {
    return "fail bad input line: not an object";
  }
  const headers = {
    "webhook-id": msg.id ?? "",
    "webhook-timestamp": msg.timestamp ?? "",
    "webhook-signature": msg.signature ?? "",
  };
  try {
    // jsonParse false: a body that is not JSON is still a signature question, not an error.
    new Webhook(msg.secret ?? "").verify(msg.body ?? "", headers, { jsonParse: false });
    return "ok";
  } catch (err) {
    return `fail ${String(err.message).replace(/\s+/g, " ")}`;
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
for await (const line of lines) {
  out.push(verdict(line));
}
process.stdout.write(out.length ? `${out.join("\n")}\n` : "");
