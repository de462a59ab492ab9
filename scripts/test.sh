#!/usr/bin/env bash
# Runs every vitest project and ends with one plain summary line. The unit project's files are
# pure (no daemon, no QEMU): they run two at a time, one per core. Integration and e2e then run
# one file at a time (vitest.config.ts says why).
set -uo pipefail
cd "$(dirname "$0")/.."
unit=$(mktemp --suffix=.json)
rest=$(mktemp --suffix=.json)
trap 'rm -f "$unit" "$rest"' EXIT
status=0
npx vitest run --project unit --maxWorkers=2 --reporter=default --reporter=json --outputFile.json="$unit" || status=$?
npx vitest run --project integration --project e2e --reporter=default --reporter=json --outputFile.json="$rest" ||
  status=$?
node -e '
  const reports = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
  const sum = (key) => reports.reduce((n, r) => n + r[key], 0);
  const skipped = sum("numPendingTests") + sum("numTodoTests");
  // Each failure again, last, in short: a CI log read from its tail shows what failed.
  for (const file of reports.flatMap((r) => r.testResults))
    for (const t of file.assertionResults.filter((a) => a.status === "failed")) {
      const message = (t.failureMessages[0] ?? "").replace(/\x1b\[[0-9;]*m/g, "").split("\n").slice(0, 12);
      console.log(`FAILED ${file.name.replace(process.cwd() + "/", "")} > ${t.fullName}\n  ${message.join("\n  ")}`);
    }
  console.log(`tests: ${sum("numPassedTests")} passed, ${sum("numFailedTests")} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$unit" "$rest" || true
exit $status
