/**
 * The parts of kube-apiserver's validation the fake API server enforces, so that tests fail where a real
 * server would answer 422 Invalid:
 * - object names (DNS-1123 subdomain, at most 253 characters; DNS-1123 label for namespaces), label keys
 *   (qualified names with an optional DNS-subdomain prefix) and label values (at most 63 characters);
 * - CustomResourceDefinitions of apiextensions.k8s.io/v1: every version has a structural openAPIV3Schema
 *   (the rules of apiextensions-apiserver's ValidateStructural: a type on every node unless it is
 *   x-kubernetes-int-or-string or x-kubernetes-preserve-unknown-fields, properties and additionalProperties
 *   mutually exclusive, items on arrays, nothing but value validations inside allOf/anyOf/oneOf/not,
 *   metadata at the root restricting only name and generateName, no additionalProperties at the root);
 * - custom objects against the schema of the version they are written at (types, required fields,
 *   properties/additionalProperties, int-or-string, pattern, enum).
 */

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Errors for a DNS-1123 subdomain (object names of most resources). */
export function subdomainErrors(value: string): string[] {
  const errors: string[] = [];
  if (value.length > 253) errors.push("must be no more than 253 characters");
  if (!DNS1123_SUBDOMAIN.test(value)) {
    errors.push(
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must " +
        "start and end with an alphanumeric character",
    );
  }
  return errors;
}

/** Errors for a DNS-1123 label (namespace names). */
export function labelNameErrors(value: string): string[] {
  const errors: string[] = [];
  if (value.length > 63) errors.push("must be no more than 63 characters");
  if (!DNS1123_LABEL.test(value)) errors.push("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'");
  return errors;
}

/** Errors for a label (or annotation) key: `[prefix/]name`, prefix a DNS subdomain, name a qualified name. */
export function labelKeyErrors(key: string): string[] {
  const parts = key.split("/");
  if (parts.length > 2) return ["a qualified name must have at most one '/'"];
  const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  const errors: string[] = [];
  if (prefix !== undefined) {
    if (prefix === "") errors.push("prefix part must be non-empty");
    else errors.push(...subdomainErrors(prefix).map((e) => `prefix part ${e}`));
  }
  if (name.length === 0) errors.push("name part must be non-empty");
  else if (name.length > 63) errors.push("name part must be no more than 63 characters");
  else if (!QUALIFIED_NAME.test(name)) {
    errors.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
  }
  return errors;
}

/** Errors for a label value: at most 63 characters, empty or alphanumeric at both ends. */
export function labelValueErrors(value: unknown): string[] {
  if (typeof value !== "string") return ["must be a string"];
  const errors: string[] = [];
  if (value.length > 63) errors.push("must be no more than 63 characters");
  if (!LABEL_VALUE.test(value)) {
    errors.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
  }
  return errors;
}

/** metadata.name, metadata.labels and metadata.annotations keys of an object about to be stored. */
export function metadataErrors(metadata: Json, nameRule: "subdomain" | "label"): string[] {
  const errors: string[] = [];
  const name = metadata.name;
  if (typeof name === "string") {
    for (const e of nameRule === "label" ? labelNameErrors(name) : subdomainErrors(name)) {
      errors.push(`metadata.name: Invalid value: "${name}": ${e}`);
    }
  }
  if (isObject(metadata.labels)) {
    for (const [key, value] of Object.entries(metadata.labels)) {
      for (const e of labelKeyErrors(key)) errors.push(`metadata.labels: Invalid value: "${key}": ${e}`);
      for (const e of labelValueErrors(value)) errors.push(`metadata.labels: Invalid value: "${String(value)}": ${e}`);
    }
  }
  if (isObject(metadata.annotations)) {
    for (const [key, value] of Object.entries(metadata.annotations)) {
      for (const e of labelKeyErrors(key.toLowerCase())) errors.push(`metadata.annotations: Invalid value: "${key}": ${e}`);
      if (typeof value !== "string") errors.push(`metadata.annotations[${key}]: must be a string`);
    }
  }
  return errors;
}

// ---- CRDs -------------------------------------------------------------------------------------

const VALUE_VALIDATION_ONLY = ["description", "type", "default", "additionalProperties", "nullable"] as const;

