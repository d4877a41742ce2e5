#!/usr/bin/env bash
# The CRI step of `sealos reset`: removes containerd. Usage: clean-cri.sh CRI_DATA
set -uo pipefail
cd "$(dirname "$0")" || exit 1

bash clean-containerd.sh "${1:-/var/lib/containerd}"
