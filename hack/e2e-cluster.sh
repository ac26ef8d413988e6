#!/usr/bin/env bash
# End-to-end check of the whole single-node cluster that `make up` starts: containerd and
# the local registry, kube-apiserver, kube-controller-manager, kube-scheduler and the
# kubelet, driven by the real kubectl 1.32. It uses its own cluster dir and ports (so a
# developer's `make up` cluster is left alone) and runs `make down`'s script on exit, then
# checks that nothing was left behind.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

export RUDDER_CLUSTER_DIR
RUDDER_CLUSTER_DIR=$(mktemp -d /tmp/rudder-e2e-cluster.XXXXXX)
export RUDDER_APISERVER_PORT RUDDER_KUBELET_PORT RUDDER_CM_PORT RUDDER_SCHEDULER_PORT RUDDER_NODE_NAME=e2e-node
RUDDER_APISERVER_PORT=$(free_port)
RUDDER_KUBELET_PORT=$(free_port)
RUDDER_CM_PORT=$(free_port)
RUDDER_SCHEDULER_PORT=$(free_port)
OUT=$RUDDER_CLUSTER_DIR

PASSED=0 FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
bad() { FAILED=$((FAILED + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/       /'; }
check() {
  local name=$1 want=$2; shift 2
  local out
  if out=$("$@" 2>&1) && [[ "$out" == *"$want"* ]]; then ok "$name"; else bad "$name" "want: $want"$'\n'"got: $out"; fi
}

down() {
  "$ROOT/hack/local-down-cluster.sh" >/dev/null 2>&1 || echo "local-down-cluster.sh failed" >&2
}
dump_logs() {
  for f in "$OUT"/*.log; do
    echo "----- $(basename "$f") (last 40 lines)"
    tail -n 40 "$f"
  done
}
trap 'down; rm -rf "$OUT"' EXIT

if ! "$ROOT/hack/local-up-cluster.sh"; then
  dump_logs
  exit 1
fi
export KUBECONFIG="$OUT/admin.kubeconfig"
export KUBECACHEDIR="$OUT/kubecache"
k() { "$KUBECTL" "$@"; }

check "node is Ready" "True" k get node e2e-node -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'
check "create a 3-replica deployment" "deployment.apps/web created" \
  k create deployment web --image=127.0.0.1:5000/busybox:latest --replicas=3 -- httpd -f -p 8080
check "rollout status reaches 3 available" "successfully rolled out" \
  k rollout status deployment/web --timeout=120s
check "3 pods Running and Ready" "3" bash -c "$KUBECTL get pods -l app=web -o jsonpath='{range .items[*]}{.status.phase}{\" \"}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}' | grep -c '^Running True$'"
POD=$(k get pods -l app=web -o jsonpath='{.items[0].metadata.name}')
check "pods have IPs" "." k get pod "$POD" -o jsonpath='{.status.podIP}'
check "exec runs in the container" "hello-from-pod" k exec "$POD" -- echo hello-from-pod
# The kubelet's server takes only clients with a certificate from the cluster CA (the
# apiserver's kubelet client certificate); kubectl exec/logs above went through it.
KUBELET_URL="https://127.0.0.1:$RUDDER_KUBELET_PORT/healthz"
if curl -ksS --max-time 5 "$KUBELET_URL" >/dev/null 2>&1; then
  bad "the kubelet refuses a client without a certificate" "$(curl -ksS --max-time 5 "$KUBELET_URL" 2>&1)"
else
  ok "the kubelet refuses a client without a certificate"
fi
check "the kubelet serves the apiserver's kubelet client certificate" "ok" \
  curl -ksS --max-time 5 --cert "$OUT/apiserver/pki/apiserver-kubelet-client.crt" \
  --key "$OUT/apiserver/pki/apiserver-kubelet-client.key" "$KUBELET_URL"
check "logs of a pod that writes" "line-3" bash -c "$KUBECTL run logger --image=127.0.0.1:5000/busybox:latest --restart=Never -- sh -c 'for i in 1 2 3; do echo line-\$i; done' >/dev/null &&
  $KUBECTL wait --for=jsonpath='{.status.phase}'=Succeeded pod/logger --timeout=60s >/dev/null && $KUBECTL logs logger"
check "delete the deployment" "deleted" k delete deployment web --wait=true
if wait_for "web pods gone" 90 bash -c "[ -z \"\$($KUBECTL get pods -l app=web -o name)\" ]"; then
  ok "the garbage collector and kubelet removed every pod"
else
  bad "pods remain after the deployment was deleted" "$(k get pods -l app=web 2>&1)"
fi

if [ "$FAILED" -gt 0 ]; then dump_logs; fi
down
# make down leaves no processes, mounts or bridge behind.
leftover=$(pgrep -af "$OUT" || true)
[ -z "$leftover" ] && ok "make down left no processes" || bad "make down left processes" "$leftover"
mounts=$(awk -v d="$OUT" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo)
[ -z "$mounts" ] && ok "make down left no mounts" || bad "make down left mounts" "$mounts"

echo "e2e-cluster: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
