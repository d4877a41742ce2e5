#!/usr/bin/env bash
# Stops and removes CRI-O. Usage: clean-cri.sh CRI_DATA
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=common.sh
source common.sh

cri_data=${1:-/var/lib/containers}

remove_unit crio.service
rm -f "$BIN_DIR/crio" "$BIN_DIR/pinns" "$BIN_DIR/conmon" "$BIN_DIR/conmonrs" "$BIN_DIR/crun" \
  "$BIN_DIR/runc"
rm -rf /etc/crio /etc/containers/policy.json /etc/crictl.yaml "$cri_data" /run/containers
systemctl daemon-reload
log_info "cri-o removed"
