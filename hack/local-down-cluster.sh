#!/usr/bin/env bash
# `make down`: stops everything `make up` started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="$ROOT/_output/local-cluster"
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
done
echo ">> stopped"
