#!/usr/bin/env bash
# Node setup for k3s: its registry and config drop-in, the image shim, the
# k3s binary with its kubectl/crictl/ctr links, and the unit sealos enables.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=common.sh
source common.sh

mkdir -p /etc/rancher/k3s/config.yaml.d
install -m 0600 ../etc/registries.yaml /etc/rancher/k3s/registries.yaml
install -m 0644 ../etc/k3s-sealos.yaml /etc/rancher/k3s/config.yaml.d/sealos.yaml
install -m 0644 ../etc/crictl.yaml /etc/crictl.yaml

bash init-shim.sh

install_bin ../bin/k3s
for tool in kubectl crictl ctr; do
  # k3s answers to these names; an installed tool of the same name wins.
  if ! command -v "$tool" >/dev/null 2>&1; then
    ln -sf "$BIN_DIR/k3s" "$BIN_DIR/$tool"
  fi
done
install_unit ../etc/k3s.service
systemctl daemon-reload
log_info "init done"
