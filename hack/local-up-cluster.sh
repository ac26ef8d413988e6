#!/usr/bin/env bash
# `make up`: starts Rudder on this machine. For now that is kube-apiserver on the embedded
# SQLite store (the scheduler, controller-manager and kubelet join as they land). State and
# logs live under _output/local-cluster; `make down` stops it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OUT="$ROOT/_output/local-cluster"
mkdir -p "$OUT"
PORT="${RUDDER_APISERVER_PORT:-6443}"

if [ -f "$OUT/kube-apiserver.pid" ] && kill -0 "$(cat "$OUT/kube-apiserver.pid")" 2>/dev/null; then
  echo ">> kube-apiserver already running (pid $(cat "$OUT/kube-apiserver.pid"))"
else
  echo ">> starting kube-apiserver on https://127.0.0.1:$PORT (embedded SQLite store in $OUT/apiserver)"
  nohup "$BIN/kube-apiserver" --data-dir "$OUT/apiserver" --secure-port "$PORT" --bind-address 127.0.0.1 \
    >"$OUT/kube-apiserver.log" 2>&1 &
  echo $! >"$OUT/kube-apiserver.pid"
fi
cp_kubeconfig() { [ -f "$OUT/apiserver/admin.kubeconfig" ] && cp "$OUT/apiserver/admin.kubeconfig" "$OUT/admin.kubeconfig"; }
wait_for "admin kubeconfig" 60 cp_kubeconfig
echo ">> waiting for /readyz"
wait_for "kube-apiserver ready" 60 "$KUBECTL" --kubeconfig "$OUT/admin.kubeconfig" get --raw /readyz
cat <<MSG

Rudder is up: kube-apiserver on the embedded store.

  export KUBECONFIG=$OUT/admin.kubeconfig
  kubectl get namespaces

Logs: $OUT/kube-apiserver.log    Stop: make down
MSG
