#!/usr/bin/env node
// Checks what byocd really answered against openapi/byocd.yaml.
//
// usage: node validate_responses.mjs [--spec byocd.yaml] [--exceptions route-exceptions.txt]
//                                    [--allow-empty] LOG...
//
// Each LOG holds JSON lines written by the tests' HTTP client and fake bot receiver
// (tests/support/testhttp.h, BYOCD_RESPONSE_LOG):
//   {"kind":"response","method","url","status","content_type","headers"?,"body"}
//   {"kind":"webhook","method","path","content_type","headers":{"webhook-id",...},"body"}
//
//   {"kind":"server","base":"http://127.0.0.1:PORT"}  (a byocd the harness started)
//
// A response is checked when its URL path matches a path of the document, or when it came
// from a byocd a "server" line announced (the answers of the fake CXone and of the
// receivers, which the tests call too, are left out and counted):
//   - the method is an operation of that path: the status must be declared (exactly, as
//     `4XX`, or `default`); the Content-Type must be one the response declares, a JSON body
//     (application/json, */*+json) must match the declared schema, a body where no content is
//     declared is a mismatch; declared response headers must match their schemas and be
//     present when `required`;
//   - the method is not: the answer must be 405 as #/components/responses/MethodNotAllowed
//     describes it (the document's "Routing" rule), unless a catch-all of the exceptions file
//     takes the path (below).
//   - no path of the document matches, on a byocd: 404 with the common error body (the
//     document's "Routing" rule);
// Paths only a catch-all route of route-exceptions.txt takes (`* /a/{x}/box/{*}`), which the
// document describes in prose only, must answer 4xx with the common error body
// (#/components/schemas/Error).
// A webhook is checked against the document's `webhooks` entry named by the body's `type`:
// method, Content-Type, body schema, the declared header parameters, and webhook-id equal to
// the envelope's id.
//
// Answers the HTTP library gives below the route table (a 431 for a header block too large)
// are described by the document's root member `x-transport-responses`, by status: when an
// operation does not declare the status, such an answer is accepted on any of the
// document's paths, with its declared headers checked (the library writes the body).
//
// Exit status: 0 when everything matched (and the logs held at least one line, unless
// --allow-empty: an empty log means the recording is broken), 1 on any mismatch, 2 on usage
// errors or unreadable input.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const EXCERPT = 240; // characters of a body shown with a mismatch
const TRANSPORT = 'x-transport-responses'; // document root: answers given below the routes

function die(msg) {
  console.error(`validate_responses: ${msg}`);
  process.exit(2);
}

async function loadModules() {
  try {
    const [ajvMod, formatsMod, yamlMod] = await Promise.all([
      import('ajv/dist/2020.js'),
      import('ajv-formats'),
      import('yaml'),
    ]);
    return {
      Ajv2020: ajvMod.default.default ?? ajvMod.default,
      addFormats: formatsMod.default.default ?? formatsMod.default,
      YAML: yamlMod.default,
    };
  } catch (e) {
    die(`cannot load ajv, ajv-formats or yaml (run "npm ci" in tests/): ${e.message}`);
  }
}

function parseArgs(argv) {
  const opts = {
    spec: path.resolve(here, '../../openapi/byocd.yaml'),
    exceptions: path.resolve(here, 'route-exceptions.txt'),
    allowEmpty: false,
    logs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--spec' || a === '--exceptions') {
      if (i + 1 >= argv.length) die(`${a} needs a file`);
      opts[a.slice(2)] = argv[++i];
    } else if (a === '--allow-empty') {
      opts.allowEmpty = true;
    } else if (a.startsWith('--')) {
      die(`unknown option ${a}`);
    } else {
      opts.logs.push(a);
    }
  }
  if (opts.logs.length === 0)
    die('usage: validate_responses.mjs [--spec F] [--exceptions F] [--allow-empty] LOG...');
  return opts;
}

// ---------------------------------------------------------------- the document

const escapePointer = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');
const pointerOf = (parts) => '/' + parts.map(escapePointer).join('/');

function getPointer(doc, pointer) {
  let node = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(part in node)) return undefined;
    node = node[part];
  }
  return node;
}

