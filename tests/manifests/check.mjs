// Validates every manifest Updraft ships against the Kubernetes and KEDA schemas:
//   deploy/crds, deploy/operator, the Helm chart rendered by `helm template` with default values and
//   with variants, the chart's crds/ copies, every KEDA object in examples/**/*.yaml and the fixtures
//   in tests/manifests/fixtures; then cross-checks each install (Services select the pods and name
//   their ports, bindings name existing roles and accounts, RBAC resourceNames match the objects),
//   checks that the chart installs what deploy/operator installs, that the fixtures use every field of
//   the CRDs, lints the Dockerfile, and runs negative self-tests: deliberately broken objects that
//   must be rejected.
//
// Kubernetes kinds: the kubernetes-models classes (official OpenAPI schemas: types, required fields,
// formats, enums) plus an unknown-field walk over the field lists of their type declarations (what
// `kubectl apply` rejects by default, field validation Strict). KEDA kinds: the openAPIV3Schema of
// our own CRDs compiled with Ajv, objects closed as the API server's strict field validation closes
// them, CEL rules evaluated by the small table below.
//
// Usage: node check.mjs --helm PATH_TO_HELM   (check.sh provides helm)
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import YAML from "yaml";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import { validate as lintDockerfile } from "dockerfile-utils";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const rel = (p) => path.relative(repo, p);
const argv = process.argv.slice(2);
const helmBin = argv.includes("--helm") ? argv[argv.indexOf("--helm") + 1] : process.env.HELM;
const verbose = argv.includes("-v");

let passed = 0;
let failed = 0;
function report(name, errors) {
  if (errors.length === 0) {
    passed++;
    if (verbose) console.log(`ok    ${name}`);
    return;
  }
  failed++;
  console.log(`FAIL  ${name}`);
  for (const e of errors.slice(0, 25)) console.log(`        ${e}`);
  if (errors.length > 25) console.log(`        ... ${errors.length - 25} more`);
}
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// Field index of the Kubernetes types, from kubernetes-models' generated declarations:
// interface name -> {fields: {name: {required, type}}}; type = {ref} | {array} | {map} | {prim}.
const modelRoots = [
  path.join(here, "node_modules/kubernetes-models"),
  path.join(here, "node_modules/@kubernetes-models/apimachinery"),
];
const types = new Map(); // global interface name -> {fields, file}
const kinds = new Map(); // "apiVersion kind" -> {iface, file}

function parseType(text, aliases) {
  text = text.trim();
  const arr = /^Array<(.+)>$/.exec(text);
  if (arr) return { array: parseType(arr[1], aliases) };
  if (/^I[A-Za-z0-9]+$/.test(text)) return { ref: aliases.get(text) || text };
  return { prim: text };
}

function indexDeclarations(file) {
  const src = fs.readFileSync(file, "utf8");
  const aliases = new Map();
  for (const m of src.matchAll(/export \{([^}]+)\}/g)) {
    for (const part of m[1].split(",")) {
      const am = /(\w+) as (\w+)/.exec(part.trim());
      if (am && am[2].startsWith("I")) aliases.set(am[1], am[2]);
    }
  }
  const lines = src.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const head = /^export interface (\w+)(?: extends [\w, ]+)? \{$/.exec(lines[i]);
    if (!head) continue;
    const fields = {};
    let apiVersion;
    let kind;
    for (i++; i < lines.length && lines[i] !== "}"; i++) {
      const m = /^ {4}"([^"]+)"(\?)?: (.*);?$/.exec(lines[i]);
      if (!m) continue;
      let typeText = m[3].replace(/;$/, "");
      let type;
      if (typeText === "{") {
        const inner = /^\s+\[key: string\]: (.+);$/.exec(lines[i + 1]);
        type = { map: inner ? parseType(inner[1], aliases) : { prim: "any" } };
        while (i < lines.length && !/^ {4}\};$/.test(lines[i])) i++;
      } else {
        type = parseType(typeText, aliases);
      }
      fields[m[1]] = { required: !m[2], type };
      const lit = /^"(.*)"$/.exec(typeText);
      if (m[1] === "apiVersion" && lit) apiVersion = lit[1];
      if (m[1] === "kind" && lit) kind = lit[1];
    }
    const global = aliases.get(head[1]) || head[1];
    types.set(global, { fields, file });
    if (apiVersion && kind) kinds.set(`${apiVersion} ${kind}`, { iface: global, file });
  }
}
function walkDir(dir, visit) {
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) walkDir(p, visit);
    else visit(p);
  }
}
for (const root of modelRoots) walkDir(root, (p) => p.endsWith(".d.ts") && !p.includes("_schemas") && indexDeclarations(p));

// Fields that are not in the object's type: what the API server's Strict field validation rejects.
function unknownFields(value, type, at, out) {
  if (!type || value === undefined || value === null) return;
  if (type.array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, type.array, `${at}[${i}]`, out));
  } else if (type.map) {
    if (isObj(value)) for (const [k, v] of Object.entries(value)) unknownFields(v, type.map, `${at}.${k}`, out);
  } else if (type.ref) {
    const t = types.get(type.ref);
    // Aliases (Time, Quantity, IntOrString, JSON, JSONSchemaPropsOrArray ...) have no field list.
    if (!t || Object.keys(t.fields).length === 0 || !isObj(value)) return;
    for (const [k, v] of Object.entries(value)) {
      if (!(k in t.fields)) out.push(`${at ? at + "." : ""}${k}: unknown field`);
      else unknownFields(v, t.fields[k].type, `${at ? at + "." : ""}${k}`, out);
    }
  }
}

