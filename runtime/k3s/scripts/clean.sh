#!/usr/bin/env bash
# Undoes init.sh: the k3s unit, binary, links and config, and the shim.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=common.sh
source common.sh

remove_unit k3s.service
for tool in kubectl crictl ctr; do
  # Only links init.sh made.
  if [ "$(readlink "$BIN_DIR/$tool" 2>/dev/null)" = "$BIN_DIR/k3s" ]; then
    rm -f "${BIN_DIR:?}/$tool"
  fi
done
rm -f "$BIN_DIR/k3s" /etc/crictl.yaml /etc/rancher/k3s/registries.yaml /etc/rancher/k3s/config.yaml.d/sealos.yaml
bash clean-shim.sh
systemctl daemon-reload
log_info "clean done"
