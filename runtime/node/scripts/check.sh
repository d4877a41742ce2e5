#!/usr/bin/env bash
# Preflight on a node before init: systemd, free control-plane ports (kubeadm
# and k3s use the same ones), a usable registry data folder.
# Usage: check.sh REGISTRY_DATA
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=common.sh
source common.sh

registry_data=${1:-/var/lib/registry}
failed=0

if ! command -v systemctl >/dev/null 2>&1; then
  log_error "systemd is required"
  failed=1
fi
if command -v ss >/dev/null 2>&1; then
  for port in 6443 10250 10257 10259 2379 2380; do
    if ss -ltnH "sport = :$port" | grep -q .; then
      log_error "port $port is already in use"
      failed=1
    fi
  done
fi
# Kubernetes 1.35 and later refuse cgroup v1 hosts (kubeadm's preflight and
# kubelet's failCgroupV1 default); say so before kubeadm or k3s fails later.
kube_minor() {
  local binary version
  for binary in ../bin/kubelet ../bin/k3s; do
    if [ -x "$binary" ]; then
      version=$("$binary" --version 2>/dev/null | grep -oE 'v1\.[0-9]+' | head -n 1) || true
      if [ -n "$version" ]; then
        echo "${version#v1.}"
        return
      fi
    fi
  done
  echo 0
}
minor=$(kube_minor)
if [ "$minor" -ge 35 ] && [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != "cgroup2fs" ]; then
  log_error "Kubernetes 1.$minor needs a cgroup v2 host (cgroup v1 is refused from 1.35)"
  failed=1
fi
if ! mkdir -p "$registry_data"; then
  log_error "cannot create the registry data folder $registry_data"
  failed=1
fi
if [ "$failed" -ne 0 ]; then
  exit 1
fi
log_info "check passed"
