#!/usr/bin/env bash
# Installs and starts cri-dockerd from cri/cri-dockerd.tgz: the CRI socket
# kubelet talks to in front of docker.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=common.sh
source common.sh

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
tar -xzf ../cri/cri-dockerd.tgz -C "$staging"
install_bin "$staging"/cri-dockerd/cri-dockerd
install_unit ../etc/cri-docker.service
install_unit ../etc/cri-docker.socket
systemctl daemon-reload
systemctl enable --now cri-docker.socket cri-docker.service
wait_for_socket /var/run/cri-dockerd.sock 60
log_info "cri-dockerd started"
