#!/usr/bin/env bash
# End-to-end checks of kube-apiserver with clients nobody here wrote: the real kubectl 1.32
# and the official Python client, plus a kill -9 crash test. Starts its own apiserver on a
# free loopback port with a temporary data dir and removes everything on exit.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

WORK=$(mktemp -d /tmp/rudder-e2e.XXXXXX)
APISERVER_PID=
cleanup() {
  [ -n "$APISERVER_PID" ] && kill "$APISERVER_PID" 2>/dev/null && wait "$APISERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(free_port)
start_apiserver() {
  "$BIN/kube-apiserver" --data-dir "$WORK/data" --secure-port "$PORT" --bind-address 127.0.0.1 \
    >>"$WORK/apiserver.log" 2>&1 &
  APISERVER_PID=$!
  wait_for "kube-apiserver /readyz" 60 test -f "$WORK/data/admin.kubeconfig"
  wait_for "kube-apiserver /readyz" 60 "$KUBECTL" --kubeconfig "$WORK/data/admin.kubeconfig" get --raw /readyz
}
start_apiserver
export KUBECONFIG="$WORK/data/admin.kubeconfig"
export KUBECACHEDIR="$WORK/kubecache"
k() { "$KUBECTL" "$@"; }

PASSED=0 FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
bad() { FAILED=$((FAILED + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/       /'; }
# check NAME EXPECTED-SUBSTRING COMMAND...: the command succeeds and prints the substring.
check() {
  local name=$1 want=$2; shift 2
  local out
  if out=$("$@" 2>&1) && [[ "$out" == *"$want"* ]]; then ok "$name"; else bad "$name" "want: $want"$'\n'"got: $out"; fi
}
# check_fail NAME EXPECTED-SUBSTRING COMMAND...: the command fails and prints the substring.
check_fail() {
  local name=$1 want=$2; shift 2
  local out
  if out=$("$@" 2>&1); then bad "$name (unexpected success)" "$out"
  elif [[ "$out" == *"$want"* ]]; then ok "$name"; else bad "$name" "want: $want"$'\n'"got: $out"; fi
}

# --- discovery -----------------------------------------------------------------------
check "api-resources lists deployments with short name" "deploy" k api-resources
check "api-resources -o wide shows verbs" "create,delete,deletecollection,get,list,patch,update,watch" k api-resources -o wide
check "api-versions lists apps/v1" "apps/v1" k api-versions
check "version reports the server" "Server Version: v1.33" k version

# --- create with the protobuf generators -------------------------------------------------
check "create namespace (protobuf body)" "namespace/e2e created" k create namespace e2e
check "create configmap (protobuf body)" "configmap/cm1 created" k -n e2e create configmap cm1 --from-literal=a=b
check "configmap data decoded" "b" k -n e2e get cm cm1 -o jsonpath='{.data.a}'
check "create secret (protobuf bytes)" "secret/s1 created" k -n e2e create secret generic s1 --from-literal=pw=hunter2
check "secret data is base64" "aHVudGVyMg==" k -n e2e get secret s1 -o jsonpath='{.data.pw}'
check "create deployment (protobuf body)" "deployment.apps/web created" k -n e2e create deployment web --image=nginx:1.25 --replicas=2
check "deployment replicas kept" "2" k -n e2e get deploy web -o jsonpath='{.spec.replicas}'
check "deployment defaults applied" "RollingUpdate" k -n e2e get deploy web -o jsonpath='{.spec.strategy.type}'
check "create service (protobuf IntOrString)" "service/web created" k -n e2e create service clusterip web --tcp=80:8080
check "service got a cluster IP" "10.0.0." k -n e2e get svc web -o jsonpath='{.spec.clusterIP}'

# --- get: tables, wide, yaml, json, jsonpath ---------------------------------------------
check "get deploy prints upstream columns" "NAME   READY   UP-TO-DATE   AVAILABLE   AGE" k -n e2e get deploy
check "get deploy -o wide adds columns" "CONTAINERS   IMAGES       SELECTOR" k -n e2e get deploy -o wide
check "get svc columns" "TYPE        CLUSTER-IP" k -n e2e get svc
check "get -o yaml" "kind: Deployment" k -n e2e get deploy web -o yaml
check "get -o json" '"kind": "ConfigMap"' k -n e2e get cm cm1 -o json
check "get all uses the all category" "deployment.apps/web" k -n e2e get all
check "get ns shows status" "Active" k get ns e2e

# --- apply (client-side) twice, list merge by name -----------------------------------------
cat >"$WORK/app.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: e2e
spec:
  replicas: 1
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: one
        image: busybox:1
        env:
        - {name: A, value: "1"}
      - name: two
        image: busybox:2
YAML
check "apply creates" "deployment.apps/app created" k apply -f "$WORK/app.yaml"
sed -i 's/busybox:2/busybox:3/; s/value: "1"/value: "2"/' "$WORK/app.yaml"
check "apply again configures" "deployment.apps/app configured" k apply -f "$WORK/app.yaml"
check "apply merged containers by name" "one=busybox:1 two=busybox:3 " k -n e2e get deploy app -o jsonpath='{range .spec.template.spec.containers[*]}{.name}={.image} {end}'
check "apply merged env by name" "2" k -n e2e get deploy app -o jsonpath='{.spec.template.spec.containers[0].env[0].value}'
check "diff shows a pending change" "replicas: 4" bash -c "sed 's/replicas: 1/replicas: 4/' '$WORK/app.yaml' | '$KUBECTL' diff -f - ; true"

# --- server-side apply with a conflict -----------------------------------------------------
cat >"$WORK/ssa.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa
  namespace: e2e
data:
  owner: first
YAML
check "apply --server-side creates" "configmap/ssa serverside-applied" k apply --server-side -f "$WORK/ssa.yaml"
sed 's/first/second/' "$WORK/ssa.yaml" >"$WORK/ssa2.yaml"
check_fail "apply --server-side conflict" "conflict" k apply --server-side --field-manager=other -f "$WORK/ssa2.yaml"
check "apply --server-side --force-conflicts" "serverside-applied" k apply --server-side --field-manager=other --force-conflicts -f "$WORK/ssa2.yaml"
check "forced value landed" "second" k -n e2e get cm ssa -o jsonpath='{.data.owner}'

# --- edit, patch, label, annotate, scale -----------------------------------------------------
check "edit" "configmap/cm1 edited" env EDITOR="sed -i s/a:\ b/a:\ edited/" "$KUBECTL" -n e2e edit cm cm1
check "edit landed" "edited" k -n e2e get cm cm1 -o jsonpath='{.data.a}'
check "patch --type=merge" "patched" k -n e2e patch cm cm1 --type=merge -p '{"data":{"m":"1"}}'
check "patch --type=json" "patched" k -n e2e patch cm cm1 --type=json -p '[{"op":"add","path":"/data/j","value":"2"}]'
check "patch --type=strategic" "patched" k -n e2e patch deploy app -p '{"spec":{"template":{"spec":{"containers":[{"name":"two","image":"busybox:4"}]}}}}'
check "strategic patch kept the other container" "one=busybox:1 two=busybox:4 " k -n e2e get deploy app -o jsonpath='{range .spec.template.spec.containers[*]}{.name}={.image} {end}'
check "label" "labeled" k -n e2e label cm cm1 tier=gold
check "label selector" "cm1" k -n e2e get cm -l tier=gold
check "annotate" "annotated" k -n e2e annotate cm cm1 note=hi
check "scale" "deployment.apps/web scaled" k -n e2e scale deploy web --replicas=5
check "scale landed" "5" k -n e2e get deploy web -o jsonpath='{.spec.replicas}'

# --- replace with a stale resourceVersion ------------------------------------------------------
k -n e2e get cm cm1 -o yaml >"$WORK/cm1.yaml"
k -n e2e patch cm cm1 --type=merge -p '{"data":{"bump":"1"}}' >/dev/null
check_fail "replace with a stale resourceVersion" "the object has been modified" k replace -f "$WORK/cm1.yaml"

# --- chunked lists, watch -----------------------------------------------------------------------
for i in 1 2 3 4 5; do k -n e2e create configmap "chunk-$i" --from-literal=i="$i" >/dev/null; done
check "chunked list returns everything" "chunk-5" k -n e2e get cm --chunk-size=2
"$KUBECTL" -n e2e get cm -w >"$WORK/watch.out" 2>&1 &
WATCH_PID=$!
wait_for "watch started" 20 grep -q chunk-5 "$WORK/watch.out"
k -n e2e create configmap watched --from-literal=x=y >/dev/null
if wait_for "watch event" 20 grep -q watched "$WORK/watch.out"; then ok "get -w sees a new object"; else bad "get -w sees a new object" "$(cat "$WORK/watch.out")"; fi
kill $WATCH_PID 2>/dev/null || true

# --- explain -----------------------------------------------------------------------------------------
check "explain deployment.spec.replicas" "Number of desired pods" k explain deployment.spec.replicas
check "explain pods" "Pod is a collection of containers" k explain pods

# --- errors ----------------------------------------------------------------------------------------
check_fail "get missing object" 'Error from server (NotFound): configmaps "nope" not found' k -n e2e get cm nope
check_fail "invalid name is 422" "is invalid" k -n e2e create configmap Bad_Name
check_fail "missing namespace" 'namespaces "nowhere" not found' k -n nowhere create configmap x
check_fail "unknown field with strict validation" 'unknown field "spec.bogus"' bash -c "sed 's/replicas: 1/replicas: 1\n  bogus: 1/' '$WORK/app.yaml' | '$KUBECTL' apply -f -"
check_fail "immortal namespace" "may not be deleted" k delete ns default

# --- delete --wait ---------------------------------------------------------------------------------
check "delete --wait" 'configmap "cm1" deleted' k -n e2e delete cm cm1 --wait
check_fail "deleted object is gone" "NotFound" k -n e2e get cm cm1

# --- the official Python client ---------------------------------------------------------------------
if python3 "$ROOT/hack/python_client_test.py" "$KUBECONFIG" >"$WORK/py.out" 2>&1; then ok "python client: CRUD, selectors, watch resume"; else bad "python client" "$(cat "$WORK/py.out")"; fi

# --- crash test: kill -9 during a stream of writes ----------------------------------------------------
python3 "$ROOT/hack/crash_writer.py" "$KUBECONFIG" "$WORK/acked.txt" >"$WORK/crash.out" 2>&1 &
WRITER=$!
wait_for "50 acknowledged writes" 60 bash -c "[ \$(wc -l <'$WORK/acked.txt' 2>/dev/null || echo 0) -ge 50 ]"
kill -9 "$APISERVER_PID"; wait "$APISERVER_PID" 2>/dev/null || true
APISERVER_PID=
wait $WRITER 2>/dev/null || true
start_apiserver
missing=0
while read -r name; do
  [ -z "$name" ] && continue
  k -n crash get cm "$name" >/dev/null 2>&1 || { missing=$((missing + 1)); echo "lost: $name"; }
done <"$WORK/acked.txt"
if [ "$missing" -eq 0 ]; then ok "kill -9: all $(wc -l <"$WORK/acked.txt") acknowledged writes survived"; else bad "kill -9 lost $missing acknowledged writes"; fi
if sqlite3 "$WORK/data/state.db" 'PRAGMA integrity_check;' | grep -qx ok; then ok "sqlite integrity_check after kill -9"; else bad "sqlite integrity_check after kill -9"; fi

echo
echo "e2e: $PASSED passed, $FAILED failed"
if [ "$FAILED" -ne 0 ]; then
  echo "--- apiserver log (last 50 lines) ---"; tail -50 "$WORK/apiserver.log"
  exit 1
fi
