#!/usr/bin/env bash
# The whole test run: system packages, type check and build, then every test file under test/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
npx tsc -b
npx tsc -p tsconfig.test.json
mapfile -t files < <(find test -name '*.test.ts' | sort)
if [ ${#files[@]} -eq 0 ]; then
  echo "no test files found under test/" >&2
  exit 1
fi
echo "running ${#files[@]} test files"
exec node scripts/run-tests.mjs "${files[@]}"
