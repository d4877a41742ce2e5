#!/usr/bin/env bash
# Writes the registry credentials secret (a containers auth.json / docker
# config.json document) to a private file and points matrix at it through
# REGISTRY_AUTH_FILE. The secret is never echoed; matrix never prints it.
# `registry-auth.sh remove` deletes the file again (run after the push).
set -euo pipefail
file="${RUNNER_TEMP:-/tmp}/matrix-auth.json"
if [ "${1:-}" = remove ]; then
  rm -f "$file"
  exit 0
fi
if [ -z "${REGISTRY_AUTH_JSON:-}" ]; then
  echo "REGISTRY_AUTH_JSON is not set: pushes will be anonymous" >&2
  exit 0
fi
(umask 077 && printf '%s' "$REGISTRY_AUTH_JSON" >"$file")
echo "REGISTRY_AUTH_FILE=$file" >>"${GITHUB_ENV:-/dev/null}"