// The compiled validators of kubernetes-models (official OpenAPI schema of each kind).
const modelClasses = new Map();
async function modelClass(file) {
  if (!modelClasses.has(file)) {
    const mod = await import(pathToFileURL(file.replace(/\.d\.ts$/, ".mjs")).href);
    modelClasses.set(file, Object.values(mod).find((v) => typeof v === "function" && v.prototype?.validate));
  }
  return modelClasses.get(file);
}
async function validateWithModel(file, data, at = "") {
  const Cls = await modelClass(file);
  try {
    new Cls(data).validate();
    return [];
  } catch (e) {
    const errs = e.errors || [{ instancePath: "", message: e.message }];
    return errs.map((x) => {
      const p = `${at}${x.instancePath || ""}`.replace(/^\//, "").replaceAll("/", ".");
      const extra = x.params?.allowedValues ? ` (${x.params.allowedValues.join(", ")})` : "";
      return `${p || "(root)"}: ${x.message}${extra}`;
    });
  }
}
function modelFileOf(iface) {
  return types.get(iface)?.file;
}
const promModels = path.join(here, "node_modules/@kubernetes-models/prometheus-operator");
const extraKinds = new Map([
  ["monitoring.coreos.com/v1 ServiceMonitor", path.join(promModels, "monitoring.coreos.com/v1/ServiceMonitor.d.ts")],
]);

// ---------------------------------------------------------------------------------------------
// KEDA's CRDs (ours). What KEDA's are, from docs/../keda-behaviour.md §1: names, scope, printer columns.
const cond = (t) => `.status.conditions[?(@.type=="${t}")].status`;
const EXPECTED_CRDS = {
  ScaledObject: {
    plural: "scaledobjects", scope: "Namespaced", shortNames: ["so"],
    columns: [["ScaleTargetKind", ".status.scaleTargetKind"], ["ScaleTargetName", ".spec.scaleTargetRef.name"],
      ["Min", ".spec.minReplicaCount"], ["Max", ".spec.maxReplicaCount"], ["Ready", cond("Ready")],
      ["Active", cond("Active")], ["Fallback", cond("Fallback")], ["Paused", cond("Paused")],
      ["Triggers", ".status.triggersTypes"], ["Authentications", ".status.authenticationsTypes"],
      ["Age", ".metadata.creationTimestamp"]],
  },
  ScaledJob: {
    plural: "scaledjobs", scope: "Namespaced", shortNames: ["sj"],
    columns: [["Min", ".spec.minReplicaCount"], ["Max", ".spec.maxReplicaCount"], ["Ready", cond("Ready")],
      ["Active", cond("Active")], ["Paused", cond("Paused")], ["Triggers", ".status.triggersTypes"],
      ["Authentications", ".status.authenticationsTypes"], ["Age", ".metadata.creationTimestamp"]],
  },
  TriggerAuthentication: {
    plural: "triggerauthentications", scope: "Namespaced", shortNames: ["ta", "triggerauth"],
    columns: [["PodIdentity", ".spec.podIdentity.provider"], ["Secret", ".spec.secretTargetRef[*].name"],
      ["Env", ".spec.env[*].name"], ["VaultAddress", ".spec.hashiCorpVault.address"],
      ["ScaledObjects", ".status.scaledobjects", 1], ["ScaledJobs", ".status.scaledjobs", 1]],
  },
  ClusterTriggerAuthentication: {
    plural: "clustertriggerauthentications", scope: "Cluster", shortNames: ["cta", "clustertriggerauth"],
    columns: [["PodIdentity", ".spec.podIdentity.provider"], ["Secret", ".spec.secretTargetRef[*].name"],
      ["Env", ".spec.env[*].name"], ["FilePath", ".spec.filePath"], ["VaultAddress", ".spec.hashiCorpVault.address"],
      ["ScaledObjects", ".status.scaledobjects", 1], ["ScaledJobs", ".status.scaledjobs", 1]],
  },
};

// CEL rules (x-kubernetes-validations) the test can evaluate. A CRD with another rule fails the lint
// until its JavaScript equivalent is added here.
const CEL = {
  "!has(self.minReplicaCount) || self.minReplicaCount <= (has(self.maxReplicaCount) ? self.maxReplicaCount : 100)":
    (self) => !("minReplicaCount" in self) || self.minReplicaCount <= ("maxReplicaCount" in self ? self.maxReplicaCount : 100),
};

const SCHEMA_KEYS = new Set(Object.keys(types.get("IIoK8sApiextensionsApiserverPkgApisApiextensionsV1JSONSchemaProps").fields));
const TYPES = new Set(["object", "array", "string", "integer", "number", "boolean"]);
const FORMATS = { integer: ["int32", "int64"], number: ["float", "double"], string: ["date-time", "date", "byte", "int-or-string", "uri", "email", "hostname", "ipv4", "ipv6", "uuid", "duration", "password", ""] };
const jsType = (v) => (Array.isArray(v) ? "array" : v === null ? "null" : Number.isInteger(v) ? "integer" : typeof v === "number" ? "number" : typeof v);
const typeAccepts = (type, v) => type === jsType(v) || (type === "number" && jsType(v) === "integer") || (type === "object" && isObj(v));

// Kubernetes' structural-schema rules and the rest of what the API server checks in a CRD.
function lintSchema(s, at, out, ctx) {
  if (!isObj(s)) return out.push(`${at}: not a schema object`);
  for (const k of Object.keys(s)) if (!SCHEMA_KEYS.has(k)) out.push(`${at}: unknown schema keyword "${k}"`);
  const intOrString = s["x-kubernetes-int-or-string"] === true;
  const preserve = s["x-kubernetes-preserve-unknown-fields"] === true;
  if (s.type === undefined && !intOrString && !preserve) out.push(`${at}: no type (structural schemas need one)`);
  if (s.type !== undefined && !TYPES.has(s.type)) out.push(`${at}: unknown type "${s.type}"`);
  if (intOrString) {
    const ok = Array.isArray(s.anyOf) && s.anyOf.length === 2 && s.anyOf[0].type === "integer" && s.anyOf[1].type === "string";
    if (!ok || s.type) out.push(`${at}: x-kubernetes-int-or-string needs anyOf [integer, string] and no type`);
  }
  for (const j of ["anyOf", "allOf", "oneOf"]) {
    for (const [i, m] of (s[j] || []).entries()) {
      const allowed = intOrString && j === "anyOf" ? ["type"] : [];
      for (const k of ["type", "description", "default", "additionalProperties", "nullable"]) {
        if (k in m && !allowed.includes(k)) out.push(`${at}.${j}[${i}]: "${k}" is not allowed inside ${j}`);
      }
    }
  }
  if (s.properties && s.type !== "object") out.push(`${at}: properties on a non-object`);
  if (s.properties && s.additionalProperties !== undefined) out.push(`${at}: properties and additionalProperties together`);
  if (s.items !== undefined && s.type !== "array") out.push(`${at}: items on a non-array`);
  if (s.type === "array" && s.items === undefined) out.push(`${at}: array without items`);
  if (s.required) {
    if (!s.properties) out.push(`${at}: required without properties`);
    else for (const r of s.required) if (!(r in s.properties)) out.push(`${at}: required "${r}" is not a property`);
  }
  if (s.format !== undefined && s.type && !(FORMATS[s.type] || []).includes(s.format)) out.push(`${at}: format "${s.format}" does not fit type ${s.type}`);
  if (s.enum) for (const v of s.enum) if (s.type && !typeAccepts(s.type, v)) out.push(`${at}: enum value ${JSON.stringify(v)} is not a ${s.type}`);
  if (s.default !== undefined) {
    if (s.type && !typeAccepts(s.type, s.default)) out.push(`${at}: default is not a ${s.type}`);
    if (s.enum && !s.enum.includes(s.default)) out.push(`${at}: default is not one of the enum values`);
  }
  if (s.minimum !== undefined && s.maximum !== undefined && s.minimum > s.maximum) out.push(`${at}: minimum > maximum`);
  const lt = s["x-kubernetes-list-type"];
  if (lt !== undefined) {
    if (!["atomic", "set", "map"].includes(lt)) out.push(`${at}: x-kubernetes-list-type "${lt}"`);
    if (lt === "set" && s.items && !["string", "integer", "number", "boolean"].includes(s.items.type)) out.push(`${at}: a set needs scalar items`);
  }
  for (const v of s["x-kubernetes-validations"] || []) {
    if (!CEL[v.rule]) out.push(`${at}: CEL rule without an evaluator in check.mjs: ${v.rule}`);
    if (ctx.inArray) out.push(`${at}: CEL rules under arrays are not evaluated by check.mjs`);
    ctx.rules.push({ path: ctx.path, rule: v.rule, message: v.message });
  }
  for (const [k, v] of Object.entries(s.properties || {})) {
    lintSchema(v, `${at}.${k}`, out, { ...ctx, path: [...ctx.path, k] });
  }
  if (isObj(s.items)) lintSchema(s.items, `${at}[]`, out, { ...ctx, inArray: true });
  if (isObj(s.additionalProperties)) lintSchema(s.additionalProperties, `${at}{}`, out, { ...ctx, inArray: true });
}

function schemaAt(schema, jsonPath) {
  // ".a.b[*].c" and ".status.conditions[?(@.type=="Ready")].status"
  const segs = jsonPath.replace(/\[\?\(.*?\)\]|\[\*\]/g, ".[]").split(".").filter(Boolean);
  let node = schema;
  for (const seg of segs) {
    if (node["x-kubernetes-preserve-unknown-fields"] && !node.properties) return node;
    if (seg === "[]") {
      if (node.type !== "array") return null;
      node = node.items;
    } else if (node.properties && seg in node.properties) {
      node = node.properties[seg];
    } else if (node === schema.properties?.metadata && ["creationTimestamp", "name", "namespace"].includes(seg)) {
      return { type: seg === "creationTimestamp" ? "string" : "string" };
    } else {
      return null;
    }
  }
  return node;
}

function lintCrd(doc) {
  const out = [];
  const spec = doc.spec || {};
  const names = spec.names || {};
  if (doc.metadata?.name !== `${names.plural}.${spec.group}`) out.push(`metadata.name must be <plural>.<group>`);
  if (names.listKind !== `${names.kind}List`) out.push(`names.listKind must be ${names.kind}List`);
  for (const n of [names.plural, names.singular, ...(names.shortNames || [])]) if (n !== n?.toLowerCase()) out.push(`names: "${n}" must be lowercase`);
  const versions = spec.versions || [];
  if (versions.filter((v) => v.storage).length !== 1) out.push("exactly one version must be the storage version");
  const rules = [];
  for (const v of versions) {
    const schema = v.schema?.openAPIV3Schema;
    if (!schema) { out.push(`version ${v.name}: no openAPIV3Schema`); continue; }
    if (schema.type !== "object") out.push(`version ${v.name}: the root schema must be an object`);
    const meta = schema.properties?.metadata;
    if (meta && Object.keys(meta).some((k) => k !== "type")) out.push(`version ${v.name}: metadata may only say type: object`);
    lintSchema(schema, `${v.name}`, out, { path: [], rules, inArray: false });
    if (v.subresources?.status && !schema.properties?.status) out.push(`version ${v.name}: status subresource without a status schema`);
    for (const c of v.additionalPrinterColumns || []) {
      if (!["integer", "number", "string", "boolean", "date"].includes(c.type)) out.push(`column ${c.name}: type ${c.type}`);
      const node = schemaAt(schema, c.jsonPath);
      if (!node) out.push(`column ${c.name}: ${c.jsonPath} is not in the schema`);
      else if (c.type === "integer" && node.type !== "integer") out.push(`column ${c.name}: ${c.jsonPath} is not an integer`);
    }
  }
  const want = EXPECTED_CRDS[names.kind];
  if (spec.group === "keda.sh") {
    if (!want) out.push(`unexpected keda.sh kind ${names.kind}`);
    else {
      const v = versions[0] || {};
      if (versions.length !== 1 || v.name !== "v1alpha1" || !v.served || !v.storage) out.push("keda.sh needs exactly v1alpha1, served and storage");
      if (!v.subresources?.status) out.push("keda.sh kinds have the status subresource");
      if (names.plural !== want.plural) out.push(`plural must be ${want.plural}`);
      if (spec.scope !== want.scope) out.push(`scope must be ${want.scope}`);
      if (JSON.stringify(names.shortNames) !== JSON.stringify(want.shortNames)) out.push(`shortNames must be ${want.shortNames}`);
      if (!(names.categories || []).includes("keda")) out.push("categories must include keda");
      const cols = (v.additionalPrinterColumns || []).map((c) => [c.name, c.jsonPath, ...(c.priority ? [c.priority] : [])]);
      if (JSON.stringify(cols) !== JSON.stringify(want.columns)) out.push(`printer columns differ from KEDA's: ${JSON.stringify(cols)}`);
    }
  }
  return { errors: out, rules };
}

// Ajv: the schema as the API server applies it with strict field validation (unknown fields are
// errors unless x-kubernetes-preserve-unknown-fields).
function toAjv(s) {
  if (Array.isArray(s)) return s.map(toAjv);
  if (!isObj(s)) return s;
  const out = {};
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith("x-kubernetes-")) continue;
    if (k === "properties") out.properties = Object.fromEntries(Object.entries(v).map(([pk, pv]) => [pk, toAjv(pv)]));
    else if (["items", "additionalProperties", "not"].includes(k)) out[k] = isObj(v) ? toAjv(v) : v;
    else if (["anyOf", "allOf", "oneOf"].includes(k)) out[k] = v.map(toAjv);
    else out[k] = v;
  }
  if (s.type === "object" && s.properties && s.additionalProperties === undefined && !s["x-kubernetes-preserve-unknown-fields"]) {
    out.additionalProperties = false;
  }
  return out;
}
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
ajv.addFormat("int32", { type: "number", validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
ajv.addFormat("int64", { type: "number", validate: (n) => Number.isInteger(n) });

const crdFiles = fs.readdirSync(path.join(repo, "deploy/crds")).filter((f) => f.endsWith(".yaml")).sort();
const kedaKinds = new Map(); // kind -> {validate, rules, scope, schema}
for (const f of crdFiles) {
  const doc = YAML.parseAllDocuments(fs.readFileSync(path.join(repo, "deploy/crds", f), "utf8"))
    .map((d) => d.toJS()).find((d) => d?.kind === "CustomResourceDefinition");
  const { rules } = lintCrd(doc);
  const schema = doc.spec.versions[0].schema.openAPIV3Schema;
  kedaKinds.set(doc.spec.names.kind, {
    validate: ajv.compile(toAjv(schema)), rules, scope: doc.spec.scope, schema,
    versions: doc.spec.versions.filter((v) => v.served).map((v) => `${doc.spec.group}/${v.name}`),
  });
}

// ---------------------------------------------------------------------------------------------
// One document.
async function validateDoc(doc) {
  const errs = [];
  if (!isObj(doc)) return ["not a mapping"];
  const { apiVersion, kind } = doc;
  if (typeof apiVersion !== "string" || typeof kind !== "string") return ["apiVersion and kind are required strings"];
  const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
  const metaFile = modelFileOf("IIoK8sApimachineryPkgApisMetaV1ObjectMeta");
  const checkMeta = async (namespaced) => {
    if (!isObj(doc.metadata)) return errs.push("metadata: required");
    if (!doc.metadata.name && !doc.metadata.generateName) errs.push("metadata.name: required");
    if (!namespaced && doc.metadata.namespace) errs.push(`metadata.namespace: ${kind} is cluster-scoped`);
    errs.push(...(await validateWithModel(metaFile, doc.metadata, "metadata/")));
    unknownFields(doc.metadata, { ref: "IIoK8sApimachineryPkgApisMetaV1ObjectMeta" }, "metadata", errs);
  };

  if (group === "keda.sh") {
    const k = kedaKinds.get(kind);
    if (!k) return [`${apiVersion} ${kind}: not a kind of Updraft's CRDs`];
    if (!k.versions.includes(apiVersion)) return [`${apiVersion}: version not served by the ${kind} CRD`];
    if (!k.validate(doc)) {
      for (const e of k.validate.errors) {
        const p = e.instancePath.replace(/^\//, "").replaceAll("/", ".") || "(root)";
        if (e.keyword === "additionalProperties") errs.push(`${p}.${e.params.additionalProperty}: unknown field`);
        else if (e.keyword === "enum") errs.push(`${p}: must be one of ${e.params.allowedValues.join(", ")}`);
        else errs.push(`${p}: ${e.message}`);
      }
    }
    for (const r of k.rules) {
      const self = r.path.reduce((o, key) => (isObj(o) ? o[key] : undefined), doc);
      if (isObj(self) && !CEL[r.rule](self)) errs.push(`${r.path.join(".")}: ${r.message}`);
    }
    await checkMeta(k.scope === "Namespaced");
    // Deeper than the CRD stores: the Job template and the HPA behavior, against the official schemas.
    if (kind === "ScaledJob" && isObj(doc.spec?.jobTargetRef)) {
      errs.push(...(await validateWithModel(modelFileOf("IIoK8sApiBatchV1JobSpec"), doc.spec.jobTargetRef, "spec/jobTargetRef/")));
      unknownFields(doc.spec.jobTargetRef, { ref: "IIoK8sApiBatchV1JobSpec" }, "spec.jobTargetRef", errs);
    }
    const behavior = doc.spec?.advanced?.horizontalPodAutoscalerConfig?.behavior;
    if (kind === "ScaledObject" && isObj(behavior)) {
      errs.push(...(await validateWithModel(modelFileOf("IIoK8sApiAutoscalingV2HorizontalPodAutoscalerBehavior"), behavior,
        "spec/advanced/horizontalPodAutoscalerConfig/behavior/")));
    }
    return [...new Set(errs)];
  }
  if (group === "updraft.dev" && kind === "ProcessPool") return null; // `updraft run` only: no CRD
  const k8s = kinds.get(`${apiVersion} ${kind}`);
  const file = k8s?.file || extraKinds.get(`${apiVersion} ${kind}`);
  if (!file) return [`${apiVersion} ${kind}: unknown kind`];
  errs.push(...(await validateWithModel(file, doc)));
  if (k8s) unknownFields(doc, { ref: k8s.iface }, "", errs);
  if (!kind.endsWith("List")) {
    if (!doc.metadata?.name) errs.push("metadata.name: required");
  }
  if (kind === "CustomResourceDefinition") errs.push(...lintCrd(doc).errors);
  return [...new Set(errs)];
}

function loadYamlFile(file) {
  const text = fs.readFileSync(file, "utf8");
  return YAML.parseAllDocuments(text).map((d, i) => {
    if (d.errors.length) return { file, index: i, parseError: d.errors.map((e) => e.message).join("; ") };
    return { file, index: i, doc: d.toJS() };
  }).filter((d) => d.parseError || d.doc !== null);
}
const label = (d) => `${d.source || rel(d.file)}#${d.index} ${d.doc?.kind || "?"} ${d.doc?.metadata?.namespace ? d.doc.metadata.namespace + "/" : ""}${d.doc?.metadata?.name || ""}`;

async function checkDocs(docs) {
  for (const d of docs) {
    if (d.parseError) { report(label(d), [d.parseError]); continue; }
    const errs = await validateDoc(d.doc);
    if (errs === null) { if (verbose) console.log(`skip  ${label(d)} (not a Kubernetes object)`); continue; }
    report(label(d), errs);
  }
}

// ---------------------------------------------------------------------------------------------
// One install: the objects refer to each other correctly.
const BUILTIN_ROLES = new Set(["ClusterRole/system:auth-delegator", "Role/extension-apiserver-authentication-reader"]);
const BUILTIN_ACCOUNTS = new Set(["kube-system/horizontal-pod-autoscaler"]);
function crossCheck(docs, namespace) {
  const errs = [];
  const objs = docs.map((d) => d.doc).filter(isObj);
  const find = (kind, name, ns) => objs.find((o) => o.kind === kind && o.metadata?.name === name && (ns === undefined || o.metadata?.namespace === ns));
  const deployments = objs.filter((o) => o.kind === "Deployment");
  for (const o of objs) {
    const ns = o.metadata?.namespace;
    const clusterScoped = ["Namespace", "ClusterRole", "ClusterRoleBinding", "APIService", "ValidatingWebhookConfiguration", "CustomResourceDefinition"].includes(o.kind);
    if (!clusterScoped && ns !== namespace && !(o.kind === "RoleBinding" && ns === "kube-system")) errs.push(`${o.kind} ${o.metadata?.name}: namespace ${ns}, expected ${namespace}`);
  }
  for (const dep of deployments) {
    const pod = dep.spec.template.spec;
    const labels = dep.spec.template.metadata?.labels || {};
    for (const [k, v] of Object.entries(dep.spec.selector.matchLabels || {})) if (labels[k] !== v) errs.push(`Deployment ${dep.metadata.name}: selector ${k}=${v} does not match the pod labels`);
    if (pod.serviceAccountName && !find("ServiceAccount", pod.serviceAccountName, dep.metadata.namespace)) errs.push(`Deployment ${dep.metadata.name}: ServiceAccount ${pod.serviceAccountName} is not installed`);
    const volumes = new Set((pod.volumes || []).map((v) => v.name));
    for (const c of pod.containers) {
      const ports = new Set((c.ports || []).map((p) => p.name));
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
        const port = probe?.httpGet?.port;
        if (typeof port === "string" && !ports.has(port)) errs.push(`container ${c.name}: probe port ${port} is not a container port`);
      }
      for (const m of c.volumeMounts || []) if (!volumes.has(m.name)) errs.push(`container ${c.name}: volume ${m.name} is not defined`);
      if (c.securityContext?.readOnlyRootFilesystem !== true) errs.push(`container ${c.name}: readOnlyRootFilesystem must be true`);
    }
    const psc = pod.securityContext || {};
    if (psc.runAsNonRoot !== true) errs.push(`Deployment ${dep.metadata.name}: runAsNonRoot must be true`);
  }
  const podsOf = (selector) => deployments.filter((d) => Object.entries(selector || {}).every(([k, v]) => d.spec.template.metadata?.labels?.[k] === v));
  for (const svc of objs.filter((o) => o.kind === "Service")) {
    const targets = podsOf(svc.spec.selector);
    if (!svc.spec.selector || targets.length === 0) { errs.push(`Service ${svc.metadata.name}: selects no Deployment's pods`); continue; }
    for (const p of svc.spec.ports) {
      const ok = targets.some((d) => d.spec.template.spec.containers.some((c) => (c.ports || []).some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort)));
      if (!ok) errs.push(`Service ${svc.metadata.name}: targetPort ${p.targetPort} is no container port`);
    }
  }
  const servicePort = (ref, what) => {
    const svc = find("Service", ref.name, ref.namespace);
    if (!svc) return errs.push(`${what}: Service ${ref.namespace}/${ref.name} is not installed`);
    if (!svc.spec.ports.some((p) => p.port === (ref.port ?? 443))) errs.push(`${what}: Service ${ref.name} has no port ${ref.port ?? 443}`);
  };
  for (const a of objs.filter((o) => o.kind === "APIService")) {
    servicePort(a.spec.service, `APIService ${a.metadata.name}`);
    if (a.spec.insecureSkipTLSVerify !== false) errs.push(`APIService ${a.metadata.name}: insecureSkipTLSVerify must be false`);
  }
  for (const w of objs.filter((o) => o.kind === "ValidatingWebhookConfiguration")) {
    const names = new Set();
    for (const hook of w.webhooks) {
      if (names.has(hook.name)) errs.push(`webhook ${hook.name}: duplicate name`);
      names.add(hook.name);
      servicePort(hook.clientConfig.service, `webhook ${hook.name}`);
    }
  }
  for (const b of objs.filter((o) => o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding")) {
    const ref = b.roleRef;
    const target = ref.kind === "ClusterRole" ? find("ClusterRole", ref.name) : find("Role", ref.name, b.metadata.namespace);
    if (!target && !BUILTIN_ROLES.has(`${ref.kind}/${ref.name}`)) errs.push(`${b.kind} ${b.metadata.name}: ${ref.kind} ${ref.name} is not installed`);
    for (const s of b.subjects || []) {
      if (s.kind === "ServiceAccount" && !find("ServiceAccount", s.name, s.namespace) && !BUILTIN_ACCOUNTS.has(`${s.namespace}/${s.name}`)) errs.push(`${b.kind} ${b.metadata.name}: ServiceAccount ${s.namespace}/${s.name} is not installed`);
    }
  }
  for (const r of objs.filter((o) => o.kind === "ClusterRole")) {
    for (const rule of r.rules || []) {
      for (const [res, kind] of [["apiservices", "APIService"], ["validatingwebhookconfigurations", "ValidatingWebhookConfiguration"]]) {
        if (!rule.resources?.includes(res)) continue;
        for (const n of rule.resourceNames || []) if (!find(kind, n)) errs.push(`ClusterRole ${r.metadata.name}: resourceName ${n} names no installed ${kind}`);
        if (!rule.resourceNames?.length) errs.push(`ClusterRole ${r.metadata.name}: ${res} must be limited by resourceNames`);
      }
    }
  }
  return errs;
}

// Deep difference of two objects, ignoring labels/annotations and the selector labels (the chart adds
// app.kubernetes.io/instance, helm.sh/chart ...).
function strip(o) {
  const c = structuredClone(o);
  delete c.metadata?.labels;
  delete c.metadata?.annotations;
  if (c.kind === "Deployment") {
    delete c.spec.selector;
    delete c.spec.template.metadata;
  }
  if (c.kind === "Service") delete c.spec.selector;
  return c;
}
function diff(a, b, at = "") {
  if (jsType(a) !== jsType(b)) return `${at || "(root)"}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
  if (Array.isArray(a)) {
    if (a.length !== b.length) return `${at}: ${a.length} vs ${b.length} items`;
    for (let i = 0; i < a.length; i++) { const d = diff(a[i], b[i], `${at}[${i}]`); if (d) return d; }
    return null;
  }
  if (isObj(a)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) { const d = diff(a[k], b[k], `${at}.${k}`); if (d) return d; }
    return null;
  }
  return a === b ? null : `${at}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

// Every field of a CRD's schema appears in at least one fixture of that kind.
function schemaPaths(s, at, out) {
  if (s["x-kubernetes-preserve-unknown-fields"] && !s.properties) return out.add(at);
  if (s.properties) for (const [k, v] of Object.entries(s.properties)) { out.add(`${at}.${k}`); schemaPaths(v, `${at}.${k}`, out); }
  if (isObj(s.items)) schemaPaths(s.items, `${at}[]`, out);
  if (isObj(s.additionalProperties)) schemaPaths(s.additionalProperties, `${at}{}`, out);
  return out;
}
function dataPaths(v, s, at, out) {
  if (!isObj(s) || v === undefined) return out;
  out.add(at);
  if (s["x-kubernetes-preserve-unknown-fields"] && !s.properties) return out;
  if (isObj(v) && s.properties) for (const [k, sv] of Object.entries(s.properties)) if (k in v) dataPaths(v[k], sv, `${at}.${k}`, out);
  if (Array.isArray(v) && isObj(s.items)) for (const item of v) dataPaths(item, s.items, `${at}[]`, out);
  if (isObj(v) && isObj(s.additionalProperties)) for (const item of Object.values(v)) dataPaths(item, s.additionalProperties, `${at}{}`, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
function helmTemplate(args) {
  return execFileSync(helmBin, ["template", "updraft", path.join(repo, "deploy/helm/updraft"), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
function helmDocs(args, source) {
  return YAML.parseAllDocuments(helmTemplate(args)).map((d, i) => ({ source, index: i, doc: d.toJS() })).filter((d) => d.doc);
}
const glob = (dir, pred) => { const out = []; if (fs.existsSync(dir)) walkDir(dir, (p) => pred(p) && out.push(p)); return out.sort(); };
const yamlIn = (dir) => glob(path.join(repo, dir), (p) => p.endsWith(".yaml") && !p.includes("node_modules"));

async function main() {
  const t0 = Date.now();
  // 1. The CRDs, deploy/operator, the chart's CRD copies.
  const crdDocs = yamlIn("deploy/crds").flatMap(loadYamlFile);
  await checkDocs(crdDocs);
  const opDocs = yamlIn("deploy/operator").flatMap(loadYamlFile);
  await checkDocs(opDocs);
  report("deploy/operator: the objects refer to each other", crossCheck(opDocs, "updraft"));
  const chartCrds = yamlIn("deploy/helm/updraft/crds");
  report("deploy/helm/updraft/crds is a copy of deploy/crds (deploy/sync-crds.sh)", (() => {
    const a = crdFiles.join(",");
    const b = chartCrds.map((p) => path.basename(p)).join(",");
    if (a !== b) return [`files: ${a} vs ${b}`];
    return crdFiles.filter((f) => fs.readFileSync(path.join(repo, "deploy/crds", f), "utf8") !== fs.readFileSync(path.join(repo, "deploy/helm/updraft/crds", f), "utf8")).map((f) => `${f} differs`);
  })());

  // 2. The Helm chart, rendered by helm itself.
  if (!helmBin || !fs.existsSync(helmBin)) {
    report("helm is available (check.sh installs it)", [`no helm binary at ${helmBin}`]);
  } else {
    let lint = [];
    try { execFileSync(helmBin, ["lint", "--strict", path.join(repo, "deploy/helm/updraft")], { stdio: "pipe" }); } catch (e) { lint = [String(e.stdout || e.message)]; }
    report("helm lint --strict deploy/helm/updraft", lint);
    const variants = [
      ["defaults", ["-n", "updraft"]],
      ["all options", ["-n", "autoscaling", "-f", path.join(here, "fixtures/helm-values-full.yaml")]],
      ["roles off", ["-n", "updraft", "--set", "metricsServer.enabled=false,webhooks.enabled=false,prometheus.operator.enabled=false"]],
    ];
    const rendered = {};
    for (const [name, args] of variants) {
      let docs;
      try { docs = helmDocs(args, `helm template (${name})`); } catch (e) { report(`helm template (${name})`, [String(e.stderr || e.message)]); continue; }
      rendered[name] = docs;
      await checkDocs(docs);
      report(`helm template (${name}): the objects refer to each other`, crossCheck(docs, args[1]));
    }
    if (rendered.defaults) {
      const errs = [];
      const key = (o) => `${o.kind}/${o.metadata.namespace || ""}/${o.metadata.name}`;
      const op = new Map(opDocs.map((d) => d.doc).filter((o) => o.kind !== "Namespace").map((o) => [key(o), o]));
      const ch = new Map(rendered.defaults.map((d) => [key(d.doc), d.doc]));
      for (const k of op.keys()) if (!ch.has(k)) errs.push(`${k}: in deploy/operator, not in the chart`);
      for (const k of ch.keys()) if (!op.has(k)) errs.push(`${k}: in the chart, not in deploy/operator`);
      for (const [k, o] of op) if (ch.has(k)) { const d = diff(strip(o), strip(ch.get(k))); if (d) errs.push(`${k}: ${d}`); }
      report("helm template (defaults) installs what deploy/operator installs", errs);
    }
    if (rendered["roles off"]) {
      const left = rendered["roles off"].map((d) => d.doc.kind).filter((k) => ["APIService", "ValidatingWebhookConfiguration", "Service"].includes(k));
      const args = rendered["roles off"].find((d) => d.doc.kind === "Deployment")?.doc.spec.template.spec.containers[0].args || [];
      const errs = left.map((k) => `${k} rendered although its role is off`);
      if (args[args.indexOf("--metrics-port") + 1] !== "0" || args[args.indexOf("--webhook-port") + 1] !== "0") errs.push(`ports of disabled roles must be 0: ${args.join(" ")}`);
      report("helm template (roles off) leaves the roles out", errs);
    }
    if (rendered["all options"]) {
      const kindsRendered = rendered["all options"].map((d) => d.doc.kind);
      report("helm template (all options) renders the ServiceMonitor", kindsRendered.includes("ServiceMonitor") ? [] : ["no ServiceMonitor"]);
    }
  }

  // 3. KEDA objects in examples/ and the fixtures; every CRD field used by a fixture.
  const exampleDocs = yamlIn("examples").flatMap(loadYamlFile);
  await checkDocs(exampleDocs);
  report("examples/ hold KEDA objects", exampleDocs.some((d) => d.doc?.apiVersion === "keda.sh/v1alpha1") ? [] : ["no keda.sh object found"]);
  const fixtureDocs = glob(path.join(here, "fixtures"), (p) => p.endsWith(".yaml") && !p.includes("helm-values")).flatMap(loadYamlFile);
  await checkDocs(fixtureDocs);
  for (const [kind, k] of kedaKinds) {
    const all = schemaPaths(k.schema, "", new Set());
    const used = new Set();
    for (const d of fixtureDocs) if (d.doc?.kind === kind) dataPaths(d.doc, k.schema, "", used);
    const missing = [...all].filter((p) => !used.has(p) && !p.startsWith(".metadata"));
    report(`fixtures use every field of the ${kind} CRD`, missing.map((p) => `${p.slice(1)}: in the schema, in no fixture`));
  }

  // 4. The Dockerfile.
  const dockerfile = path.join(repo, "Dockerfile");
  if (fs.existsSync(dockerfile)) {
    const text = fs.readFileSync(dockerfile, "utf8");
    const diags = lintDockerfile(text, {});
    const errs = diags.map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    if (!/^USER 65532/m.test(text)) errs.push("the runtime stage must run as USER 65532");
    if (!/^ENTRYPOINT \["\/usr\/local\/bin\/updraft"\]/m.test(text)) errs.push('ENTRYPOINT ["/usr/local/bin/updraft"] missing');
    report("Dockerfile (dockerfile-utils lint)", errs);
  }

  // 5. Negative self-tests: each broken object must be rejected with the expected error.
  await selfTests(opDocs, fixtureDocs);
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(`manifests: checked in ${secs} s`);
  console.log(`manifests: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

async function selfTests(opDocs, fixtureDocs) {
  const get = (docs, kind) => structuredClone(docs.find((d) => d.doc?.kind === kind).doc);
  const dep = () => get(opDocs, "Deployment");
  const so = () => get(fixtureDocs, "ScaledObject");
  const sj = () => get(fixtureDocs, "ScaledJob");
  const ta = () => get(fixtureDocs, "TriggerAuthentication");
  const crd = () => structuredClone(YAML.parse(fs.readFileSync(path.join(repo, "deploy/crds/keda.sh_scaledobjects.yaml"), "utf8")));
  const cases = [
    ["Deployment with spec.replicas as a string", () => { const d = dep(); d.spec.replicas = "3"; return d; }, "spec.replicas: must be integer"],
    ["Deployment without spec.selector", () => { const d = dep(); delete d.spec.selector; return d; }, "must have required property selector"],
    ["Deployment with a misspelt container field", () => { const d = dep(); d.spec.template.spec.containers[0].imagePulPolicy = "Always"; return d; }, "imagePulPolicy: unknown field"],
    ["Service with a port number as text", () => { const s = get(opDocs, "Service"); s.spec.ports[0].port = "443"; return s; }, "must be integer"],
    ["APIService with insecureSkipTLSVerify: \"no\"", () => { const a = get(opDocs, "APIService"); a.spec.insecureSkipTLSVerify = "no"; return a; }, "must be boolean"],
    ["webhook without sideEffects", () => { const w = get(opDocs, "ValidatingWebhookConfiguration"); delete w.webhooks[0].sideEffects; return w; }, "sideEffects"],
    ["ClusterRole rule without verbs", () => { const r = get(opDocs, "ClusterRole"); delete r.rules[0].verbs; return r; }, "verbs"],
    ["ScaledObject with an unknown spec field", () => { const o = so(); o.spec.pollingIntervall = 30; return o; }, "spec.pollingIntervall: unknown field"],
    ["ScaledObject without triggers", () => { const o = so(); delete o.spec.triggers; return o; }, "must have required property 'triggers'"],
    ["ScaledObject trigger metadata as a number", () => { const o = so(); o.spec.triggers[0].metadata.threshold = 5; return o; }, "must be string"],
    ["ScaledObject with minReplicaCount > maxReplicaCount", () => { const o = so(); o.spec.minReplicaCount = 20; o.spec.maxReplicaCount = 10; return o; }, "minReplicaCount must be less than or equal to maxReplicaCount"],
    ["ScaledObject with fallback.behavior outside the enum", () => { const o = so(); o.spec.fallback.behavior = "sometimes"; return o; }, "must be one of static"],
    ["ScaledObject with pollingInterval 0", () => { const o = so(); o.spec.pollingInterval = 0; return o; }, "must be >= 1"],
    ["ScaledObject with an HPA policy missing periodSeconds", () => { const o = so(); delete o.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.policies[0].periodSeconds; return o; }, "periodSeconds"],
    ["ScaledJob trigger with metricType (removed from ScaledJob triggers)", () => { const j = sj(); j.spec.triggers[0].metricType = "Value"; return j; }, "metricType: unknown field"],
    ["ScaledJob whose Job template has an image as a number", () => { const j = sj(); j.spec.jobTargetRef.template.spec.containers[0].image = 5; return j; }, "image: must be string"],
    ["ScaledJob whose Job template has a misspelt field", () => { const j = sj(); j.spec.jobTargetRef.template.spec.restartPolicyy = "Never"; return j; }, "restartPolicyy: unknown field"],
    ["TriggerAuthentication with the removed azure pod identity", () => { const t = ta(); t.spec.podIdentity.provider = "azure"; return t; }, "must be one of azure-workload"],
    ["ClusterTriggerAuthentication with a namespace", () => { const t = ta(); t.kind = "ClusterTriggerAuthentication"; t.metadata.namespace = "x"; return t; }, "cluster-scoped"],
    ["CRD schema node without a type", () => { const c = crd(); delete c.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.pollingInterval.type; return c; }, "no type"],
    ["CRD with a misspelt schema keyword", () => { const c = crd(); c.spec.versions[0].schema.openAPIV3Schema.properties.spec.requred = ["x"]; return c; }, "requred"],
    ["CRD printer column on a missing field", () => { const c = crd(); c.spec.versions[0].additionalPrinterColumns[0].jsonPath = ".status.nope"; return c; }, "is not in the schema"],
  ];
  for (const [name, make, expect] of cases) {
    const errs = await validateDoc(make());
    const hit = (errs || []).some((e) => e.includes(expect));
    report(`self-test: rejects ${name}`, hit ? [] : [`expected an error containing "${expect}", got: ${JSON.stringify(errs)}`]);
  }
  const dockerDiags = lintDockerfile("FROM debian:12-slim\nCOPY updraft\nEXPOSE metrics\n", {});
  report("self-test: the Dockerfile lint rejects COPY without a destination and EXPOSE of a name",
    dockerDiags.length >= 2 ? [] : [`got ${JSON.stringify(dockerDiags.map((d) => d.message))}`]);
  // Cross-check and chart self-tests.
  const broken = opDocs.map((d) => ({ ...d, doc: structuredClone(d.doc) }));
  broken.find((d) => d.doc.kind === "Service").doc.spec.ports[0].targetPort = "nope";
  const cx = crossCheck(broken, "updraft");
  report("self-test: cross-check rejects a Service targetPort that names no container port", cx.some((e) => e.includes("targetPort nope")) ? [] : [`got ${JSON.stringify(cx)}`]);
  if (helmBin && fs.existsSync(helmBin)) {
    let rejected = false;
    try { helmTemplate(["--set", "operator.replicaCount=2,operator.leaderElection.enabled=false"]); } catch { rejected = true; }
    report("self-test: the chart refuses replicaCount 2 without leader election", rejected ? [] : ["helm template succeeded"]);
  }
}

await main();
