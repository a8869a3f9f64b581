// consume.js - an independent client of lmsync's public topics (kafkajs, the
// most used Node client, and the official CloudEvents SDK's Kafka binding).
//
//   node consume.js BROKERS SCHEMA_DIR TOPIC=COUNT ...
//
// Reads every TOPIC from the beginning until COUNT messages arrived (60 s at
// most), then checks each one: a change event must decode through
// cloudevents' Kafka.toEvent() into a valid CloudEvent whose data equals the
// value, and its headers and value must validate against docs/schemas; a
// status record's value against status.schema.json; a current record's
// headers and value against cloudevents-headers / current.schema.json, its
// key against its value, and a tombstone (no value) by its headers and key; a
// progress rollup's headers and value against progress-headers, enrollment and
// course schemas. Prints one JSON line
// of counts; exits 1 on any failure (each printed with its offset).
'use strict';
const fs = require('fs');
const path = require('path');
const { Kafka, logLevel } = require('kafkajs');
const { Kafka: CEKafka } = require('cloudevents');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');

const [brokers, schemaDir, ...wants] = process.argv.slice(2);
if (!brokers || !schemaDir || wants.length === 0) {
  console.error('usage: node consume.js BROKERS SCHEMA_DIR TOPIC=COUNT ...');
  process.exit(2);
}
const want = Object.fromEntries(wants.map((w) => { const [t, n] = w.split('='); return [t, Number(n)]; }));

const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats(ajv);
for (const f of fs.readdirSync(schemaDir).filter((f) => f.endsWith('.schema.json')))
  ajv.addSchema(JSON.parse(fs.readFileSync(path.join(schemaDir, f), 'utf8')), f);
const validators = {
  event: ajv.getSchema('change-event.schema.json'),
  headers: ajv.getSchema('cloudevents-headers.schema.json'),
  status: ajv.getSchema('status.schema.json'),
  current: ajv.getSchema('current.schema.json'),
  rollupHeaders: ajv.getSchema('progress-headers.schema.json'),
  enrollment: ajv.getSchema('enrollment.schema.json'),
  course: ajv.getSchema('course.schema.json'),
};

const counts = {}, failures = [];
const fail = (topic, m, why) => failures.push(`${topic} offset ${m.offset}: ${why}`);

function headersOf(m) {
  const headers = {};
  for (const [k, v] of Object.entries(m.headers || {})) headers[k] = v.toString('utf8');
  return headers;
}

function checkCurrent(topic, m) {
  const headers = headersOf(m);
  const key = m.key.toString('utf8');
  if (!validators.headers(headers)) fail(topic, m, `headers: ${ajv.errorsText(validators.headers.errors)}`);
  if (headers.ce_type !== 'lmsync.activity.current') fail(topic, m, `ce_type ${headers.ce_type}`);
  const slash = key.indexOf('/');
  if (headers.ce_subject !== `activities/${key.slice(slash + 1)}`) fail(topic, m, `key ${key} vs subject ${headers.ce_subject}`);
  if (m.value === null) return; // a tombstone: headers and key only
  let value;
  try { value = JSON.parse(m.value.toString('utf8')); } catch (e) { return fail(topic, m, `value is not JSON: ${e.message}`); }
  if (!validators.current(value)) fail(topic, m, `value: ${ajv.errorsText(validators.current.errors)}`);
  if (key !== `${value.connection_id}/${value.id}`) fail(topic, m, `key ${key} is not connection_id/id`);
  try {
    CEKafka.toEvent({ headers, key, value: m.value.toString('utf8'), timestamp: m.timestamp }).validate();
  } catch (e) {
    fail(topic, m, `cloudevents Kafka.toEvent: ${e.message}`);
  }
}

