#!/usr/bin/env bash
# Renders every chart folder of DIR with Helm's own engine (PyPI's
# helm-python-sdk) and with matrix (`app images` and `app template`, init.sh
# skipped), and prints, per chart, whether the image lists and the rendered
# documents agree (with the first difference), then agreed/total, the
# slowest chart and the largest peak memory. Lines Helm itself renders
# differently twice (random, time, crypto) are not compared.
#
#   benches/helm-parity.sh DIR [--json]
#
# DIR holds one folder per chart (a chart, or an application folder with
# charts/). MATRIX picks the binary (default: a release build of this tree).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:?usage: benches/helm-parity.sh DIR [--json]}"
shift
if [[ -z "${MATRIX:-}" ]]; then
    cargo build --release --quiet --manifest-path "$here/Cargo.toml"
    MATRIX="$here/target/release/matrix"
fi
exec python3 "$here/tests/helm_oracle.py" --parity "$dir" --matrix "$MATRIX" "$@"
