#!/usr/bin/env bash
# Container runtime infrastructure for Rudder's kubelet: Debian packages, a local image
# registry with the project's two small images, and private containerd instances.
#
#   hack/containerd.sh install      apt-get installs containerd, runc, CNI plugins, the
#                                   registry and the image tools, only what is missing
#   hack/containerd.sh images       starts (once) a registry on 127.0.0.1:5000 and pushes
#                                   127.0.0.1:5000/busybox:latest and 127.0.0.1:5000/pause:3.10
#   hack/containerd.sh up <dir>     starts a containerd with its root, state, socket, CNI
#                                   config and IPAM data under <dir>; prints the socket path
#   hack/containerd.sh down <dir>   stops it and removes its containers, mounts, network
#                                   namespaces and bridge
#   hack/containerd.sh registry-down  stops the registry process (its images stay on disk)
#
# Nothing here talks to the internet at run time: images are built from busybox-static with
# umoci and pushed with skopeo (no Docker engine runs on these machines), and pods get a
# bridge network with no default route, so their traffic cannot leave the machine.
# See /work/shared/runtime-notes.md for the facts this is built on.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/lib.sh
source "$ROOT/hack/lib.sh"

REGISTRY_ADDR="${RUDDER_REGISTRY_ADDR:-127.0.0.1:5000}"
REGISTRY_DIR="${RUDDER_REGISTRY_DIR:-/var/lib/rudder/registry}"
BUSYBOX_IMAGE="$REGISTRY_ADDR/busybox:latest"
PAUSE_IMAGE="$REGISTRY_ADDR/pause:3.10"

log() { echo ">> $*" >&2; }
die() { echo "containerd.sh: $*" >&2; exit 1; }

cmd_install() {
  local need=()
  command -v containerd >/dev/null 2>&1 || need+=(containerd)
  command -v runc >/dev/null 2>&1 || need+=(runc)
  [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] \
    || need+=(containernetworking-plugins)
  command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
  command -v umoci >/dev/null 2>&1 || need+=(umoci)
  command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
  [ -x /bin/busybox ] || need+=(busybox-static)
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing system packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  # Debian's containerd and docker-registry packages enable system services where systemd
  # runs; Rudder starts its own instances and never uses those.
}

registry_up() {
  curl -fsS -o /dev/null "http://$REGISTRY_ADDR/v2/" 2>/dev/null
}

# ensure_registry: starts Debian's docker-registry (the CNCF distribution registry) with
# its own config and storage, bound to loopback only, unless one already answers.
ensure_registry() {
  registry_up && return 0
  mkdir -p "$REGISTRY_DIR/storage"
  cat >"$REGISTRY_DIR/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/storage
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
  log "starting the image registry on $REGISTRY_ADDR (storage $REGISTRY_DIR/storage)"
  # setsid: the registry outlives this script and is shared by every cluster and test.
  setsid docker-registry serve "$REGISTRY_DIR/config.yml" \
    >>"$REGISTRY_DIR/registry.log" 2>&1 </dev/null &
  echo $! >"$REGISTRY_DIR/registry.pid"
  wait_for "the registry on $REGISTRY_ADDR" 30 registry_up \
    || { tail -n 20 "$REGISTRY_DIR/registry.log" >&2; die "registry did not start"; }
}

image_present() {
  skopeo inspect --tls-verify=false --raw "docker://$1" >/dev/null 2>&1
}

# busybox_rootfs DIR: a root filesystem with busybox-static and a symlink per applet.
busybox_rootfs() {
  local rootfs=$1
  mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev,root,var/www}
  chmod 1777 "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  local applet
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' \
    >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
}