/** Why a v1 CRD would be refused (empty when it is acceptable). */
export function crdErrors(crd: Json): string[] {
  const errors: string[] = [];
  const metadata = isObject(crd.metadata) ? crd.metadata : {};
  const spec = isObject(crd.spec) ? crd.spec : {};
  const names = isObject(spec.names) ? spec.names : {};
  if (typeof spec.group !== "string" || !spec.group) errors.push("spec.group: Required value");
  if (typeof names.plural !== "string" || !names.plural) errors.push("spec.names.plural: Required value");
  if (typeof names.kind !== "string" || !names.kind) errors.push("spec.names.kind: Required value");
  if (metadata.name !== `${String(names.plural)}.${String(spec.group)}`) {
    errors.push(`metadata.name: Invalid value: "${String(metadata.name)}": must be spec.names.plural+"."+spec.group`);
  }
  if (spec.scope !== "Namespaced" && spec.scope !== "Cluster") errors.push(`spec.scope: Unsupported value: "${String(spec.scope)}"`);
  const versions = Array.isArray(spec.versions) ? spec.versions.filter(isObject) : [];
  if (versions.length === 0) errors.push("spec.versions: Invalid value: must have exactly one version marked as storage version");
  if (versions.filter((v) => v.storage === true).length !== 1) {
    errors.push("spec.versions: Invalid value: must have exactly one version marked as storage version");
  }
  versions.forEach((v, i) => {
    const path = `spec.versions[${i}].schema.openAPIV3Schema`;
    const schema = isObject(v.schema) ? v.schema.openAPIV3Schema : undefined;
    if (!isObject(schema)) {
      errors.push(`${path}: Required value: schemas are required`);
      return;
    }
    if (schema.type !== "object") errors.push(`${path}.type: Invalid value: "${String(schema.type)}": must be object at the root`);
    if (schema.additionalProperties !== undefined) errors.push(`${path}.additionalProperties: Forbidden: must not be used at the root`);
    structuralErrors(schema, path, errors, { root: true, inLogic: false });
  });
  return errors;
}

function structuralErrors(s: Json, path: string, errors: string[], at: { root: boolean; inLogic: boolean }): void {
  const intOrString = s["x-kubernetes-int-or-string"] === true;
  const preserve = s["x-kubernetes-preserve-unknown-fields"] === true;
  if (at.inLogic) {
    for (const key of VALUE_VALIDATION_ONLY) {
      const allowedIntOrStringType = key === "type" && (s.type === "integer" || s.type === "string");
      if (s[key] !== undefined && !allowedIntOrStringType) errors.push(`${path}.${key}: Forbidden: must be empty to be structural`);
    }
  } else if (!s.type && !intOrString && !preserve) {
    errors.push(`${path}.type: Required value: must not be empty for specified object fields`);
  }
  if (intOrString && s.type) errors.push(`${path}.type: Invalid value: "${String(s.type)}": must be empty for x-kubernetes-int-or-string`);
  if (s.properties !== undefined && s.additionalProperties !== undefined) {
    errors.push(`${path}.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive`);
  }
  if (s.additionalProperties === false) errors.push(`${path}.additionalProperties: Forbidden: must not be false`);
  if (s.type === "array" && s.items === undefined && !at.inLogic) errors.push(`${path}.items: Required value: must be specified`);
  if (s.type !== undefined && !["object", "array", "string", "integer", "number", "boolean"].includes(String(s.type))) {
    errors.push(`${path}.type: Unsupported value: "${String(s.type)}"`);
  }
  if (isObject(s.properties)) {
    for (const [name, child] of Object.entries(s.properties)) {
      const childPath = `${path}.properties[${name}]`;
      if (!isObject(child)) {
        errors.push(`${childPath}: Invalid value: must be a schema`);
        continue;
      }
      if (name === "metadata" && at.root && !at.inLogic) {
        metadataSchemaErrors(child, childPath, errors);
        continue;
      }
      structuralErrors(child, childPath, errors, { root: false, inLogic: at.inLogic });
    }
  }
  if (isObject(s.additionalProperties)) {
    structuralErrors(s.additionalProperties, `${path}.additionalProperties`, errors, { root: false, inLogic: at.inLogic });
  }
  if (isObject(s.items)) structuralErrors(s.items, `${path}.items`, errors, { root: false, inLogic: at.inLogic });
  else if (Array.isArray(s.items)) errors.push(`${path}.items: Forbidden: items must be a schema object and not an array`);
  for (const logic of ["allOf", "anyOf", "oneOf"] as const) {
    const list = s[logic];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      errors.push(`${path}.${logic}: Invalid value: must be a list`);
      continue;
    }
    const intOrStringAnyOf =
      intOrString && logic === "anyOf" && list.length === 2 && list.every(isObject) &&
      list.some((x) => x.type === "integer") && list.some((x) => x.type === "string");
    list.forEach((child, i) => {
      if (!isObject(child)) return;
      if (intOrStringAnyOf) return;
      if (child.type !== undefined) errors.push(`${path}.${logic}[${i}].type: Forbidden: must be empty to be structural`);
      structuralErrors(child, `${path}.${logic}[${i}]`, errors, { root: false, inLogic: true });
    });
  }
  if (isObject(s.not)) structuralErrors(s.not, `${path}.not`, errors, { root: false, inLogic: true });
}

