#!/usr/bin/env bash
# Installs the system packages Rudder's build and tests need, only when missing.
# protoc: etcd-client's build script; etcd: the etcd storage backend tests;
# sqlite3: inspecting the embedded store; python3 kubernetes client: compatibility tests.
set -euo pipefail

need=()
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
command -v flock >/dev/null 2>&1 || need+=(util-linux)

if [ ${#need[@]} -gt 0 ]; then
  echo ">> installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The etcd-server package starts a system etcd on :2379; tests start their own on other
# ports, so the system one is left alone.
if [ "${1:-}" = "--python" ]; then
  python3 -c 'import kubernetes' 2>/dev/null || {
    echo ">> installing the python kubernetes client"
    pip install -q kubernetes
  }
fi
