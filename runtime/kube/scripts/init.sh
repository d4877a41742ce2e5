#!/usr/bin/env bash
# Node setup after the CRI is running: the image shim, then kubelet.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=common.sh
source common.sh

install_bin ../cri/image-cri-shim
mkdir -p /etc/image-cri-shim
install -m 0644 ../etc/image-cri-shim.yaml /etc/image-cri-shim.yaml
install_unit ../etc/image-cri-shim.service
systemctl daemon-reload
systemctl enable --now image-cri-shim.service
wait_for_socket /var/run/image-cri-shim.sock 30

bash init-kube.sh
log_info "init done"