function checkEvent(topic, m) {
  const headers = headersOf(m);
  const text = m.value.toString('utf8');
  let value;
  try { value = JSON.parse(text); } catch (e) { return fail(topic, m, `value is not JSON: ${e.message}`); }
  if (!validators.headers(headers)) fail(topic, m, `headers: ${ajv.errorsText(validators.headers.errors)}`);
  if (!validators.event(value)) fail(topic, m, `value: ${ajv.errorsText(validators.event.errors)}`);
  let ce;
  try {
    ce = CEKafka.toEvent({ headers, key: m.key && m.key.toString('utf8'), value: text, timestamp: m.timestamp });
    ce.validate();
  } catch (e) {
    return fail(topic, m, `cloudevents Kafka.toEvent: ${e.message}`);
  }
  if (ce.type !== `lms.activity.${value.type}`) fail(topic, m, `ce type ${ce.type} vs value type ${value.type}`);
  if (ce.source !== `/connections/${value.connection_id}`) fail(topic, m, `ce source ${ce.source}`);
  if (JSON.stringify(ce.data) !== JSON.stringify(value)) fail(topic, m, 'ce data differs from the value');
}

function checkStatus(topic, m) {
  let value;
  try { value = JSON.parse(m.value.toString('utf8')); } catch (e) { return fail(topic, m, `value is not JSON: ${e.message}`); }
  if (!validators.status(value)) fail(topic, m, `value: ${ajv.errorsText(validators.status.errors)}`);
  if (m.key.toString('utf8') !== value.scope) fail(topic, m, `key ${m.key} is not the scope ${value.scope}`);
}

// A progress rollup: headers always (tombstones too), the value against its schema, the key
// built from the value's ids, and a CloudEvent whose data is the value.
function checkRollup(topic, m, kind) {
  const headers = headersOf(m);
  const key = m.key && m.key.toString('utf8');
  if (!validators.rollupHeaders(headers)) fail(topic, m, `headers: ${ajv.errorsText(validators.rollupHeaders.errors)}`);
  if (headers.ce_type !== `lmsync.progress.${kind}`) fail(topic, m, `ce_type ${headers.ce_type}`);
  if (headers.ce_subject !== key) fail(topic, m, `ce_subject ${headers.ce_subject} is not the key ${key}`);
  if (m.value === null) return; // tombstone: the key is deleted
  const text = m.value.toString('utf8');
  let value;
  try { value = JSON.parse(text); } catch (e) { return fail(topic, m, `value is not JSON: ${e.message}`); }
  if (!validators[kind](value)) fail(topic, m, `value: ${ajv.errorsText(validators[kind].errors)}`);
  const want = kind === 'enrollment' ? `${value.connection_id}/${value.student_id}/${value.course_id}`
                                     : `${value.connection_id}/${value.course_id}`;
  if (key !== want) fail(topic, m, `key ${key} is not ${want}`);
  try {
    const ce = CEKafka.toEvent({ headers, key, value: text, timestamp: m.timestamp });
    ce.validate();
    if (JSON.stringify(ce.data) !== JSON.stringify(value)) fail(topic, m, 'ce data differs from the value');
  } catch (e) {
    fail(topic, m, `cloudevents Kafka.toEvent: ${e.message}`);
  }
}

async function main() {
  const kafka = new Kafka({ clientId: 'lmsync-contract', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `lmsync-contract-${process.pid}-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topics: Object.keys(want), fromBeginning: true });
  let done;
  const finished = new Promise((r) => { done = r; });
  const complete = () => Object.keys(want).every((t) => (counts[t] || 0) >= want[t]);
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      counts[topic] = (counts[topic] || 0) + 1;
      if (topic.endsWith('.activity.changes')) checkEvent(topic, message);
      else if (topic.endsWith('.sync.status')) checkStatus(topic, message);
      else if (topic.endsWith('.activity.current')) checkCurrent(topic, message);
      else if (topic.endsWith('.progress.enrollments')) checkRollup(topic, message, 'enrollment');
      else if (topic.endsWith('.progress.courses')) checkRollup(topic, message, 'course');
      else fail(topic, message, 'no schema for this topic');
      if (complete()) done();
    },
  });
  const timer = setTimeout(done, 60000);
  await finished;
  clearTimeout(timer);
  await consumer.disconnect();
  for (const t of Object.keys(want))
    if ((counts[t] || 0) !== want[t]) failures.push(`${t}: read ${counts[t] || 0} messages, expected ${want[t]}`);
  console.log(JSON.stringify({ counts, failures: failures.length }));
  for (const f of failures.slice(0, 20)) console.error(f);
  process.exit(failures.length ? 1 : 0);
}
main().catch((e) => { console.error(`consume.js: ${e.stack || e}`); process.exit(1); });
