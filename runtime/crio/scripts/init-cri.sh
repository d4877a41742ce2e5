#!/usr/bin/env bash
# The CRI step sealos runs first: CRI-O, logged in to the node-local registry.
# Usage: init-cri.sh REGISTRY_DOMAIN REGISTRY_PORT REGISTRY_USERNAME REGISTRY_PASSWORD
set -euo pipefail
cd "$(dirname "$0")"

bash init-crio.sh "${1:?registry domain}" "${2:?registry port}" "${3:-}" "${4:-}"
