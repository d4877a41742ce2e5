#!/usr/bin/env bash
# Undoes init-shim.sh.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=common.sh
source common.sh

remove_unit image-cri-shim.service
rm -f "$BIN_DIR/image-cri-shim" /etc/image-cri-shim.yaml
systemctl daemon-reload
log_info "image-cri-shim removed"