# build_and_push NAME:TAG REF WORKDIR CUSTOMIZE_FN CMD...: a single-layer image from a
# busybox rootfs, customised by CUSTOMIZE_FN, pushed to REF.
build_and_push() {
  local tag=$1 ref=$2 work=$3 customize=$4; shift 4
  local layout="$work/oci" bundle="$work/bundle-${tag%%:*}"
  [ -d "$layout" ] || umoci init --layout "$layout"
  umoci new --image "$layout:$tag"
  umoci unpack --image "$layout:$tag" "$bundle" >/dev/null
  busybox_rootfs "$bundle/rootfs"
  "$customize" "$bundle/rootfs"
  umoci repack --image "$layout:$tag" "$bundle" >/dev/null
  local cfg=(--image "$layout:$tag" --os linux --architecture amd64
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    --config.workingdir /)
  local c first=1
  for c in "$@"; do
    if [ $first = 1 ]; then cfg+=(--clear=config.cmd); first=0; fi
    cfg+=(--config.cmd "$c")
  done
  umoci config "${cfg[@]}"
  skopeo copy -q --dest-tls-verify=false "oci:$layout:$tag" "docker://$ref"
  log "pushed $ref"
}

no_customize() { :; }

# The pause process: never exits on its own, exits at once on SIGTERM/SIGINT (busybox
# `sleep` as PID 1 ignores SIGTERM because PID 1 has no default signal handlers).
pause_customize() {
  cat >"$1/pause" <<'EOF'
#!/bin/sh
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait; done
EOF
  chmod 0755 "$1/pause"
}

cmd_images() {
  cmd_install
  ensure_registry
  local work
  work="$(mktemp -d /tmp/rudder-images.XXXXXX)"
  trap 'rm -rf "$work"' RETURN
  image_present "$BUSYBOX_IMAGE" \
    || build_and_push busybox:latest "$BUSYBOX_IMAGE" "$work" no_customize sh
  image_present "$PAUSE_IMAGE" \
    || build_and_push pause:3.10 "$PAUSE_IMAGE" "$work" pause_customize /pause
}

# net_params DIR: a bridge name and a /24 pod subnet derived from DIR, so that several
# containerds (parallel tests) do not share a bridge or overlap their pod addresses.
# RUDDER_CNI_BRIDGE and RUDDER_POD_CIDR override them.
net_params() {
  local h
  h="$(printf '%s' "$1" | cksum | cut -d' ' -f1)"
  BRIDGE="${RUDDER_CNI_BRIDGE:-rdr$((h % 100000))}"
  POD_CIDR="${RUDDER_POD_CIDR:-10.$((200 + h % 50)).$(((h / 50) % 256)).0/24}"
}

sock_of() { echo "$1/containerd.sock"; }

containerd_answers() {
  ctr --address "$1" version
}

cmd_up() {
  local dir=${1:?usage: containerd.sh up <dir>}
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local sock
  sock="$(sock_of "$dir")"
  if [ -S "$sock" ] && containerd_answers "$sock" >/dev/null 2>&1; then
    echo "$sock"
    return 0
  fi
  command -v containerd >/dev/null 2>&1 || die "containerd is not installed (run: $0 install)"
  net_params "$dir"
  mkdir -p "$dir/root" "$dir/state" "$dir/net.d" "$dir/certs.d/$REGISTRY_ADDR" "$dir/cni-ipam" \
    "$dir/opt"
  cat >"$dir/certs.d/$REGISTRY_ADDR/hosts.toml" <<EOF
server = "http://$REGISTRY_ADDR"

[host."http://$REGISTRY_ADDR"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
EOF
  # bridge + host-local: isGateway gives the bridge the subnet's first address, and without
  # isDefaultGateway or ipam routes pods get no default route (nothing leaves the machine);
  # ipMasq false so no NAT rules are written on the host.
  cat >"$dir/net.d/10-rudder.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "rudder",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "dataDir": "$dir/cni-ipam"
      }
    }
  ]
}
EOF
  cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
oom_score = 0
# Plugins that are of no use here and only log errors (or need kernel features this
# machine lacks).
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "$dir/containerd.sock"

