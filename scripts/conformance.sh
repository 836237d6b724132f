#!/usr/bin/env bash
# Runs the Eclipse Paho interoperability suite (../shared/conformance) against a Culex broker embedded by
# test/conformance/broker.ts, then stops the broker. Prints the suite's per-test lines and its last line
# ("conformance: N passed, M failed"); exits with the suite's status.
#   scripts/conformance.sh [v311|v5|all] [cluster]   (CONFORMANCE_ONLY=regex runs a subset; see ../shared/conformance)
# With `cluster`, the broker is node 1 of a three-node cluster on a private nats-server started here.
set -u
cd "$(dirname "$0")/.."
WHICH=${1:-all}
MODE=${2:-single}
SUITE=${CONFORMANCE_SUITE:-../shared/conformance/run.sh}
[ -f "$SUITE" ] || { echo "conformance suite not found at $SUITE" >&2; exit 2; }

nats_pid=""
nats_url=""
if [ "$MODE" = cluster ]; then
  nats_dir=$(mktemp -d "${TMPDIR:-/tmp}/culex-conformance-nats.XXXXXX")
  nats_port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$nats_dir" >"$nats_dir/log" 2>&1 &
  nats_pid=$!
  nats_url="nats://127.0.0.1:$nats_port"
  sleep 1
fi

log=$(mktemp "${TMPDIR:-/tmp}/culex-conformance-broker.XXXXXX")
node --import tsx test/conformance/broker.ts 0 $nats_url >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; [ -n "$nats_pid" ] && kill "$nats_pid" 2>/dev/null' EXIT

port=""
for _ in $(seq 1 200); do
  port=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$log")
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "broker exited at start:" >&2; cat "$log" >&2; exit 2; }
  sleep 0.1
done
[ -n "$port" ] || { echo "broker did not report its port within 20 s" >&2; cat "$log" >&2; exit 2; }
echo "culex broker on 127.0.0.1:$port (log: $log)"

out=$(mktemp "${TMPDIR:-/tmp}/culex-conformance.XXXXXX")
bash "$SUITE" 127.0.0.1 "$port" "$WHICH" | tee "$out"
status=${PIPESTATUS[0]}
echo "last line: $(tail -n 1 "$out")"
exit "$status"
