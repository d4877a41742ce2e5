#!/usr/bin/env bash
# Installs and starts image-cri-shim, which rewrites image references to the
# node-local registry, in front of the CRI socket sealos names.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=common.sh
source common.sh

install_bin ../cri/image-cri-shim
install -m 0644 ../etc/image-cri-shim.yaml /etc/image-cri-shim.yaml
install_unit ../etc/image-cri-shim.service
systemctl daemon-reload
systemctl enable --now image-cri-shim.service
wait_for_socket /var/run/image-cri-shim.sock 30
log_info "image-cri-shim started"
