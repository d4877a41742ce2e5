#!/usr/bin/env bash
# Stops and removes docker. Usage: clean-docker.sh CRI_DATA
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=common.sh
source common.sh

remove_unit docker.service
rm -f "$BIN_DIR/docker" "$BIN_DIR/dockerd" "$BIN_DIR/docker-init" "$BIN_DIR/docker-proxy" \
  "$BIN_DIR/containerd" "$BIN_DIR/containerd-shim-runc-v2" "$BIN_DIR/ctr" "$BIN_DIR/runc"
rm -rf /etc/docker /etc/crictl.yaml "${1:-/var/lib/docker}" /var/run/docker.sock
systemctl daemon-reload
log_info "docker removed"