function metadataSchemaErrors(s: Json, path: string, errors: string[]): void {
  const allowed = new Set(["type", "properties"]);
  if (s.type !== undefined && s.type !== "object") errors.push(`${path}.type: Invalid value: "${String(s.type)}": must be object`);
  for (const key of Object.keys(s)) {
    if (!allowed.has(key)) errors.push(`${path}.${key}: Forbidden: must not be specified`);
  }
  if (isObject(s.properties)) {
    for (const name of Object.keys(s.properties)) {
      if (name !== "name" && name !== "generateName") errors.push(`${path}.properties[${name}]: Forbidden: must not be specified`);
    }
  }
}

// ---- custom objects ---------------------------------------------------------------------------

/** Errors of a custom object against its version's openAPIV3Schema (metadata, apiVersion and kind excepted). */
export function schemaErrors(obj: Json, schema: Json): string[] {
  const errors: string[] = [];
  const { metadata: _m, apiVersion: _a, kind: _k, ...rest } = obj;
  const properties = isObject(schema.properties) ? schema.properties : {};
  const { metadata: _ms, apiVersion: _as, kind: _ks, ...restSchemaProps } = properties;
  const rootSchema: Json = { ...schema, properties: restSchemaProps };
  if (Array.isArray(schema.required)) {
    rootSchema.required = schema.required.filter((r) => r !== "metadata" && r !== "apiVersion" && r !== "kind");
  }
  valueErrors(rest, rootSchema, "", errors);
  return errors;
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function valueErrors(v: unknown, s: Json, path: string, errors: string[]): void {
  const at = path || "<root>";
  const actual = typeOf(v);
  if (s["x-kubernetes-int-or-string"] === true) {
    if (actual !== "integer" && actual !== "string") errors.push(`${at}: Invalid value: "${actual}": must be an integer or a string`);
  } else if (typeof s.type === "string") {
    const ok = s.type === actual || (s.type === "number" && actual === "integer") || (v === null && s.nullable === true);
    if (!ok) {
      errors.push(`${at}: Invalid value: "${actual}": ${at} in body must be of type ${s.type}: "${actual}"`);
      return;
    }
  }
  if (typeof v === "string" && typeof s.pattern === "string" && !new RegExp(s.pattern, "u").test(v)) {
    errors.push(`${at}: Invalid value: "${v}": ${at} in body should match '${s.pattern}'`);
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) {
    errors.push(`${at}: Unsupported value: ${JSON.stringify(v)}`);
  }
  if (isObject(v)) {
    for (const r of Array.isArray(s.required) ? s.required : []) {
      if (!Object.hasOwn(v, String(r))) errors.push(`${path ? `${path}.` : ""}${String(r)}: Required value`);
    }
    const props = isObject(s.properties) ? s.properties : undefined;
    for (const [key, child] of Object.entries(v)) {
      const childPath = path ? `${path}.${key}` : key;
      const childSchema = props?.[key] ?? (isObject(s.additionalProperties) ? s.additionalProperties : undefined);
      if (isObject(childSchema)) valueErrors(child, childSchema, childPath, errors);
    }
  }
  if (Array.isArray(v) && isObject(s.items)) v.forEach((item, i) => valueErrors(item, s.items as Json, `${path}[${i}]`, errors));
}

/**
 * Drops the fields a structural schema does not specify, as the API server prunes custom objects before
 * storing them (metadata, apiVersion and kind are kept; x-kubernetes-preserve-unknown-fields keeps a subtree).
 */
export function prune(obj: Json, schema: Json): Json {
  const out: Json = {};
  const props: Json = isObject(schema.properties) ? schema.properties : {};
  for (const [key, value] of Object.entries(obj)) {
    if (key === "metadata" || key === "apiVersion" || key === "kind") out[key] = value;
    else if (isObject(props[key])) out[key] = pruneValue(value, props[key]);
    else if (schema["x-kubernetes-preserve-unknown-fields"] === true) out[key] = value;
  }
  return out;
}

function pruneValue(v: unknown, s: Json): unknown {
  if (s["x-kubernetes-preserve-unknown-fields"] === true && s.properties === undefined && s.additionalProperties === undefined) return v;
  if (Array.isArray(v)) return isObject(s.items) ? v.map((item) => pruneValue(item, s.items as Json)) : v;
  if (!isObject(v)) return v;
  const props = isObject(s.properties) ? s.properties : undefined;
  const additional = isObject(s.additionalProperties) ? s.additionalProperties : undefined;
  const out: Json = {};
  for (const [key, value] of Object.entries(v)) {
    const child = props?.[key] ?? additional;
    if (isObject(child)) out[key] = pruneValue(value, child);
    else if (s["x-kubernetes-preserve-unknown-fields"] === true || s.additionalProperties === true) out[key] = value;
  }
  return out;
}
