#!/usr/bin/env bash
# The CRI step of `sealos reset`: removes CRI-O. Usage: clean-cri.sh CRI_DATA
set -uo pipefail
cd "$(dirname "$0")" || exit 1

bash clean-crio.sh "${1:-/var/lib/crio}"
