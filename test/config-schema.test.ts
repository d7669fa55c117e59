// The configuration's JSON Schema (src/config-schema.ts): it names exactly the keys the README's Configuration
// table documents, with the same defaults; the example and deploy configs are valid against it; it agrees with
// configFromObject (its defaults are the code's; for samples of every key, what it refuses the code refuses and
// the other way round, but for the few forms the code reads beyond it); the file `npm run manifests` writes is
// fresh.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { generatedManifests } from "../scripts/manifests.js";
import { CONFIG_SCHEMA, type JsonSchema } from "../src/config-schema.js";
import { ConfigError, configFromObject } from "../src/config.js";
import { validate } from "./support/json-schema.js";

const ROOT = new URL("..", import.meta.url).pathname;
const schema: JsonSchema = CONFIG_SCHEMA;

/** README's Configuration table: documented key → its default cell. */
function documentedKeys(): Map<string, string> {
  const readme = readFileSync(`${ROOT}README.md`, "utf8");
  const table = readme.slice(readme.indexOf("| key | default | meaning |"));
  const rows = table.slice(0, table.indexOf("\n\n")).split("\n").slice(2);
  const keys = new Map<string, string>();
  for (const row of rows) {
    const [keyCell, defaultCell] = row.split(" | ").map((c) => c.replace(/^\| /, ""));
    for (const key of keyCell.split(", ")) keys.set(key.replace(/`/g, ""), defaultCell);
  }
  return keys;
}

/** Schema paths: top-level keys, and the keys of a map with known keys as `parent.child`. */
function schemaPaths(): Map<string, JsonSchema> {
  const paths = new Map<string, JsonSchema>();
  for (const [k, s] of Object.entries(schema.properties!)) {
    paths.set(k, s);
    for (const [c, cs] of Object.entries(s.properties ?? {})) paths.set(`${k}.${c}`, cs);
  }
  return paths;
}

/** A default as the README writes it. */
function shown(v: unknown): string {
  if (v === "") return '""';
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** A document setting one path. */
function doc(path: string, value: unknown): Record<string, unknown> {
  const [top, child] = path.split(".");
  return child === undefined ? { [top]: value } : { [top]: { [child]: value } };
}

/**
 * What the service reads beyond the schema, on purpose: quoted integers and booleans (flags and environment
 * variables arrive as strings; a file should use the YAML type), and an empty or null TLS file name (unset).
 */
function lenient(s: JsonSchema, path: string, value: unknown): boolean {
  const types = [s.type ?? []].flat();
  if (types.includes("integer") && typeof value === "string" && /^\d+$/.test(value)) return true;
  if (types.includes("boolean") && (value === "true" || value === "false")) return true;
  if (path.startsWith("tls.") && (value === "" || value === null)) return true;
  return false;
}

function codeAccepts(raw: Record<string, unknown>): boolean {
  try {
    configFromObject(raw);
    return true;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return false;
  }
}

/** Comparable form of a ServiceConfig (the bin-packer by name). */
function comparable(raw: Record<string, unknown>) {
  const c = configFromObject(raw);
  return { ...c, engine: { ...c.engine, binpack: c.engine.binpack.name } };
}

/** Values to try for a key, valid and invalid, from the shape of its schema. */
function samples(s: JsonSchema): unknown[] {
  const out: unknown[] = [null, "", "x", "not a value", 1.5, -1, 0, 1, true, "true", [], ["a"], {}, { unknown: 1 }];
  if (s.default !== undefined) out.push(s.default);
  for (const e of s.enum ?? []) out.push(e);
  if (s.enum) out.push("yes", 1);
  if (s.minimum !== undefined) out.push(s.minimum, s.minimum - 1, String(s.minimum), String(s.minimum - 1));
  if (s.maximum !== undefined) out.push(s.maximum, s.maximum + 1);
  if (s.pattern?.includes("ms")) out.push("90s", "1h30m", "300ms", " 2m ", "2", 5, "10x", "m", "1.5s");
  if (s.pattern === "^[0-9]+$") out.push("8080", "abc", "12a");
  if (typeof s.additionalProperties === "object") out.push({ interactive: "2m" }, { interactive: "soon" }, { interactive: 90 });
  if (s.properties) {
    // A complete valid object, and each key alone.
    const full: Record<string, unknown> = {};
    for (const [k, p] of Object.entries(s.properties)) full[k] = p.type === "array" ? ["a", "b"] : p.default ?? "v";
    out.push(full);
    for (const k of Object.keys(full)) out.push({ [k]: full[k] });
  }
  return out;
}

describe("configuration JSON Schema", () => {
  it("names exactly the keys README's Configuration table documents (a map either as one row or a row per key)", () => {
    const documented = documentedKeys();
    const paths = schemaPaths();
    for (const key of documented.keys()) expect(paths.has(key), `README documents ${key}: not in src/config-schema.ts`).toBe(true);
    for (const [key, s] of Object.entries(schema.properties!)) {
      const children = Object.keys(s.properties ?? {}).map((c) => `${key}.${c}`);
      const asOne = documented.has(key);
      const perKey = children.length > 0 && children.every((c) => documented.has(c));
      expect(asOne || perKey, `${key} (or each of ${children.join(", ")}) is not in README's Configuration table`).toBe(true);
      expect(asOne && children.some((c) => documented.has(c)), `${key} documented both as one row and per key`).toBe(false);
    }
  });

  it("has README's defaults", () => {
    const paths = schemaPaths();
    for (const [key, cell] of documentedKeys()) {
      const s = paths.get(key)!;
      if (s.default === undefined) expect(cell, key).toBe("none");
      else expect(cell.match(/^`([^`]*)`/)?.[1], key).toBe(shown(s.default));
    }
  });

  it("its defaults are the code's: setting a key to its schema default changes nothing", () => {
    const defaults = comparable({});
    let checked = 0;
    for (const [path, s] of schemaPaths()) {
      if (s.default === undefined) continue;
      expect(comparable(doc(path, s.default)), path).toEqual(defaults);
      checked++;
    }
    expect(checked).toBeGreaterThan(25);
  });

  it("accepts what configFromObject accepts and refuses what it refuses, for samples of every key", () => {
    const disagreements: string[] = [];
    let checked = 0;
    for (const [path, s] of [...schemaPaths(), ["unknown-key", {}] as const, ["leader-election.unknown", {}] as const]) {
      for (const value of samples(s)) {
        const raw = doc(path, value);
        const problems = validate(schema, raw);
        const code = codeAccepts(raw);
        if ((problems.length === 0) !== code && !(code && lenient(s, path, value))) {
          disagreements.push(`${JSON.stringify(raw)}: code ${code ? "accepts" : "refuses"}, schema ${problems.length ? `refuses (${problems.join("; ")})` : "accepts"}`);
        }
        checked++;
      }
    }
    expect(disagreements).toEqual([]);
    expect(checked).toBeGreaterThan(500);
  });

  it("tls: both files or neither", () => {
    for (const tls of [{ "cert-file": "/a" }, { "key-file": "/b" }, { "cert-file": "/a", "key-file": "/b" }]) {
      expect(validate(schema, { tls }).length === 0, JSON.stringify(tls)).toBe(codeAccepts({ tls }));
    }
  });

  it.each(["examples/config.yaml", "deploy/base/extender.yaml", "deploy/overlays/cert-manager/extender.yaml"])("accepts %s", (file) => {
    const text = readFileSync(`${ROOT}${file}`, "utf8");
    expect(validate(schema, parseYaml(text) ?? {})).toEqual([]);
    // Editors validate it against the committed schema.
    const modeline = /^# yaml-language-server: \$schema=(\S+)$/.exec(text.split("\n")[0]);
    expect(modeline, `${file}: first line`).not.toBeNull();
    expect(new URL(modeline![1], `file://${ROOT}${file}`).pathname).toBe(`${ROOT}deploy/extender-config.schema.json`);
  });

  it("examples/config.yaml lists every key (commented out where there is no default)", () => {
    const text = readFileSync(`${ROOT}examples/config.yaml`, "utf8");
    for (const [path] of schemaPaths()) {
      const key = path.split(".").pop()!;
      const indent = path.includes(".") ? "  " : "";
      expect(text, path).toMatch(new RegExp(`^(# )?${indent}(# )?${key.replace(/-/g, "\\-")}:`, "m"));
    }
  });

  it("deploy/extender-config.schema.json is what `npm run manifests` writes from src/config-schema.ts", () => {
    const path = "deploy/extender-config.schema.json";
    expect(readFileSync(`${ROOT}${path}`, "utf8"), `${path}: run npm run manifests and commit`).toBe(generatedManifests()[path]);
    expect(JSON.parse(generatedManifests()[path])).toEqual(JSON.parse(JSON.stringify(CONFIG_SCHEMA)));
  });
});
