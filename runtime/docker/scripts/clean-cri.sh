#!/usr/bin/env bash
# The CRI step of `sealos reset`: cri-dockerd, then docker.
# Usage: clean-cri.sh CRI_DATA CRI_DOCKERD_DATA
set -uo pipefail
cd "$(dirname "$0")" || exit 1

bash clean-cri-dockerd.sh "${2:-/var/lib/cri-dockerd}"
bash clean-docker.sh "${1:-/var/lib/docker}"
