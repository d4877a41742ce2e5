#!/usr/bin/env bash
# Installs kubeadm, kubelet and kubectl with the kernel settings they need.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=common.sh
source common.sh

install -m 0644 ../etc/sysctl.d/sealos-k8s.conf /etc/sysctl.d/sealos-k8s.conf
mkdir -p /etc/security/limits.d
install -m 0644 ../etc/limits.d/sealos-k8s.conf /etc/security/limits.d/sealos-k8s.conf
bash kubelet-pre-start.sh
sysctl --system >/dev/null || log_warn "some sysctl settings were not applied"

install_bin ../bin/kubeadm ../bin/kubectl ../bin/kubelet ../bin/crictl ../bin/conntrack ../opt/lsof
install -m 0755 kubelet-pre-start.sh "$BIN_DIR/kubelet-pre-start.sh"
install -m 0755 kubelet-post-stop.sh "$BIN_DIR/kubelet-post-stop.sh"

mkdir -p /etc/kubernetes /var/lib/kubelet /var/log/kubernetes
install -m 0644 ../statics/audit-policy.yml /etc/kubernetes/audit-policy.yml
install_unit ../etc/kubelet.service
mkdir -p "$UNIT_DIR/kubelet.service.d"
install -m 0644 ../etc/systemd/system/kubelet.service.d/10-kubeadm.conf "$UNIT_DIR/kubelet.service.d/10-kubeadm.conf"
systemctl daemon-reload
systemctl enable kubelet.service
log_info "kubelet installed"
