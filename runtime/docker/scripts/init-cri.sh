#!/usr/bin/env bash
# The CRI step sealos runs first: docker, then cri-dockerd in front of it.
# sealos runs it with the image env, which names the node-local registry.
set -euo pipefail
cd "$(dirname "$0")"

bash init-docker.sh "${registryDomain:-sealos.hub}" "${registryPort:-5000}"
bash init-cri-dockerd.sh
