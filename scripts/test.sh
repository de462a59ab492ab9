#!/usr/bin/env bash
# Runs every vitest project (unit, integration, e2e) and ends with one plain summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
report=$(mktemp --suffix=.json)
trap 'rm -f "$report"' EXIT
npx vitest run --reporter=default --reporter=json --outputFile.json="$report"
status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
exit $status
