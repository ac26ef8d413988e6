#!/usr/bin/env bash
# `make up`: starts Rudder on this machine: kube-apiserver on the embedded SQLite store,
# then kube-controller-manager and kube-scheduler against it (the kubelet joins when it
# lands). State and logs live under _output/local-cluster; `make down` stops it all.
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
# start_component NAME ARGS...: starts a control-plane component unless it already runs.
start_component() {
  local name=$1; shift
  if [ -f "$OUT/$name.pid" ] && kill -0 "$(cat "$OUT/$name.pid")" 2>/dev/null; then
    echo ">> $name already running (pid $(cat "$OUT/$name.pid"))"
    return
  fi
  echo ">> starting $name"
  nohup "$BIN/$name" "$@" >"$OUT/$name.log" 2>&1 &
  echo $! >"$OUT/$name.pid"
}
start_component kube-controller-manager --kubeconfig "$OUT/admin.kubeconfig"
start_component kube-scheduler --kubeconfig "$OUT/admin.kubeconfig" --bind-address 127.0.0.1
# Both take a Lease in kube-system when they lead; wait for that as the sign they work.
for lease in kube-controller-manager kube-scheduler; do
  echo ">> waiting for $lease to take its leader lease"
  wait_for "$lease leader lease" 60 "$KUBECTL" --kubeconfig "$OUT/admin.kubeconfig" -n kube-system get lease "$lease"
done

cat <<MSG

Rudder is up: kube-apiserver on the embedded store, kube-controller-manager and
kube-scheduler. No kubelet yet, so pods are scheduled nowhere.

  export KUBECONFIG=$OUT/admin.kubeconfig
  kubectl get namespaces

Logs: $OUT/*.log    Stop: make down
MSG
