#!/usr/bin/env bash
# Installs the Debian packages the tests talk to (real peers, not mocks), when they are missing.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
# The cluster engine's tests start private NATS servers with JetStream (test/helpers/nats.ts).
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
/usr/bin/python3 -c 'import paho.mqtt.client' >/dev/null 2>&1 || need+=(python3-paho-mqtt)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
# ss reads a listener's backlog in test/broker/listeners/tcp.test.ts.
command -v ss >/dev/null 2>&1 || need+=(iproute2)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# promtool (Debian prometheus) checks the broker's /metrics output in test/ops/metrics.test.ts.
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -o DPkg::Lock::Timeout=300 >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -o DPkg::Lock::Timeout=300 --no-install-recommends "${need[@]}" >/dev/null
fi
