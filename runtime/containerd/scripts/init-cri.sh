#!/usr/bin/env bash
# The CRI step sealos runs first: containerd, trusting the node-local
# registry. Usage: init-cri.sh REGISTRY_DOMAIN REGISTRY_PORT
set -euo pipefail
cd "$(dirname "$0")"

bash init-containerd.sh "${1:?registry domain}" "${2:?registry port}"
