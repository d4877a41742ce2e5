#!/usr/bin/env bash
# Stops and removes cri-dockerd. Usage: clean-cri-dockerd.sh CRI_DOCKERD_DATA
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=common.sh
source common.sh

remove_unit cri-docker.service
remove_unit cri-docker.socket
rm -f "$BIN_DIR/cri-dockerd" /var/run/cri-dockerd.sock
rm -rf "${1:-/var/lib/cri-dockerd}"
systemctl daemon-reload
log_info "cri-dockerd removed"
