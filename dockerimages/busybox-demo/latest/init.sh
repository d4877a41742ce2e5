#!/usr/bin/env bash
# init.sh ARCH NAME VERSION: runs in a scratch copy of this folder before
# the build; here it records the arch it was asked for.
set -euo pipefail
printf '%s %s %s\n' "$1" "$2" "$3" > build-arch
