#!/usr/bin/env bash
# Build benchmark: 8 cells (2 kube x 2 CRI x 2 arch) from stand-in
# artifacts of realistic size, built by matrix and by `buildah bud` (same
# merged contexts, FROM scratch + COPY . ., vfs storage, then pushed to an
# OCI layout), in the same run on the same machine. Prints wall-time ratio,
# unchanged-rebuild cost, peak RSS and bytes written. Needs buildah (root).
# Usage: bash benches/build.sh
set -euo pipefail
# Failures print their output instead of vanishing behind >/dev/null.
trap 'echo "benches/build.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
command -v buildah >/dev/null || { echo "buildah is needed: apt-get install -y buildah" >&2; exit 1; }
cargo build --release --quiet
matrix=$PWD/target/release/matrix
work=$(mktemp -d)
trap 'buildah --storage-driver vfs --root "$work/containers" rm -a >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
tags=(v1.24.4-4.1.3 v1.25.0-4.1.3)
select=(--cri "containerd,docker")
sizes=(--stand-in-size kubelet=110M --stand-in-size kubeadm=45M --stand-in-size kubectl=45M
       --stand-in-size containerd=50M --stand-in-size docker=50M)
mirror="file://$work/mirror"
export SOURCE_DATE_EPOCH=0

"$matrix" mirror --to "$work/mirror" --stand-ins "${tags[@]}" "${sizes[@]}" >/dev/null
# Warm the download cache first: both tools start from the same files.
"$matrix" fetch "${tags[@]}" --mirror "$mirror" --cache "$work/cache" >/dev/null 2>&1

now() { date +%s.%N; }
peak_kb() { awk '/Maximum resident/ {print $6}' "$1"; }

start=$(now)
/usr/bin/time -v -o "$work/time.txt" "$matrix" build "${tags[@]}" "${select[@]}" --skip-images --mirror "$mirror" \
  --cache "$work/cache" --out "$work/matrix-oci" --jobs "$(nproc)" >/dev/null 2>&1
matrix_s=$(echo "$(now) - $start" | bc)
rss_kb=$(peak_kb "$work/time.txt")

# Let the cold build's writes reach the disk first, so the unchanged run
# is not timed waiting on another run's writeback.
sync
start=$(now)
"$matrix" build "${tags[@]}" "${select[@]}" --skip-images --mirror "$mirror" --cache "$work/cache" \
  --out "$work/matrix-oci" >/dev/null 2>&1
unchanged_s=$(echo "$(now) - $start" | bc)

# The same merged contexts on disk for buildah (not timed).
for tag in "${tags[@]}"; do
  for cri in containerd docker; do for arch in amd64 arm64; do
    "$matrix" render "$tag" --cri "$cri" --arch "$arch" --out "$work/contexts/$tag/$cri-$arch" \
      --binaries --mirror "$mirror" --cache "$work/cache" >/dev/null
  done; done
done
mapfile -t contexts < <(find "$work/contexts" -name Kubefile -printf '%h\n' | sort)

start=$(now)
n=0
for dir in "${contexts[@]}"; do
  n=$((n + 1))
  buildah --storage-driver vfs --root "$work/containers" --runroot "$work/run" bud --quiet \
    --isolation chroot -f "$dir/Kubefile" -t "cell$n" "$dir" >/dev/null
  buildah --storage-driver vfs --root "$work/containers" --runroot "$work/run" push --quiet \
    "cell$n" "oci:$work/buildah-oci:cell$n" >/dev/null
done
buildah_s=$(echo "$(now) - $start" | bc)

matrix_bytes=$(du -sb --exclude=.matrix "$work/matrix-oci" | cut -f1)
buildah_bytes=$(du -sb "$work/buildah-oci" | cut -f1)
printf 'build benchmark (%s, %s cores, %s cells)\n' "$(date -u +%F)" "$(nproc)" "${#contexts[@]}"
printf '| | matrix | buildah bud + push | ratio |\n|---|---|---|---|\n'
printf '| cold build (s) | %.2f | %.2f | %.1fx faster |\n' "$matrix_s" "$buildah_s" "$(echo "$buildah_s / $matrix_s" | bc -l)"
printf '| unchanged rebuild (s) | %.3f (%.1f%% of cold) | | |\n' "$unchanged_s" "$(echo "100 * $unchanged_s / $matrix_s" | bc -l)"
printf '| peak RSS (MB) | %s | | |\n' "$((rss_kb / 1024))"
printf '| bytes in store (MB) | %s | %s | %.2f |\n' "$((matrix_bytes / 1000000))" "$((buildah_bytes / 1000000))" \
  "$(echo "$matrix_bytes / $buildah_bytes" | bc -l)"
