#!/usr/bin/env bash
# Stops the node-local registry and removes its data and config.
# Usage: clean-registry.sh REGISTRY_DATA REGISTRY_CONFIG
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=common.sh
source common.sh

registry_data=${1:-/var/lib/registry}
registry_config=${2:-/etc/registry}

remove_unit registry.service
rm -f "$BIN_DIR/registry"
rm -rf "$registry_data" "$registry_config"
systemctl daemon-reload
log_info "registry removed"
