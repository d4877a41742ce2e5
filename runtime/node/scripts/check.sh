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
if ! mkdir -p "$registry_data"; then
  log_error "cannot create the registry data folder $registry_data"
  failed=1
fi
if [ "$failed" -ne 0 ]; then
  exit 1
fi
log_info "check passed"
