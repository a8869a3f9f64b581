#!/usr/bin/env bash
# The AsyncAPI document validates with the AsyncAPI CLI, every JSON Schema
# it references compiles under draft 2020-12 (ajv, strict mode), and every
# example in it validates against its message's schemas.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
docs=$(cd "$here/../../docs" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The CLI sends usage analytics to a remote host unless told not to; nothing
# in the tests contacts another host.
echo '{"analyticsEnabled":"false","infoMessageShown":"true","userID":"lmsync-tests"}' >"$tmp/analytics.json"
export ASYNCAPI_METRICS_CONFIG_PATH=$tmp/analytics.json ASYNCAPI_SKIP_NEW_VERSION_CHECK=1
"$here/cli/node_modules/.bin/asyncapi" validate "$docs/asyncapi.yaml" --fail-severity warn 2>&1 | tee "$tmp/out"
grep -q "is valid" "$tmp/out" || { echo "asyncapi validate did not say valid"; exit 1; }
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
node "$here/examples.js" "$docs"
