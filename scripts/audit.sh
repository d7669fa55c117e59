#!/usr/bin/env bash
# `npm audit --omit=dev`: known advisories of the production dependencies (what the image ships), reported —
# never failing the run: an advisory published today must not fail an unrelated change, and without the
# registry's audit endpoint (offline, or a registry mirror without it) nothing can be checked.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(timeout 120 npm audit --omit=dev --json --fetch-retries=0 2>/dev/null)
node -e '
  let r;
  try { r = JSON.parse(process.argv[1]); } catch { r = undefined; }
  const v = r?.metadata?.vulnerabilities;
  if (!v) {
    console.log(`npm audit unavailable, nothing checked: ${r?.message ?? r?.error?.summary ?? "no answer from the registry"}`);
    process.exit(0);
  }
  const total = v.total ?? 0;
  const levels = ["critical", "high", "moderate", "low", "info"].filter((l) => v[l]).map((l) => `${v[l]} ${l}`);
  console.log(`npm audit (production dependencies): ${total} vulnerable package(s)${levels.length ? ` (${levels.join(", ")})` : ""}`);
  for (const [name, p] of Object.entries(r.vulnerabilities ?? {})) {
    const via = p.via.map((x) => (typeof x === "string" ? x : `${x.title} ${x.url}`)).join("; ");
    const fix = p.fixAvailable ? "fix available (npm audit fix)" : "no fix yet";
    console.log(`  ${p.severity} ${name} ${p.range}: ${via} — ${fix}`);
  }
' "$out"
