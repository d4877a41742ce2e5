#!/usr/bin/env bash
# Stops and removes docker and cri-dockerd. Usage: clean-cri.sh CRI_DATA
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=common.sh
source common.sh

cri_data=${1:-/var/lib/docker}

remove_unit cri-docker.service
remove_unit cri-docker.socket
remove_unit docker.service
rm -f "$BIN_DIR/cri-dockerd" "$BIN_DIR/docker" "$BIN_DIR/dockerd" "$BIN_DIR/docker-init" \
  "$BIN_DIR/docker-proxy" "$BIN_DIR/containerd" "$BIN_DIR/containerd-shim-runc-v2" \
  "$BIN_DIR/ctr" "$BIN_DIR/runc"
rm -rf /etc/docker /etc/crictl.yaml "$cri_data" /var/run/docker.sock
systemctl daemon-reload
log_info "docker removed"