[ttrpc]
  address = "$dir/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "warn"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Without it the sandbox fails: write to /proc/self/oom_score_adj: Permission denied.
  restrict_oom_score_adj = true
  # Network namespaces under <dir>/state/netns, not /var/run/netns, so that down finds them.
  netns_mounts_under_state_dir = true
  # The streaming server (exec, attach, port-forward) listens on loopback, on a free port.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_tls_streaming = false
  disable_apparmor = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    snapshotter = "overlayfs"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/net.d"
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$dir/certs.d"
EOF
  # setsid: the daemon outlives this script; `down` stops it through its pid file.
  setsid containerd --config "$dir/config.toml" --root "$dir/root" --state "$dir/state" \
    --address "$sock" >>"$dir/containerd.log" 2>&1 </dev/null &
  echo $! >"$dir/containerd.pid"
  if ! wait_for "containerd on $sock" 60 containerd_answers "$sock"; then
    tail -n 30 "$dir/containerd.log" >&2
    die "containerd did not start"
  fi
  echo "$sock"
}

# mounts_under DIR: mount points at or below DIR, deepest first.
mounts_under() {
  awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

cmd_down() {
  local dir=${1:?usage: containerd.sh down <dir>}
  [ -d "$dir" ] || return 0
  dir="$(cd "$dir" && pwd)"
  local sock pid
  sock="$(sock_of "$dir")"
  net_params "$dir"
  # Containers and sandboxes first, while containerd still answers, so their shims exit.
  if [ -S "$sock" ] && containerd_answers "$sock" >/dev/null 2>&1; then
    local ns id
    for ns in $(ctr --address "$sock" namespaces ls -q 2>/dev/null); do
      for id in $(ctr --address "$sock" -n "$ns" tasks ls -q 2>/dev/null); do
        ctr --address "$sock" -n "$ns" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
      done
      for id in $(ctr --address "$sock" -n "$ns" tasks ls -q 2>/dev/null); do
        local deadline=$((SECONDS + 10))
        until ctr --address "$sock" -n "$ns" tasks delete "$id" >/dev/null 2>&1; do
          [ $SECONDS -lt $deadline ] || break
          sleep 0.1
        done
      done
      for id in $(ctr --address "$sock" -n "$ns" containers ls -q 2>/dev/null); do
        ctr --address "$sock" -n "$ns" containers delete "$id" >/dev/null 2>&1 || true
      done
    done
  fi
  if [ -f "$dir/containerd.pid" ]; then
    pid="$(cat "$dir/containerd.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      local deadline=$((SECONDS + 15))
      while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/containerd.pid"
  fi
  # Shims that this containerd started and that survived it (they carry its socket path
  # in their command line), with the container processes below them.
  local p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "-address $sock "; then
      pkill -KILL -P "${p#/proc/}" 2>/dev/null || true
      kill -KILL "${p#/proc/}" 2>/dev/null || true
    fi
  done
  # Mounts (rootfs overlays, shm, netns bind mounts) and network namespaces.
  local m
  for m in $(mounts_under "$dir"); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  ip link del "$BRIDGE" >/dev/null 2>&1 || true
  if [ -n "$(mounts_under "$dir")" ]; then
    die "mounts remain under $dir: $(mounts_under "$dir" | tr '\n' ' ')"
  fi
  # Safe now that nothing is mounted below dir; --one-file-system as a second guard.
  rm -rf --one-file-system "$dir/root" "$dir/state" "$dir/opt" "$dir/cni-ipam" \
    "$dir/containerd.sock" "$dir/containerd.sock.ttrpc"
}

# registry-down: stops the local registry started by `images` (its storage stays, so the
# next `images` only restarts it).
cmd_registry_down() {
  local pidfile="$REGISTRY_DIR/registry.pid" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_for "the registry to exit" 15 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  install) cmd_install ;;
  registry-down) cmd_registry_down ;;
  images) cmd_images ;;
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  *)
    echo "usage: $0 install | images | up <dir> | down <dir> | registry-down" >&2
    exit 2
    ;;
esac
