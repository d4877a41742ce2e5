#!/usr/bin/env bash
# Undoes init.sh: kubelet and the image shim (the CRI has clean-cri.sh).
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=common.sh
source common.sh

bash clean-kube.sh
bash clean-shim.sh
log_info "clean done"
