#!/usr/bin/env bash
# `buf breaking`: the proto API of this tree (uncommitted edits included) against the last proto committed on
# main that it builds on — the merge base of HEAD and main (local branch, else origin/main), or, on main's tip
# itself, main's previous commit (its first parent). Published clients were generated from main's protos, so a
# change they would break on fails here (buf.yaml `breaking`). It cannot run without that commit in this
# clone's history (not a git checkout, no main, a shallow clone): it says so and passes.
set -uo pipefail
cd "$(dirname "$0")/.."
skip() {
  echo "buf breaking skipped: $*"
  exit 0
}
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || skip "not a git checkout"
main=""
for ref in refs/heads/main refs/remotes/origin/main; do
  if git rev-parse -q --verify "$ref^{commit}" >/dev/null; then main=$ref; break; fi
done
[ -n "$main" ] || skip "no branch main (nor origin/main) in this clone"
shallow=""
[ "$(git rev-parse --is-shallow-repository)" = true ] && shallow=" (shallow clone: git fetch --unshallow origin main)"
base=$(git merge-base HEAD "$main" 2>/dev/null) || skip "HEAD and ${main#refs/*/} share no commit in this clone's history${shallow}"
if [ "$base" = "$(git rev-parse HEAD)" ] && [ "$base" = "$(git rev-parse "$main")" ]; then
  base=$(git rev-parse -q --verify "HEAD~1^{commit}") || skip "main's previous commit is not in this clone's history${shallow}"
fi
git cat-file -e "$base:proto" 2>/dev/null || skip "no proto/ at $(git rev-parse --short "$base")"
echo "buf breaking against $(git log -1 --format='%h %s' "$base" | cut -c1-100)"
exec npx --no-install buf breaking --against ".git#ref=$base"
