#!/usr/bin/env bash
# Installs and starts docker from cri/docker.tgz, trusting the node-local
# registry. Usage: init-docker.sh REGISTRY_DOMAIN REGISTRY_PORT
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=common.sh
source common.sh

registry_domain=${1:?registry domain}
registry_port=${2:?registry port}

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
tar -xzf ../cri/docker.tgz -C "$staging"
install_bin "$staging"/docker/*

mkdir -p /etc/docker "/etc/docker/certs.d/$registry_domain:$registry_port"
install -m 0644 ../etc/daemon.json /etc/docker/daemon.json
install -m 0644 ../etc/crictl.yaml /etc/crictl.yaml
install_unit ../etc/docker.service
systemctl daemon-reload
systemctl enable --now docker.service
wait_for_socket /var/run/docker.sock 60
log_info "docker started"
