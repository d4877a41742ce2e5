#!/usr/bin/env bash
# Removes kubelet, the Kubernetes binaries and their settings.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=common.sh
source common.sh

remove_unit kubelet.service
rm -rf "$UNIT_DIR/kubelet.service.d"
rm -f "$BIN_DIR/kubeadm" "$BIN_DIR/kubectl" "$BIN_DIR/kubelet" "$BIN_DIR/crictl" \
  "$BIN_DIR/kubelet-pre-start.sh" "$BIN_DIR/kubelet-post-stop.sh" "$BIN_DIR/conntrack" "$BIN_DIR/lsof"
rm -f /etc/sysctl.d/sealos-k8s.conf /etc/security/limits.d/sealos-k8s.conf \
  /etc/kubernetes/audit-policy.yml
rm -rf /var/lib/kubelet /var/log/kubernetes
systemctl daemon-reload
log_info "kubelet removed"
