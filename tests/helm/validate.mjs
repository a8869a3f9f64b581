// validate.mjs - check every object of a rendered chart (helm template output)
// against the Kubernetes API schemas, offline.
//
//   node validate.mjs NODE_MODULES_DIR RENDERED.yaml [CONF_OUT]
//
// CONF_OUT: also write the lmsync.conf of the rendered ConfigMap there (for
// the programs' --check-config).
//
// Schemas: the JSON schemas compiled into the npm packages kubernetes-models
// (Kubernetes 1.3x OpenAPI), @kubernetes-models/keda (ScaledObject) and
// @kubernetes-models/prometheus-operator (ServiceMonitor, PrometheusRule).
// An object whose apiVersion/kind has no schema is an error, never a pass.
// Those schemas accept unknown fields, so the chart's own rules below also
// check the fields that matter to lmsync (labels, security context, token).
// Exit 0 when every object is valid; 1 with one line per problem otherwise.
import { readFileSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [nm, file, confOut] = process.argv.slice(2);
if (!nm || !file) {
  console.error("usage: node validate.mjs NODE_MODULES_DIR RENDERED.yaml");
  process.exit(2);
}
const YAML = (await import(pathToFileURL(join(nm, "yaml", "dist", "index.js")))).default;

// apiVersion -> folder of its models
function modelPath(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const pkg = group === "keda.sh" ? "@kubernetes-models/keda"
    : group === "monitoring.coreos.com" ? "@kubernetes-models/prometheus-operator" : "kubernetes-models";
  const dir = group ? `${group}/${version}` : version;
  return join(nm, pkg, dir, `${kind}.js`);
}

const RECOMMENDED = ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
  "app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", "helm.sh/chart"];

function podSpecOf(o) {
  if (["Deployment", "StatefulSet", "Job"].includes(o.kind)) return o.spec?.template?.spec;
  return null;
}

// lmsync's own rules on top of the schemas.
function chartRules(o) {
  const errs = [];
  const labels = o.metadata?.labels ?? {};
  for (const l of RECOMMENDED) if (!(l in labels)) errs.push(`label ${l} missing`);
  const pod = podSpecOf(o);
  if (!pod) return errs;
  const psc = pod.securityContext ?? {};
  if (psc.runAsNonRoot !== true) errs.push("pod securityContext.runAsNonRoot is not true");
  if (psc.seccompProfile?.type !== "RuntimeDefault") errs.push("pod seccompProfile is not RuntimeDefault");
  for (const c of pod.containers ?? []) {
    const sc = c.securityContext ?? {};
    if (sc.readOnlyRootFilesystem !== true) errs.push(`container ${c.name}: readOnlyRootFilesystem is not true`);
    if (sc.allowPrivilegeEscalation !== false) errs.push(`container ${c.name}: allowPrivilegeEscalation is not false`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) errs.push(`container ${c.name}: capabilities do not drop ALL`);
    if (!c.resources?.limits || !c.resources?.requests) errs.push(`container ${c.name}: resources without requests and limits`);
    for (const e of c.env ?? [])
      if (/TOKEN/i.test(e.name)) errs.push(`container ${c.name}: env ${e.name} carries a token (mount it as a file)`);
    if (o.kind !== "Job" && c.ports?.length && !c.readinessProbe) errs.push(`container ${c.name}: a port but no readinessProbe`);
  }
  return errs;
}

const docs = YAML.parseAllDocuments(readFileSync(file, "utf8"));
let bad = 0, n = 0;
for (const d of docs) {
  if (d.errors.length) { console.log(`${file}: YAML error: ${d.errors[0].message}`); bad++; continue; }
  const o = d.toJS();
  if (o == null) continue;
  n++;
  const what = `${o.kind ?? "?"}/${o.metadata?.name ?? "?"}`;
  if (!o.apiVersion || !o.kind) { console.log(`${what}: apiVersion or kind missing`); bad++; continue; }
  const p = modelPath(o.apiVersion, o.kind);
  if (!existsSync(p)) { console.log(`${what}: no schema for ${o.apiVersion} ${o.kind}`); bad++; continue; }
  const Model = (await import(pathToFileURL(p)))[o.kind];
  const errs = [];
  try { new Model(o).validate(); } catch (e) { errs.push(`schema: ${e.message}`); }
  errs.push(...chartRules(o));
  if (confOut && o.kind === "ConfigMap" && typeof o.data?.["lmsync.conf"] === "string")
    writeFileSync(confOut, o.data["lmsync.conf"]);
  for (const e of errs) console.log(`${what}: ${e}`);
  if (errs.length) bad++;
}
if (n === 0) { console.log(`${file}: no object rendered`); process.exit(1); }
console.log(`${file}: ${n} objects, ${bad} invalid`);
process.exit(bad ? 1 : 0);
