#!/usr/bin/env bash
# Runs an MQTT conformance suite against a Culex broker embedded by test/conformance/broker.ts, then stops the
# broker. Prints the suite's per-test lines and its last line ("conformance: N passed, M failed"); exits with the
# suite's status.
#   scripts/conformance.sh [v311|v5|all] [cluster]   (CONFORMANCE_ONLY=regex runs a subset)
# With `cluster`, the broker is node 1 of a three-node cluster on a private nats-server started here.
#
# The suite is not part of this repository: it is the Eclipse Paho interoperability tests
# (https://github.com/eclipse/paho.mqtt.testing, directory interoperability/: client_test.py, 10 MQTT 3.1.1 tests,
# and client_test5.py, 27 MQTT 5.0 tests; Python 3, standard library only), under their own licences (EPL-1.0 /
# EDL-1.0), run one test per process by a runner script. CONFORMANCE_SUITE names that runner (default
# ../shared/conformance/run.sh, beside this checkout). Any runner fits that is called as
# `RUNNER HOST PORT v311|v5|all`, prints a line per test and ends with "conformance: N passed, M failed".
set -u
cd "$(dirname "$0")/.."
WHICH=${1:-all}
MODE=${2:-single}
SUITE=${CONFORMANCE_SUITE:-../shared/conformance/run.sh}
if [ ! -f "$SUITE" ]; then
  cat >&2 <<EOF_
conformance: no suite runner at $SUITE.
The suite is not in this repository: it is the Eclipse Paho interoperability tests
(https://github.com/eclipse/paho.mqtt.testing, directory interoperability/: client_test.py for MQTT 3.1.1 and
client_test5.py for MQTT 5.0; Python 3), run by a runner script called as RUNNER HOST PORT v311|v5|all that prints
a line per test and ends with "conformance: N passed, M failed". Point CONFORMANCE_SUITE at such a runner.
The unit and protocol tests of this repository (npm test) do not need it.
EOF_
  exit 2
fi

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
