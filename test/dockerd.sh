#!/usr/bin/env bash
# A private dockerd for the Docker provider's tests, in folder $1 (socket $1/docker.sock): vfs storage, no
# iptables, no bridge network. Started by .ci/run and by test/dockerd.ts, so both run it the same way.
set -euo pipefail
dir="$1"
command -v dockerd >/dev/null 2>&1 ||
  { echo 'dockerd is not installed (apt-get install docker.io, or run bash .ci/run)' >&2; exit 127; }
exec dockerd --storage-driver=vfs --iptables=false --ip-masq=false --bridge=none \
  --host="unix://$dir/docker.sock" --data-root="$dir/data" --exec-root="$dir/exec" --pidfile="$dir/docker.pid"
