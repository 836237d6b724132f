#!/usr/bin/env bash
# Benchmarks: brokers (Culex, Aedes, Mosquitto), client (Culex vs MQTT.js), codec and topic matching.
# Writes docs/benchmarks.md and docs/benchmarks.svg; see bench/harness/main.ts for the BENCH_* variables.
set -euo pipefail
cd "$(dirname "$0")/.."
# Mosquitto (a peer under test) and taskset come from Debian packages.
bash scripts/system-deps.sh
# 10,000 idle connections need as many descriptors on each side: raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)"
echo "ulimit -n: $(ulimit -n)" >&2
if ! command -v taskset >/dev/null; then
  echo "taskset (util-linux) is missing: processes will not be pinned to cores" >&2
fi
if [ "$(nproc)" -lt 2 ]; then
  echo "fewer than 2 cores: the load generator shares the broker's core, figures will be low" >&2
fi
export BENCH_COMMAND="${BENCH_COMMAND:-npm run bench}"
exec node --import tsx bench/harness/main.ts
