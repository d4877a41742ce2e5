#!/usr/bin/env bash
# Puts the per-arch lsof binary into opt/ (as many labring apps fetch their
# CLIs). MATRIX_MIRROR (a mirror tree such as `matrix mirror --stand-ins`
# writes) serves it offline. Usage: bash init.sh ARCH NAME VERSION
set -euo pipefail
arch=${1:?arch}
url="https://github.com/labring-actions/cluster-image/releases/download/depend/lsof-linux-$arch"
if [ -n "${MATRIX_MIRROR:-}" ]; then
  url="${MATRIX_MIRROR%/}/${url#https://}"
fi
mkdir -p opt
curl -fsSL "$url" -o opt/lsof
chmod 0755 opt/lsof
echo "fetched lsof for $arch"
