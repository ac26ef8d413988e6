#!/usr/bin/env bash
# make bench: measures the release kube-apiserver with the release rudder-bench (see
# bench/src/lib.rs). rudder-bench starts its own etcd and kube-apiservers on loopback in a
# temp dir and removes both on exit; it also runs kube-scheduler's scheduler_perf workloads
# (bench/src/scheduler_perf.rs). Extra flags: BENCH_ARGS="--pods 2000 --skip-etcd",
# BENCH_ARGS="--only-scheduler --scheduler-scale 0.02" for a quick scheduler smoke test.
# The kube-controller-manager part (bench/src/controllers.rs) runs after it unless
# BENCH_ARGS has "--cm off"; "--cm only --cm-scale 0.1" runs just that part, smaller.
# The kubelet part (bench/src/kubelet.rs: pod startup latency on a private one-node cluster
# with its own containerd from hack/containerd.sh, plus the kubelet's RSS and idle CPU)
# runs last unless BENCH_ARGS has "--kubelet off"; "--kubelet only" runs just that part.
set -euo pipefail

cd "$(dirname "$0")/.."
hack/install-deps.sh

target="${CARGO_TARGET_DIR:-target}"
bench="$target/release/rudder-bench"
for bin in "$bench" "$target/release/kube-apiserver" "$target/release/kube-scheduler" \
  "$target/release/kube-controller-manager" "$target/release/kubelet"; do
  if [ ! -x "$bin" ]; then
    echo "bench: $bin is missing; run 'make build' first" >&2
    exit 1
  fi
done

read -r -a extra <<< "${BENCH_ARGS:-}"
"$bench" --bin-dir "$target/release" "${extra[@]}" "$@" &
pid=$!
# rudder-bench kills its children and removes its temp dir when it gets SIGTERM/SIGINT;
# forward them, and make sure it is gone whatever way this script ends.
cleanup() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
wait "$pid"
