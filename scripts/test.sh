#!/usr/bin/env bash
# The project's test command (`npm test`): static checks, then the whole vitest suite.
# Ends with a plain "N passed, N failed" line. Extra arguments go to vitest (e.g. a test file).
set -uo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1 FORCE_COLOR=0

failed_checks=0
# npm scripts run on the Node that `npm ci` installed (the `node` dev dependency), not the machine's own.
echo "node $(node --version) ($(command -v node))"
step() { echo "--- $*"; }
check() {
  local name="$1"; shift
  step "$name"
  if ! "$@"; then echo "FAILED: $name"; failed_checks=$((failed_checks + 1)); fi
}

if [ "$#" -eq 0 ]; then
  check "generated code is fresh (buf generate)" bash -c '
    npx --no-install buf generate || exit 1
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
      changes=$(git status --porcelain -- gen)
      if [ -n "$changes" ]; then echo "gen/ differs from proto/: run npm run generate and commit"; echo "$changes"; exit 1; fi
    fi'
  check "buf lint" npx --no-install buf lint
  check "buf breaking (against main)" bash scripts/buf-breaking.sh
  check "typecheck (tsc)" npx --no-install tsc -p .
  check "eslint (type-aware)" npx --no-install eslint .
  step "npm audit --omit=dev (reported, never fails the run)"
  bash scripts/audit.sh
fi

step "vitest"
report=$(mktemp)
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
vitest_rc=$?
if [ -s "$report" ]; then
  read -r passed failed < <(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const failedSuites = r.testResults.filter((t) => t.status === "failed" && t.assertionResults.length === 0).length;
    console.log(r.numPassedTests, r.numFailedTests + failedSuites);' "$report")
else
  passed=0 failed=1
fi
rm -f "$report"
failed=$((failed + failed_checks))
if [ "$vitest_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
