#!/usr/bin/env bash
# `make down`: stops everything `make up` started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${RUDDER_CLUSTER_DIR:-$ROOT/_output/local-cluster}"
# Clients first, the apiserver last, so nothing logs a lost connection on the way down.
for pidfile in $(ls -r "$OUT"/*.pid 2>/dev/null); do
  [ -e "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    echo ">> stopping $(basename "$pidfile" .pid) (pid $pid)"
    kill "$pid"
    wait_for "$(basename "$pidfile" .pid) to exit" 30 bash -c "! kill -0 $pid"
  fi
  rm -f "$pidfile"
  if [ "$(basename "$pidfile")" = kubelet.pid ] && [ -d "$OUT/containerd" ]; then
    # Pods outlive a stopped kubelet (as upstream); the private containerd goes next,
    # with every container, mount, network namespace and the bridge it made.
    echo ">> stopping containerd and removing its containers, mounts and network"
    "$ROOT/hack/containerd.sh" down "$OUT/containerd"
  fi
done
# Also when the kubelet was already gone (down is idempotent).
[ -d "$OUT/containerd" ] && "$ROOT/hack/containerd.sh" down "$OUT/containerd"
# Volume mounts the kubelet made (tmpfs emptyDirs) under its root dir.
if [ -d "$OUT/kubelet" ]; then
  awk -v d="$OUT/kubelet" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
fi
# The local registry keeps its images on disk; only its process stops.
"$ROOT/hack/containerd.sh" registry-down
echo ">> stopped"
