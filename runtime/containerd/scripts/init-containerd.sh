#!/usr/bin/env bash
# Installs and starts containerd from cri/cri-containerd.tar.gz (containerd,
# ctr, its shim, runc and crun under usr/bin), with libseccomp when the host
# lacks it, trusting the node-local registry.
# Usage: init-containerd.sh REGISTRY_DOMAIN REGISTRY_PORT
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=common.sh
source common.sh

registry_domain=${1:?registry domain}
registry_port=${2:?registry port}

install_libseccomp ../cri/libseccomp.tar.gz
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
tar -xzf ../cri/cri-containerd.tar.gz -C "$staging"
install_bin "$staging"/usr/bin/*

mkdir -p /etc/containerd "/etc/containerd/certs.d/$registry_domain:$registry_port"
install -m 0644 ../etc/config.toml /etc/containerd/config.toml
install -m 0644 ../etc/hosts.toml "/etc/containerd/certs.d/$registry_domain:$registry_port/hosts.toml"
install -m 0644 ../etc/crictl.yaml /etc/crictl.yaml
install_unit ../etc/containerd.service
systemctl daemon-reload
systemctl enable --now containerd.service
wait_for_socket /run/containerd/containerd.sock 60
log_info "containerd started"
