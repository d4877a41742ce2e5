#!/usr/bin/env bash
# Stops and removes CRI-O, runc and crun. Usage: clean-crio.sh CRI_DATA
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=common.sh
source common.sh

remove_unit crio.service
rm -f "$BIN_DIR/crio" "$BIN_DIR/pinns" "$BIN_DIR/conmon" "$BIN_DIR/conmonrs" "$BIN_DIR/crun" \
  "$BIN_DIR/runc"
rm -rf /etc/crio /etc/containers/policy.json /etc/crictl.yaml "${1:-/var/lib/crio}" /run/containers
systemctl daemon-reload
log_info "cri-o removed"
