#!/usr/bin/env node
// Holds byocd's route table and openapi/byocd.yaml together (STYLE.md: "Routes are data ...
// a test holds them together").
//
// usage: node check_routes.mjs <dump_routes binary> <byocd.yaml> <route-exceptions.txt>
//
// dump_routes prints the table as "METHOD PATTERN" lines. Every route must be an operation
// of the document (same path, same {parameter} names, same method) unless the exceptions
// file lists it; every operation of the document must be a route. An exception that no
// longer matches a route fails too, so the file cannot go stale.
//
// The YAML is read through the @redocly/cli that tests/package.json pins (`redocly bundle`
// to JSON): its bundle carries no YAML parser that can be imported on its own, and this
// keeps the check free of further dependencies. Exit status: 0 pass, 1 mismatch, 2 usage
// or tool failure, 77 (meson: skipped) when the CLI is not installed.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const here = path.dirname(fileURLToPath(import.meta.url));

function die(msg) {
  console.error(`check_routes: ${msg}`);
  process.exit(2);
}

function runRouteDump(binary) {
  const r = spawnSync(binary, [], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.error) die(`cannot run ${binary}: ${r.error.message}`);
  if (r.status !== 0) die(`${binary} exited with ${r.status ?? r.signal}: ${r.stderr.trim()}`);
  const routes = [];
  for (const [i, line] of r.stdout.split('\n').entries()) {
    if (line === '') continue;
    const m = /^(\S+) (\/\S*)$/.exec(line);
    if (!m) die(`${binary}: line ${i + 1} is not "METHOD PATTERN": ${JSON.stringify(line)}`);
    routes.push({ method: m[1], pattern: m[2] });
  }
  if (routes.length === 0) die(`${binary} printed no routes`);
  return routes;
}

function readExceptions(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    die(`cannot read ${file}: ${e.message}`);
  }
  const list = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const m = /^(\S+)\s+(\/\S*)$/.exec(line);
    if (!m) die(`${file}:${i + 1}: expected "METHOD PATTERN", got ${JSON.stringify(raw)}`);
    list.push({ method: m[1], pattern: m[2], line: i + 1 });
  }
  return list;
}

// The document as JSON, through `redocly bundle` (resolves $refs to path items as well).
function readSpec(specFile) {
  const cli =
    process.env.REDOCLY_CLI || path.resolve(here, '../node_modules/@redocly/cli/bin/cli.js');
  if (!fs.existsSync(cli)) {
    console.error(`check_routes: ${cli} is missing: run "npm ci" in tests/`);
    process.exit(77);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'check-routes-'));
  const out = path.join(dir, 'spec.json');
  try {
    const r = spawnSync(
      process.execPath,
      [cli, 'bundle', path.resolve(specFile), '--ext', 'json', '-o', out, '--lint-config', 'off'],
      {
        encoding: 'utf8',
        cwd: dir, // no redocly.yaml here: the bundle applies no project decorators
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      },
    );
    if (r.error) die(`cannot run redocly: ${r.error.message}`);
    if (r.status !== 0 || !fs.existsSync(out))
      die(`redocly bundle failed (${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`);
    return JSON.parse(fs.readFileSync(out, 'utf8'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function specOperations(spec) {
  if (!spec || typeof spec.paths !== 'object' || spec.paths === null)
    die('the document has no paths');
  const ops = [];
  for (const [p, item] of Object.entries(spec.paths)) {
    for (const key of Object.keys(item ?? {})) {
      if (HTTP_METHODS.includes(key)) ops.push({ method: key.toUpperCase(), pattern: p });
    }
  }
  return ops;
}

// The route with its {parameter} names erased, to tell "renamed" from "missing".
const shape = (pattern) => pattern.replace(/\{[^}]*\}/g, '{}');
const keyOf = (r) => `${r.method} ${r.pattern}`;

function main() {
  const [binary, specFile, exceptionsFile] = process.argv.slice(2);
  if (!binary || !specFile || !exceptionsFile || process.argv.length > 5)
    die('usage: check_routes.mjs <dump_routes binary> <byocd.yaml> <route-exceptions.txt>');

  const routes = runRouteDump(binary);
  const exceptions = readExceptions(exceptionsFile);
  const ops = specOperations(readSpec(specFile));

  const opKeys = new Set(ops.map(keyOf));
  const routeKeys = new Set(routes.map(keyOf));
  const exceptionKeys = new Set(exceptions.map(keyOf));
  const failures = [];
  let passed = 0;
  let exempt = 0;

  const seen = new Set();
  for (const r of routes) {
    const k = keyOf(r);
    if (seen.has(k)) {
      failures.push(`${k}: listed twice in the route table (the second one can never match)`);
      continue;
    }
    seen.add(k);
    if (opKeys.has(k)) {
      passed++;
    } else if (exceptionKeys.has(k)) {
      passed++;
      exempt++;
    } else {
      const twin = ops.find((o) => o.method === r.method && shape(o.pattern) === shape(r.pattern));
      let why = 'in the route table but not in the OpenAPI document';
      if (twin) why += ` (the document has ${keyOf(twin)}: parameter names differ)`;
      else if (!HTTP_METHODS.includes(r.method.toLowerCase()))
        why += ' (OpenAPI cannot express this method: document it and list it in the exceptions file)';
      failures.push(`${k}: ${why}`);
    }
  }
  for (const o of ops) {
    const k = keyOf(o);
    if (!routeKeys.has(k)) failures.push(`${k}: in the OpenAPI document but not in the route table`);
  }
  for (const e of exceptions) {
    if (!routeKeys.has(keyOf(e)))
      failures.push(`${keyOf(e)}: ${exceptionsFile}:${e.line} exempts a route the table does not have`);
  }

  for (const f of failures) console.log(`FAIL ${f}`);
  if (exempt) console.log(`note: ${exempt} route(s) exempted by ${path.basename(exceptionsFile)}`);
  console.log(`routes: ${passed} passed, ${failures.length} failed`);
  process.exit(failures.length ? 1 : 0);
}

main();
