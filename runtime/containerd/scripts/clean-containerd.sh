#!/usr/bin/env bash
# Stops and removes containerd, runc and crun. Usage: clean-containerd.sh CRI_DATA
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=common.sh
source common.sh

cri_data=${1:-/var/lib/containerd}

remove_unit containerd.service
rm -f "$BIN_DIR/containerd" "$BIN_DIR/containerd-shim" "$BIN_DIR/containerd-shim-runc-v1" \
  "$BIN_DIR/containerd-shim-runc-v2" "$BIN_DIR/containerd-stress" "$BIN_DIR/ctr" \
  "$BIN_DIR/runc" "$BIN_DIR/crun"
rm -rf /etc/containerd /etc/crictl.yaml "$cri_data" /run/containerd
systemctl daemon-reload
log_info "containerd removed"
