#!/usr/bin/env sh
# The whole test suite: type check, then every test file, then one summary
# line ("N passed, N failed, N skipped") that CI reads.
set -e
cd "$(dirname -- "$0")/.."
echo "== typecheck"
npx tsc --noEmit -p .
echo "== dependency rules"
sh scripts/check-deps.sh
echo "== tests"
mkdir -p .tools
report=.tools/vitest-report.json
rm -f "$report"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# vitest's own exit code is not enough: embedded-postgres (loaded by the global setup) hooks
# `beforeExit` and calls process.exit(0), so a failing run can end with 0. The report decides.
if [ -f "$report" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
    if (!r.success || r.numFailedTests > 0 || r.numFailedTestSuites > 0) process.exit(1);
  ' "$report" || status=1
else
  echo "no test report was written" >&2
  status=1
fi
exit $status
