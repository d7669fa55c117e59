// A JSON Schema validator for the subset src/config-schema.ts uses (type, enum, pattern, minimum, maximum,
// minLength, properties, additionalProperties, required, dependentRequired, items), so tests can check documents against
// the schema without a validator dependency. A keyword outside the subset is an error, not ignored.

import type { JsonSchema, JsonType } from "../../src/config-schema.js";

const KEYWORDS = new Set([
  "$schema", "title", "description", "default", "type", "enum", "pattern", "minimum", "maximum", "minLength",
  "properties", "additionalProperties", "required", "dependentRequired", "items",
]);

function typeOf(v: unknown): JsonType {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v as JsonType;
}

/** The problems of `value` against `schema` ("path: what"); empty when it is valid. */
export function validate(schema: JsonSchema, value: unknown, path = "$"): string[] {
  for (const k of Object.keys(schema)) if (!KEYWORDS.has(k)) throw new Error(`${path}: schema keyword ${k} is not supported`);
  const problems: string[] = [];
  const t = typeOf(value);
  if (schema.type !== undefined) {
    const types: readonly JsonType[] = typeof schema.type === "string" ? [schema.type] : schema.type;
    if (!types.includes(t) && !(t === "integer" && types.includes("number"))) {
      return [`${path}: expected ${types.join(" or ")}, got ${JSON.stringify(value)}`];
    }
  }
  if (schema.enum && !schema.enum.some((e) => e === value)) problems.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (typeof value === "string") {
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value)) problems.push(`${path}: "${value}" does not match ${schema.pattern}`);
    if (schema.minLength !== undefined && [...value].length < schema.minLength) problems.push(`${path}: shorter than ${schema.minLength}`);
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${path}: ${value} < ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${path}: ${value} > ${schema.maximum}`);
  }
  if (t === "object") {
    const o = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in o)) problems.push(`${path}: ${r} is required`);
    for (const [k, needs] of Object.entries(schema.dependentRequired ?? {})) {
      if (k in o) for (const r of needs) if (!(r in o)) problems.push(`${path}: ${r} is required with ${k}`);
    }
    for (const [k, v] of Object.entries(o)) {
      const sub = schema.properties?.[k];
      if (sub) problems.push(...validate(sub, v, `${path}.${k}`));
      else if (schema.additionalProperties === false) problems.push(`${path}: unknown key ${k}`);
      else if (typeof schema.additionalProperties === "object") problems.push(...validate(schema.additionalProperties, v, `${path}.${k}`));
    }
  }
  if (t === "array" && schema.items) (value as unknown[]).forEach((v, i) => problems.push(...validate(schema.items!, v, `${path}[${i}]`)));
  return problems;
}
