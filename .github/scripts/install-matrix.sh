#!/usr/bin/env bash
# Builds the matrix binary into bin/ (the workflows share it as an artifact).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked
mkdir -p bin
install -m 0755 target/release/matrix bin/matrix
bin/matrix --version
