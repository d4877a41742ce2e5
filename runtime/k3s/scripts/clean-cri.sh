#!/usr/bin/env bash
# Removes k3s's data (its containerd state and images). Usage:
# clean-cri.sh [K3S_DATA], default /var/lib/rancher/k3s; only paths below
# /var/lib/rancher are removed.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=common.sh
source common.sh

data=${1:-/var/lib/rancher/k3s}
case "$data" in
  /var/lib/rancher/*) ;;
  *)
    log_error "refusing to remove $data: not below /var/lib/rancher"
    exit 1
    ;;
esac
rm -rf "${data:?}" /run/k3s
log_info "k3s data removed"
