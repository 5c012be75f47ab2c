#!/usr/bin/env node
// Shows that validate_responses.mjs can fail: runs it over hand-written logs in fixtures/.
//
//   responses-good.jsonl  answers and a webhook that match openapi/byocd.yaml (a JSON body,
//                         an OAuth error, an HTML page, a 405, the box catch-all, a 431 of
//                         the HTTP library, a 204, a webhook, a 404 for a path without a
//                         route on the announced byocd) and one fake-CXone answer to
//                         ignore: exit 0 with those counts.
//   responses-bad.jsonl   one wrong thing per line (listed in `bad` below): exit 1,
//                         every line reported with its reason.
// Also: an empty log fails (nothing recorded means nothing checked) unless --allow-empty,
// and a missing log is a usage error (2).
//
// Exit status 0 when every expectation holds, 1 otherwise.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const validator = path.join(here, 'validate_responses.mjs');
const fixture = (name) => path.join(here, 'fixtures', name);

// The reason expected for each line of responses-bad.jsonl: [line, label, reason]. Line 13
// announces the byocd of line 12 after the fact (the validator reads the whole log first).
const bad = [
  [1, 'GET /healthz 200', 'body: /status must be equal to constant'],
  [2, 'GET /healthz 418', 'status 418 is not declared'],
  [3, 'GET /readyz 200', 'Content-Type "text/html" is not declared'],
  [4, 'GET /healthz 200', 'header X-Request-Id: /value must match pattern'],
  [5, 'PATCH /healthz 200', 'PATCH is not an operation of this path: expected 405'],
  [6, 'DELETE /admin/v1/providers/{provider_id} 204', 'a body, but the document declares no'],
  [7, 'POST /cxone/{provider_id}/box/{*} 200', 'the catch-all answered a non-4xx status'],
  [8, 'GET /admin/v1/providers 401', 'body is not JSON'],
  [9, 'webhook conversation.ended', "/data must have required property 'by'"],
  [10, 'webhook conversation.exploded', "is not in the document's webhooks"],
  [11, 'webhook conversation.ended', "is not the envelope's id"],
  [12, 'GET (no route) 200', 'a path no route takes must answer 404'],
  [14, 'log', 'not a JSON line'],
];

let failures = 0;
function expect(cond, what) {
  if (cond) {
    console.log(`ok   ${what}`);
  } else {
    console.log(`FAIL ${what}`);
    failures++;
  }
}

function run(...args) {
  const r = spawnSync(process.execPath, [validator, ...args], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const good = run(fixture('responses-good.jsonl'));
expect(good.status === 0, `good log: exit 0 (got ${good.status})`);
expect(
  good.out.includes('8 response(s) and 1 webhook(s) checked against byocd.yaml: 0 mismatch(es)'),
  'good log: 8 responses and 1 webhook checked, no mismatch',
);
expect(
  good.out.includes("1 answer(s) not byocd's ignored"),
  'good log: the fake CXone answer is ignored',
);
expect(!good.out.includes('MISMATCH'), 'good log: nothing reported');

const badLog = fixture('responses-bad.jsonl');
const wrong = run(badLog);
expect(wrong.status === 1, `bad log: exit 1 (got ${wrong.status})`);
// A reported mismatch is "MISMATCH <label>: <reason>" and then "  first at <file>:<line>".
const reported = new Map();
const lines = wrong.out.split('\n');
for (let i = 0; i + 1 < lines.length; i++) {
  const m = /^MISMATCH (.*?)(?: \(\d+ times\))?: (.*)$/.exec(lines[i]);
  const at = /^ {2}first at (.+?):(\d+)(?:, |$)/.exec(lines[i + 1]);
  if (!m || !at || path.resolve(at[1]) !== badLog) continue;
  const n = Number(at[2]);
  reported.set(n, [...(reported.get(n) ?? []), `${m[1]}: ${m[2]}`]);
}
for (const [n, label, reason] of bad) {
  const got = reported.get(n) ?? [];
  expect(
    got.some((r) => r.startsWith(`${label}: `) && r.includes(reason)),
    `bad log line ${n}: ${label}: ${reason}${got.length ? '' : ' (not reported)'}`,
  );
}
expect(!reported.has(13), 'bad log line 13 (a server line) is not reported');
expect(/: 15 mismatch\(es\)/.test(wrong.out), 'bad log: 15 mismatches (lines 7, 12 have two)');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'validator-selftest-'));
try {
  const empty = path.join(dir, 'empty.jsonl');
  fs.writeFileSync(empty, '');
  const e = run(empty);
  const said = e.out.includes('the log is empty');
  expect(e.status === 1 && said, `empty log: exit 1 (got ${e.status})`);
  expect(run('--allow-empty', empty).status === 0, 'empty log with --allow-empty: exit 0');
  expect(run(path.join(dir, 'missing.jsonl')).status === 2, 'missing log: exit 2');
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

if (failures) console.log(wrong.out);
console.log(`validator self-test: ${failures ? `${failures} failed` : 'all passed'}`);
process.exit(failures ? 1 : 0);
