#!/usr/bin/env bash
# The AsyncAPI document validates with the AsyncAPI CLI, and every JSON
# Schema it references compiles under draft 2020-12 (ajv, strict mode).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
docs=$(cd "$here/../../docs" && pwd)
"$here/node_modules/.bin/asyncapi" validate "$docs/asyncapi.yaml" --no-interactive 2>&1 | tee "${TMPDIR:-/tmp}/asyncapi-validate.$$"
grep -q "is valid" "${TMPDIR:-/tmp}/asyncapi-validate.$$" || { echo "asyncapi validate did not say valid"; exit 1; }
rm -f "${TMPDIR:-/tmp}/asyncapi-validate.$$"
node -e '
const Ajv2020 = require(process.argv[1] + "/node_modules/ajv/dist/2020");
const fs = require("fs"), path = require("path");
const ajv = new Ajv2020({strict: true});
require(process.argv[1] + "/node_modules/ajv-formats")(ajv);
const files = fs.readdirSync(process.argv[2]).filter(f => f.endsWith(".schema.json"));
for (const f of files) ajv.addSchema(JSON.parse(fs.readFileSync(path.join(process.argv[2], f), "utf8")), f);
for (const f of files) ajv.getSchema(f);
console.log(`${files.length} JSON Schemas compile (draft 2020-12, strict)`);
' "$here" "$docs/schemas"
