#!/usr/bin/env bash
# Serves the image's registry/ tree from REGISTRY_DATA with the registry
# binary from cri/. Adds basic auth when sealos wrote etc/registry_htpasswd.
# Usage: init-registry.sh REGISTRY_DATA REGISTRY_CONFIG
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=common.sh
source common.sh

registry_data=${1:?registry data folder}
registry_config=${2:?registry config folder}

install_bin ../cri/registry
mkdir -p "$registry_data" "$registry_config"
if [ -d ../registry ] && [ "$(cd ../registry && pwd)" != "$(cd "$registry_data" && pwd)" ]; then
  cp -a ../registry/. "$registry_data"/
fi

config="$registry_config/registry_config.yml"
sed "s|rootdirectory: /var/lib/registry|rootdirectory: $registry_data|" ../etc/registry_config.yml >"$config"
if [ -f ../etc/registry_htpasswd ]; then
  install -m 0600 ../etc/registry_htpasswd "$registry_config/registry_htpasswd"
  cat >>"$config" <<AUTH
auth:
  htpasswd:
    realm: basic-realm
    path: $registry_config/registry_htpasswd
AUTH
fi

sed "s|/etc/registry/registry_config.yml|$config|" ../etc/registry.service >"$UNIT_DIR/registry.service"
chmod 0644 "$UNIT_DIR/registry.service"
systemctl daemon-reload
systemctl enable --now registry.service
log_info "registry serving $registry_data"