// Follows local $refs of OpenAPI objects (responses, parameters, headers, path items).
// Returns {node, pointer} where pointer locates node in the document.
function deref(doc, node, pointer) {
  for (let hops = 0; node && typeof node.$ref === 'string'; hops++) {
    if (hops > 32 || !node.$ref.startsWith('#/')) die(`cannot follow $ref ${node.$ref}`);
    pointer = node.$ref.slice(1);
    node = getPointer(doc, pointer);
    if (node === undefined) die(`$ref ${pointer} points nowhere`);
  }
  return { node, pointer };
}

// A path template as a matcher: literal segments must be equal, {name} takes one segment.
function compileTemplate(template) {
  const segs = template.split('/');
  const source = segs
    .map((s) => (/^\{[^}]+\}$/.test(s) ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return {
    template,
    re: new RegExp(`^${source}$`),
    params: segs.filter((s) => s.startsWith('{')).length,
  };
}

// `METHOD /pattern/{*}` catch-alls of the route table that the document cannot express.
function readCatchAlls(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    die(`cannot read ${file}: ${e.message}`);
  }
  const list = [];
  for (const raw of text.split('\n')) {
    const m = /^(\S+)\s+(\/\S*)\/\{\*\}$/.exec(raw.replace(/#.*/, '').trim());
    if (!m) continue;
    const prefix = compileTemplate(m[2]).re.source.slice(0, -1); // drop the '$'
    list.push({ method: m[1], pattern: `${m[2]}/{*}`, re: new RegExp(`${prefix}/.+$`) });
  }
  return list;
}

class Spec {
  constructor(doc, Ajv2020, addFormats, catchAlls) {
    this.doc = doc;
    this.catchAlls = catchAlls;
    this.paths = Object.keys(doc.paths ?? {})
      .map(compileTemplate)
      // Concrete paths before templated ones (OpenAPI 3.1 §4.8.8), then document order.
      .sort((a, b) => a.params - b.params);
    const make = (extra) => {
      const ajv = new Ajv2020({ strict: false, allErrors: true, ...extra });
      addFormats(ajv);
      ajv.addFormat('int32', { type: 'number', validate: (n) => Number.isInteger(n) });
      ajv.addFormat('int64', { type: 'number', validate: (n) => Number.isInteger(n) });
      ajv.addSchema(doc, 'byocd.yaml');
      return ajv;
    };
    this.ajv = make({});
    this.headerAjv = make({ coerceTypes: true }); // header values are text
    this.cache = new Map();
    this.servers = new Set(); // host:port of byocd instances the log announced
  }

  // A validator for the schema at pointer (compiled once).
  validator(pointer, forHeaders = false) {
    const key = `${forHeaders ? 'h' : 'b'}${pointer}`;
    let v = this.cache.get(key);
    if (!v) {
      const ref = `byocd.yaml#${pointer.split('/').map(encodeURIComponent).join('/')}`;
      const schema = forHeaders
        ? { type: 'object', properties: { value: { $ref: ref } } }
        : { $ref: ref };
      v = (forHeaders ? this.headerAjv : this.ajv).compile(schema);
      this.cache.set(key, v);
    }
    return v;
  }

  // The paths matching urlPath, most specific first.
  matchPaths(urlPath) {
    return this.paths.filter((p) => p.re.test(urlPath));
  }

  // A response object of x-transport-responses for this status, or undefined.
  transport(status) {
    return this.doc[TRANSPORT]?.[String(status)];
  }

  catchAll(method, urlPath) {
    return this.catchAlls.find(
      (c) => (c.method === '*' || c.method === method) && c.re.test(urlPath),
    );
  }
}

// ---------------------------------------------------------------- checks

const isJsonMedia = (m) => m === 'application/json' || /^[a-z0-9.-]+\/[a-z0-9.+-]*\+json$/.test(m);
const mediaOf = (ct) => (typeof ct === 'string' ? ct.split(';')[0].trim().toLowerCase() : '');

function ajvText(errors) {
  return (errors ?? [])
    .slice(0, 5)
    .map((e) => {
      const extra = e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : '';
      return `${e.instancePath || '(root)'} ${e.message}${extra}`;
    })
    .join('; ');
}

// The declared media type for a response Content-Type, or undefined.
function declaredMedia(content, media) {
  const keys = Object.keys(content);
  const lower = keys.map((k) => k.toLowerCase());
  const exact = lower.indexOf(media);
  if (exact >= 0) return keys[exact];
  const wild = lower.indexOf(`${media.split('/')[0]}/*`);
  if (wild >= 0) return keys[wild];
  const any = lower.indexOf('*/*');
  return any >= 0 ? keys[any] : undefined;
}

// Checks a body against a `content` map at contentPtr. Returns a list of problems.
function checkContent(spec, content, contentPtr, contentType, body, skipBody) {
  const problems = [];
  const declared = Object.keys(content ?? {});
  if (declared.length === 0) {
    if (!skipBody && body !== '') problems.push('a body, but the document declares no content');
    return problems;
  }
  const media = mediaOf(contentType);
  const key = media ? declaredMedia(content, media) : undefined;
  if (!key) {
    problems.push(
      `Content-Type ${JSON.stringify(contentType ?? null)} is not declared ` +
        `(${declared.join(', ')})`,
    );
    return problems;
  }
  if (skipBody || (!isJsonMedia(mediaOf(key)) && !isJsonMedia(media))) return problems;
  let data;
  try {
    data = JSON.parse(body);
  } catch (e) {
    problems.push(`body is not JSON (${e.message})`);
    return problems;
  }
  if (content[key]?.schema === undefined) return problems;
  const v = spec.validator(`${contentPtr}/${escapePointer(key)}/schema`);
  if (!v(data)) problems.push(`body: ${ajvText(v.errors)}`);
  return problems;
}

// Checks declared headers (an OpenAPI headers map, or header parameters) against the
// recorded ones. items: [{name, node, pointer}] with node the resolved header object.
function checkHeaders(spec, items, recorded) {
  const problems = [];
  const lower = {};
  for (const [k, v] of Object.entries(recorded ?? {})) lower[k.toLowerCase()] = v;
  for (const { name, node, pointer } of items) {
    const value = lower[name.toLowerCase()];
    if (value === undefined || value === '') {
      if (node.required) problems.push(`header ${name} is required but absent`);
      continue;
    }
    if (node.schema === undefined) continue;
    const v = spec.validator(`${pointer}/schema`, true);
    if (!v({ value })) problems.push(`header ${name}: ${ajvText(v.errors)}`);
  }
  return problems;
}

function responseHeaderItems(spec, response, responsePtr) {
  const items = [];
  for (const name of Object.keys(response.headers ?? {})) {
    if (name.toLowerCase() === 'content-type') continue; // OpenAPI: ignored when declared
    const ptr = `${responsePtr}/headers/${escapePointer(name)}`;
    const { node, pointer } = deref(spec.doc, response.headers[name], ptr);
    items.push({ name, node, pointer });
  }
  return items;
}

// The response object for a status: exact, then 4XX, then default.
function pickResponse(responses, status) {
  const s = String(status);
  for (const k of [s, `${s[0]}XX`, `${s[0]}xx`, 'default']) if (responses?.[k]) return k;
  return undefined;
}

function checkResponseObject(spec, rec, responsesPtr, key) {
  const ptr = `${responsesPtr}/${escapePointer(key)}`;
  const { node, pointer } = deref(spec.doc, getPointer(spec.doc, ptr), ptr);
  const skipBody = rec.method === 'HEAD';
  return [
    ...checkHeaders(spec, responseHeaderItems(spec, node, pointer), rec.headers),
    ...checkContent(
      spec, node.content, `${pointer}/content`, rec.content_type, rec.body ?? '', skipBody,
    ),
  ];
}

// An answer byocd gives outside the document's operations: the status must pass statusOk
// (else `why`), the body must be the common error body (#/components/schemas/Error).
function checkErrorAnswer(spec, rec, statusOk, why) {
  const problems = [];
  if (!statusOk(rec.status)) problems.push(why);
  if (rec.method === 'HEAD') return problems;
  const media = mediaOf(rec.content_type);
  if (media !== 'application/json') {
    const type = JSON.stringify(rec.content_type ?? null);
    problems.push(`Content-Type ${type} is not application/json`);
    return problems;
  }
  let data;
  try {
    data = JSON.parse(rec.body ?? '');
  } catch (e) {
    problems.push(`body is not JSON (${e.message})`);
    return problems;
  }
  const v = spec.validator('/components/schemas/Error');
  if (!v(data)) problems.push(`body: ${ajvText(v.errors)}`);
  return problems;
}

// Returns {label, problems} or null when the URL is none of the document's.
function checkResponse(spec, rec) {
  let url;
  try {
    url = new URL(rec.url);
  } catch {
    return { label: `${rec.method} ${rec.url}`, problems: ['the recorded URL does not parse'] };
  }
  const method = String(rec.method ?? '').toUpperCase();
  const lower = method.toLowerCase();
  const matches = spec.matchPaths(url.pathname).map((m) => ({
    template: m.template,
    item: deref(spec.doc, spec.doc.paths[m.template], pointerOf(['paths', m.template])),
  }));
  // The most specific path that has the method (GET /a/add may be GET /a/{x}'s).
  const hit = HTTP_METHODS.includes(lower) && matches.find((m) => m.item.node[lower]);
  if (!hit) {
    const ca = spec.catchAll(method, url.pathname);
    if (ca) {
      const is4xx = (st) => st >= 400 && st <= 499;
      const why = 'the catch-all answered a non-4xx status';
      const label = `${method} ${ca.pattern} ${rec.status}`;
      return { label, problems: checkErrorAnswer(spec, rec, is4xx, why) };
    }
    if (matches.length === 0) {
      if (!spec.servers.has(url.host)) return null; // not byocd's answer
      const label = `${method} (no route) ${rec.status}`;
      if (spec.transport(rec.status)) return { label, problems: checkTransport(spec, rec) };
      const why = 'a path no route takes must answer 404';
      return { label, problems: checkErrorAnswer(spec, rec, (st) => st === 404, why) };
    }
    const label = `${method} ${matches[0].template} ${rec.status}`;
    if (spec.transport(rec.status)) return { label, problems: checkTransport(spec, rec) };
    if (rec.status !== 405)
      return { label, problems: [`${method} is not an operation of this path: expected 405`] };
    if (!getPointer(spec.doc, '/components/responses/MethodNotAllowed'))
      return { label, problems: [] };
    const problems = checkResponseObject(spec, rec, '/components/responses', 'MethodNotAllowed');
    return { label, problems };
  }
  const op = hit.item.node[lower];
  const label = `${method} ${hit.template} ${rec.status}`;
  const responsesPtr = `${hit.item.pointer}/${lower}/responses`;
  const key = pickResponse(op.responses, rec.status);
  if (key) return { label, problems: checkResponseObject(spec, rec, responsesPtr, key) };
  if (spec.transport(rec.status)) return { label, problems: checkTransport(spec, rec) };
  const declared = Object.keys(op.responses ?? {}).join(', ');
  return { label, problems: [`status ${rec.status} is not declared (${declared})`] };
}

// Answers the HTTP library gives below the route table (the document's
// x-transport-responses): their headers are checked, not their bodies, which the library
// writes and the document does not describe.
function checkTransport(spec, rec) {
  const ptr = `/${TRANSPORT}/${rec.status}`;
  const { node, pointer } = deref(spec.doc, getPointer(spec.doc, ptr), ptr);
  return checkHeaders(spec, responseHeaderItems(spec, node, pointer), rec.headers);
}

function checkWebhook(spec, rec) {
  let body;
  try {
    body = JSON.parse(rec.body ?? '');
  } catch (e) {
    return { label: `webhook ${rec.path}`, problems: [`body is not JSON (${e.message})`] };
  }
  const type = body && typeof body === 'object' ? body.type : undefined;
  const label = `webhook ${typeof type === 'string' ? type : '?'}`;
  const entry = typeof type === 'string' ? spec.doc.webhooks?.[type] : undefined;
  if (!entry)
    return { label, problems: [`type ${JSON.stringify(type)} is not in the document's webhooks`] };
  const item = deref(spec.doc, entry, pointerOf(['webhooks', type]));
  const method = String(rec.method ?? '').toLowerCase();
  const op = item.node[method];
  if (!op) return { label, problems: [`${rec.method} is not the method of this webhook`] };
  const params = [
    ...(item.node.parameters ?? []).map((p, i) => [p, `${item.pointer}/parameters/${i}`]),
    ...(op.parameters ?? []).map((p, i) => [p, `${item.pointer}/${method}/parameters/${i}`]),
  ];
  const headers = params
    .map(([p, ptr]) => deref(spec.doc, p, ptr))
    .filter(({ node }) => node.in === 'header')
    .map(({ node, pointer }) => ({ name: node.name, node, pointer }));
  const problems = checkHeaders(spec, headers, rec.headers);
  const rb = deref(spec.doc, op.requestBody ?? {}, `${item.pointer}/${method}/requestBody`);
  const contentPtr = `${rb.pointer}/content`;
  problems.push(
    ...checkContent(spec, rb.node.content, contentPtr, rec.content_type, rec.body ?? '', false),
  );
  const id = rec.headers?.['webhook-id'];
  if (id && body.id !== id)
    problems.push(`webhook-id ${id} is not the envelope's id ${JSON.stringify(body.id)}`);
  return { label, problems };
}

// ---------------------------------------------------------------- main

function* records(files) {
  for (const file of files) {
    let text;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      die(`cannot read ${file}: ${e.message}`);
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() === '') continue;
      let rec;
      try {
        rec = JSON.parse(lines[i]);
      } catch (e) {
        yield { where: `${file}:${i + 1}`, bad: `not a JSON line (${e.message})` };
        continue;
      }
      yield { where: `${file}:${i + 1}`, rec };
    }
  }
}

