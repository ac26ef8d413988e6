#!/usr/bin/env bash
# `make up`: starts Rudder on this machine as a single-node cluster: a private containerd
# and the local image registry (hack/containerd.sh), kube-apiserver on the embedded SQLite
# store, kube-controller-manager, kube-scheduler and the kubelet, then waits until the node
# is Ready. State and logs live under _output/local-cluster; `make down` stops it all.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OUT="${RUDDER_CLUSTER_DIR:-$ROOT/_output/local-cluster}"
mkdir -p "$OUT"
PORT="${RUDDER_APISERVER_PORT:-6443}"
NODE_NAME="${RUDDER_NODE_NAME:-$(hostname | tr '[:upper:]' '[:lower:]')}"

echo ">> container runtime: installing what is missing (containerd, runc, CNI plugins, registry, image tools)"
"$ROOT/hack/containerd.sh" install
echo ">> images: local registry on 127.0.0.1:5000 with busybox and pause"
"$ROOT/hack/containerd.sh" images
echo ">> starting a private containerd in $OUT/containerd"
SOCK="$("$ROOT/hack/containerd.sh" up "$OUT/containerd")"

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
start_component kube-controller-manager --kubeconfig "$OUT/admin.kubeconfig" --bind-address 127.0.0.1 \
  --secure-port "${RUDDER_CM_PORT:-10257}"
start_component kube-scheduler --kubeconfig "$OUT/admin.kubeconfig" --bind-address 127.0.0.1 \
  --secure-port "${RUDDER_SCHEDULER_PORT:-10259}"
# Both take a Lease in kube-system when they lead; wait for that as the sign they work.
for lease in kube-controller-manager kube-scheduler; do
  echo ">> waiting for $lease to take its leader lease"
  wait_for "$lease leader lease" 60 "$KUBECTL" --kubeconfig "$OUT/admin.kubeconfig" -n kube-system get lease "$lease"
done
# The kubelet serves on loopback and reports 127.0.0.1 as its InternalIP, so the
# apiserver's logs/exec/port-forward proxy never leaves the machine. --client-ca-file is
# the CA that signed the apiserver's kubelet client certificate
# (apiserver/pki/apiserver-kubelet-client.crt, which it presents by default), so the
# kubelet's server requires that certificate (or another one from this CA), as a kubeadm
# cluster's kubelet does with authentication.x509.clientCAFile.
mkdir -p "$OUT/manifests"
start_component kubelet --kubeconfig "$OUT/admin.kubeconfig" \
  --container-runtime-endpoint "unix://$SOCK" --root-dir "$OUT/kubelet" \
  --pod-manifest-path "$OUT/manifests" --hostname-override "$NODE_NAME" \
  --node-ip 127.0.0.1 --address 127.0.0.1 --port "${RUDDER_KUBELET_PORT:-10250}" \
  --client-ca-file "$OUT/apiserver/pki/ca.crt"
echo ">> waiting for node $NODE_NAME to be Ready"
wait_for "node $NODE_NAME Ready" 120 "$KUBECTL" --kubeconfig "$OUT/admin.kubeconfig" \
  wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s

cat <<MSG

Rudder is up: kube-apiserver on the embedded store, kube-controller-manager,
kube-scheduler, and a kubelet on containerd; node $NODE_NAME is Ready.
Images come from the local registry: 127.0.0.1:5000/busybox:latest.

  export KUBECONFIG=$OUT/admin.kubeconfig
  kubectl get nodes
  kubectl create deployment web --image=127.0.0.1:5000/busybox:latest --replicas=3 -- httpd -f -p 8080
  kubectl get pods -o wide

Logs: $OUT/*.log    Stop: make down
MSG
