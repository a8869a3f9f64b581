// examples.js - every example of every message in docs/asyncapi.yaml
// validates against the message's JSON Schemas (the AsyncAPI CLI does not
// check examples against schemas). Usage: node examples.js DOCS_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');

const docs = process.argv[2];
const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats(ajv);
const schemaDir = path.join(docs, 'schemas');
for (const f of fs.readdirSync(schemaDir).filter((f) => f.endsWith('.schema.json')))
  ajv.addSchema(JSON.parse(fs.readFileSync(path.join(schemaDir, f), 'utf8')), f);
const doc = YAML.parse(fs.readFileSync(path.join(docs, 'asyncapi.yaml'), 'utf8'));
const validator = (part) => part && part.schema && ajv.getSchema(path.basename(part.schema.$ref));
let checked = 0, bad = 0;
for (const [name, msg] of Object.entries(doc.components.messages)) {
  const v = { payload: validator(msg.payload), headers: validator(msg.headers) };
  if (!v.payload) { console.error(`${name}: payload schema not found`); bad++; continue; }
  for (const ex of msg.examples || []) {
    for (const part of ['payload', 'headers']) {
      if (ex[part] === undefined) continue;
      checked++;
      if (!v[part]) { console.error(`${name}/${ex.name}: example has ${part} but the message has no ${part} schema`); bad++; }
      else if (!v[part](ex[part])) { console.error(`${name}/${ex.name} ${part}: ${ajv.errorsText(v[part].errors)}`); bad++; }
    }
  }
}
console.log(`${checked} example parts checked against their schemas, ${bad} failed`);
process.exit(bad || checked === 0 ? 1 : 0);
