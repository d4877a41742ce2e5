#!/usr/bin/env bash
# k3s runs its own containerd: nothing to install before init.sh.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=common.sh
source common.sh

log_info "k3s brings its own containerd"
