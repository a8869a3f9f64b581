// check.js ENDPOINT EVENTS_JSONL [CONFLICT_IDS [REJECTED_CE_IDS]] : compare the LRS's statements with
//   lmsync's change events. CONFLICT_IDS: statement ids the LRS holds with other content (seeded);
//   REJECTED_CE_IDS: events whose statement the LRS refuses (must be absent). Both comma-separated.
// check.js --seed-conflicts ENDPOINT EVENTS_JSONL N : store N statements under the ids of the first N
//   mapped events, with other content (lmsync-xapi must dead-letter those events); prints the ids.
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
const VERBS = { created: 'attempted', completed: 'completed', progressed: 'progressed', regressed: 'progressed', reopened: 'progressed', updated: 'scored' };
const PROGRESS = 'https://w3id.org/xapi/cmi5/result/extensions/progress';
const COURSE = 'http://adlnet.gov/expapi/activities/course';

// A grade that makes result.score: a number, or a percentage 0-100 ("87.5", "90%").
function numericGrade(g) {
  if (typeof g !== 'string' || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?%?$/.test(g)) return false;
  return !g.endsWith('%') || (parseFloat(g) >= 0 && parseFloat(g) <= 100);
}

// Whether lmsync-xapi makes a statement of this event (docs/xapi.md).
function mapped(ev) {
  if (!VERBS[ev.type] || !ev.after) return false;
  const student = ev.after.student_id;
  if (typeof student !== 'string' || student === '') return false;
  return ev.type !== 'updated' || (ev.changed.includes('assigned_grade') && numericGrade(ev.after.assigned_grade));
}

function uuid5(name) {
  const ns = Buffer.from(NAMESPACE.replace(/-/g, ''), 'hex');
  const h = crypto.createHash('sha1').update(Buffer.concat([ns, Buffer.from(name)])).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const headers = { 'X-Experience-API-Version': '1.0.3', 'Content-Type': 'application/json',
  Authorization: 'Basic ' + Buffer.from(process.env.LRS_USERPWD || 'e2e:e2e').toString('base64') };

async function seedConflicts(endpoint, eventsFile, n) {
  const ids = [...expected(eventsFile).keys()].slice(0, n);
  const body = ids.map((id) => ({ id, actor: { account: { homePage: 'https://other.example/', name: 'someone-else' } },
    verb: { id: 'http://adlnet.gov/expapi/verbs/experienced' }, object: { id: 'https://other.example/thing' } }));
  const r = await fetch(new URL('statements', endpoint).href, { method: 'POST', headers, body: JSON.stringify(body) });
  if (r.status !== 200) throw new Error(`seeding conflicts: http ${r.status} ${await r.text()}`);
  console.log(ids.join(','));
}

async function fetchAll(endpoint) {
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

// Mapped events by statement id; ev.deliveries: observed.at of every delivery (a re-delivery has a later one).
function expected(eventsFile) {
  const byId = new Map();
  for (const line of fs.readFileSync(eventsFile, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    const ce = m.headers && m.headers.ce_id, ev = m.value;
    if (!ce || !ev || typeof ev !== 'object' || !mapped(ev)) continue;
    const id = uuid5(ce), first = byId.get(id) || Object.assign(ev, { deliveries: [] });
    first.deliveries.push(ev.observed.at);
    byId.set(id, first);
  }
  return byId;
}

// The instants the statement's timestamp may have: the record's own, else any delivery's observation time.
function instants(ev) {
  const a = ev.after, pick = (...ks) => ks.map((k) => a[k]).find((v) => typeof v === 'string' && v !== '');
  const own = ev.type === 'created' ? pick('started_at', 'created_at', 'updated_at')
    : ev.type === 'completed' ? pick('completed_at', 'updated_at') : pick('updated_at');
  return own ? [own] : ev.deliveries;
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
  if ((res.score !== undefined) !== numericGrade(a.assigned_grade)) e.push(`score ${JSON.stringify(res.score)} for grade ${a.assigned_grade}`);
  const parent = s.context && s.context.contextActivities && s.context.contextActivities.parent;
  if (a.content_id && a.course_id && !(parent && parent[0].definition.type === COURSE && parent[0].id.endsWith('/courses/' + encodeURIComponent(a.course_id))))
    e.push('course parent');
  if (!instants(ev).some((t) => Date.parse(t) === Date.parse(s.timestamp))) e.push(`timestamp ${s.timestamp} vs ${instants(ev)}`);
  return e;
}

async function main() {
  if (process.argv[2] === '--seed-conflicts') return seedConflicts(process.argv[3], process.argv[4], Number(process.argv[5]));
  const [endpoint, eventsFile, conflictArg, rejectedArg] = process.argv.slice(2);
  const list = (arg) => (arg || '').split(',').filter(Boolean);
  const conflicts = new Set(list(conflictArg)), rejected = new Set(list(rejectedArg).map(uuid5));
  const want = expected(eventsFile);
  const got = await fetchAll(endpoint);
  const problems = [], seen = new Set(), verbs = {};
  for (const s of got) {
    const w = validate(s);
    if (w.length) problems.push(`${s.id}: invalid: ${w.map((x) => x.path.join('.')).join(', ')}`);
    if (seen.has(s.id)) problems.push(`${s.id}: twice in the LRS`);
    seen.add(s.id);
    const vn = (s.verb.display && s.verb.display['en-US']) || s.verb.id;
    verbs[vn] = (verbs[vn] || 0) + 1;
    const ev = want.get(s.id);
    if (!ev) { problems.push(`${s.id}: no change event has this id`); continue; }
    if (conflicts.has(s.id)) {
      if (s.verb.id !== 'http://adlnet.gov/expapi/verbs/experienced') problems.push(`${s.id}: the conflicting statement was replaced`);
      continue;
    }
    const e = contentErrors(s, ev);
    if (e.length) problems.push(`${s.id} (${ev.type} ${ev.connection_id}/${ev.activity_id}): ${e.join('; ')}`);
  }
  for (const id of rejected) if (seen.has(id)) problems.push(`${id}: a statement the LRS should refuse is stored`);
  for (const [id, ev] of want) if (!seen.has(id) && !rejected.has(id)) problems.push(`${id}: missing (${ev.type} ${ev.connection_id}/${ev.activity_id})`);
  console.log(JSON.stringify({ statements: got.length, expected: want.size, conflicts: conflicts.size, rejected: rejected.size, verbs, problems: problems.length }));
  for (const p of problems.slice(0, 20)) console.log('  ' + p);
  process.exit(problems.length ? 1 : 0);
}

main().catch((err) => { console.error(err.stack || String(err)); process.exit(2); });
