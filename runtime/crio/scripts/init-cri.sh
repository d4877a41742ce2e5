#!/usr/bin/env bash
# Installs and starts CRI-O from cri/cri-o.tar.gz, trusting the node-local
# registry. Usage: init-cri.sh REGISTRY_DOMAIN REGISTRY_PORT
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=common.sh
source common.sh

registry_domain=${1:?registry domain}
registry_port=${2:?registry port}
log_info "trusting $registry_domain:$registry_port"

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
tar -xzf ../cri/cri-o.tar.gz -C "$staging"
install_bin "$staging"/cri-o/bin/*
install_bin ../cri/runc

mkdir -p /etc/crio /etc/containers
install -m 0644 ../etc/crio.conf /etc/crio/crio.conf
install -m 0644 ../etc/policy.json /etc/containers/policy.json
install -m 0644 ../etc/crictl.yaml /etc/crictl.yaml
install_unit ../etc/crio.service
systemctl daemon-reload
systemctl enable --now crio.service
wait_for_socket /var/run/crio/crio.sock 60
log_info "cri-o started"
