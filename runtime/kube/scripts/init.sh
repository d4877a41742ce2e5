#!/usr/bin/env bash
# Node setup after the CRI is running: the image shim, then kubelet.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=common.sh
source common.sh

bash init-shim.sh
bash init-kube.sh
log_info "init done"
