// check.js ENDPOINT EVENTS_JSONL : compare the LRS's statements with lmsync's change events.
//
// Reads every statement of the LRS (GET /statements, paged with `more`),
// validates each with @learninglocker/xapi-validation, and compares them with
// the change events that lmsync-tail collected (one JSON line per message):
// one statement per mapped event (created, completed, progressed, regressed,
// reopened with a student), id = UUID v5 of ce_id, nothing else, no
// duplicates, and the mapped fields (verb, actor, completion, progress,
// course parent, timestamp) as docs/xapi.md says. Prints one summary line
// (JSON) and exits 1 on any difference.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const validate = require('@learninglocker/xapi-validation').default;

const NAMESPACE = 'a9c3d0d6-568d-5214-89a3-bbc7e93d6675';
const VERBS = { created: 'attempted', completed: 'completed', progressed: 'progressed', regressed: 'progressed', reopened: 'progressed' };
const PROGRESS = 'https://w3id.org/xapi/cmi5/result/extensions/progress';
const COURSE = 'http://adlnet.gov/expapi/activities/course';

function uuid5(name) {
  const ns = Buffer.from(NAMESPACE.replace(/-/g, ''), 'hex');
  const h = crypto.createHash('sha1').update(Buffer.concat([ns, Buffer.from(name)])).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

async function fetchAll(endpoint) {
  const headers = { 'X-Experience-API-Version': '1.0.3', Authorization: 'Basic ' + Buffer.from(process.env.LRS_USERPWD || 'e2e:e2e').toString('base64') };
  const out = [];
  let url = new URL('statements?limit=100', endpoint).href;
  while (url) {
    const r = await fetch(url, { headers });
    if (r.status !== 200) throw new Error(`GET ${url}: http ${r.status}`);
    const page = await r.json();
    out.push(...page.statements);
    url = page.more ? new URL(page.more, endpoint).href : null;
  }
  return out;
}

function expected(eventsFile) {
  const byId = new Map();
  for (const line of fs.readFileSync(eventsFile, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    const ce = m.headers && m.headers.ce_id, ev = m.value;
    if (!ce || !ev || !VERBS[ev.type]) continue;
    const student = ev.after && ev.after.student_id;
    if (typeof student !== 'string' || student === '') continue;
    byId.set(uuid5(ce), ev);
  }
  return byId;
}

function instant(ev) {
  const a = ev.after, pick = (...ks) => ks.map((k) => a[k]).find((v) => typeof v === 'string' && v !== '');
  const own = ev.type === 'created' ? pick('started_at', 'created_at', 'updated_at')
    : ev.type === 'completed' ? pick('completed_at', 'updated_at') : pick('updated_at');
  return own || ev.observed.at;
}

// Differences between a statement and its event; [] when it maps as documented.
function contentErrors(s, ev) {
  const e = [], a = ev.after, res = s.result || {};
  if (s.verb.id !== 'http://adlnet.gov/expapi/verbs/' + VERBS[ev.type]) e.push(`verb ${s.verb.id} for ${ev.type}`);
  if (!s.actor.account || s.actor.account.name !== a.student_id || s.actor.mbox) e.push('actor');
  if (ev.type === 'completed' && (res.completion !== true || (res.extensions && PROGRESS in res.extensions))) e.push('completed result');
  if (ev.type === 'reopened' && res.completion !== false) e.push('reopened completion');
  const p = a.progress_percentage, ext = res.extensions && res.extensions[PROGRESS];
  const wantP = ev.type !== 'completed' && typeof p === 'number' && p >= 0 && p <= 100 ? Math.round(p) : undefined;
  if (ext !== wantP) e.push(`progress ${ext} for ${p}`);
  if (typeof a.duration_minutes !== 'number' && res.duration !== undefined) e.push('duration invented');
  const parent = s.context && s.context.contextActivities && s.context.contextActivities.parent;
  if (a.content_id && a.course_id && !(parent && parent[0].definition.type === COURSE && parent[0].id.endsWith('/courses/' + encodeURIComponent(a.course_id))))
    e.push('course parent');
  if (Date.parse(s.timestamp) !== Date.parse(instant(ev))) e.push(`timestamp ${s.timestamp} vs ${instant(ev)}`);
  return e;
}

async function main() {
  const [endpoint, eventsFile] = process.argv.slice(2);
  const want = expected(eventsFile);
  const got = await fetchAll(endpoint);
  const problems = [], seen = new Set(), verbs = {};
  for (const s of got) {
    const w = validate(s);
    if (w.length) problems.push(`${s.id}: invalid: ${w.map((x) => x.path.join('.')).join(', ')}`);
    if (seen.has(s.id)) problems.push(`${s.id}: twice in the LRS`);
    seen.add(s.id);
    verbs[s.verb.display['en-US']] = (verbs[s.verb.display['en-US']] || 0) + 1;
    const ev = want.get(s.id);
    if (!ev) { problems.push(`${s.id}: no change event has this id`); continue; }
    const e = contentErrors(s, ev);
    if (e.length) problems.push(`${s.id} (${ev.type} ${ev.connection_id}/${ev.activity_id}): ${e.join('; ')}`);
  }
  for (const [id, ev] of want) if (!seen.has(id)) problems.push(`${id}: missing (${ev.type} ${ev.connection_id}/${ev.activity_id})`);
  console.log(JSON.stringify({ statements: got.length, expected: want.size, verbs, problems: problems.length }));
  for (const p of problems.slice(0, 20)) console.log('  ' + p);
  process.exit(problems.length ? 1 : 0);
}

main().catch((err) => { console.error(err.stack || String(err)); process.exit(2); });