function excerpt(body) {
  const s = String(body ?? '').replace(/\s+/g, ' ');
  return s.length > EXCERPT ? `${s.slice(0, EXCERPT)}…` : s;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { Ajv2020, addFormats, YAML } = await loadModules();
  let doc;
  try {
    doc = YAML.parse(fs.readFileSync(opts.spec, 'utf8'));
  } catch (e) {
    die(`cannot read ${opts.spec}: ${e.message}`);
  }
  const spec = new Spec(doc, Ajv2020, addFormats, readCatchAlls(opts.exceptions));

  const failures = new Map(); // one entry per distinct (label, problem), with a count
  const unmatched = new Map();
  let responses = 0;
  let webhooks = 0;
  const fail = (where, label, problem, rec) => {
    const k = `${label}\u0000${problem}`;
    const f = failures.get(k);
    if (f) {
      f.count++;
    } else {
      const url = rec?.url ?? rec?.path;
      failures.set(k, { where, label, problem, url, body: rec?.body, count: 1 });
    }
  };
  const all = [...records(opts.logs)];
  for (const { rec } of all) {
    if (rec?.kind !== 'server') continue;
    try {
      spec.servers.add(new URL(rec.base).host);
    } catch {
      // reported below
    }
  }
  for (const { where, rec, bad } of all) {
    if (bad || rec === null || typeof rec !== 'object') {
      fail(where, 'log', bad ?? 'not an object', null);
      continue;
    }
    if (rec.kind === 'server') {
      if (!URL.canParse(String(rec.base))) fail(where, 'log', 'a server without a base URL', null);
      continue;
    }
    const isHook = rec.kind === 'webhook';
    const result = isHook ? checkWebhook(spec, rec) : checkResponse(spec, rec);
    if (!result) {
      let p = '?';
      try {
        const u = new URL(rec.url);
        p = `${u.host}${u.pathname}`;
      } catch {
        p = String(rec.url);
      }
      unmatched.set(p, (unmatched.get(p) ?? 0) + 1);
      continue;
    }
    if (isHook) webhooks++;
    else responses++;
    for (const problem of result.problems) fail(where, result.label, problem, rec);
  }

  for (const f of failures.values()) {
    const times = f.count > 1 ? ` (${f.count} times)` : '';
    console.log(`MISMATCH ${f.label}${times}: ${f.problem}`);
    console.log(`  first at ${f.where}${f.url ? `, ${f.url}` : ''}`);
    if (f.body !== undefined) console.log(`  body: ${excerpt(f.body)}`);
  }
  const ignored = [...unmatched.values()].reduce((a, b) => a + b, 0);
  let note = '';
  if (ignored) {
    const top = [...unmatched.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
    const more = unmatched.size > 3 ? ', …' : '';
    const list = top.map(([p, n]) => `${p} ×${n}`).join(', ');
    note = `; ${ignored} answer(s) not byocd's ignored (${list}${more})`;
  }
  const mismatches = [...failures.values()].reduce((a, f) => a + f.count, 0);
  console.log(
    `validate_responses: ${responses} response(s) and ${webhooks} webhook(s) checked against ` +
      `${path.basename(opts.spec)}: ${mismatches} mismatch(es)${note}`,
  );
  if (mismatches) process.exit(1);
  if (all.length === 0 && !opts.allowEmpty) {
    console.log('validate_responses: the log is empty: nothing was recorded, nothing checked');
    process.exit(1);
  }
}

await main();
