#!/usr/bin/env bash
# New-release benchmark: the matrix gains one sealos release (5.0.1) over
# every patch of 1.27 and 1.28 that the previous release (5.0.0) also has,
# all three CRIs, both arches. Built cold into an empty store, then built into a
# store that already holds the previous release (5.0.0), BENCH_RUNS=3 times
# each, alternating. Prints the cost of the second against the first, the
# bytes each wrote and peak RSS.
# Usage: bash benches/release.sh
set -euo pipefail
trap 'echo "benches/release.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
source benches/payload.sh
payload=$(real_payload)
cargo build --release --quiet
matrix=$PWD/target/release/matrix
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r matrix.toml matrix.lock runtime templates "$work/"
cd "$work"
# Every patch, not only the oldest and newest the shipped rules keep.
sed -i 's/^patches = "oldest+newest"/patches = "all"/' matrix.toml
# The patches both releases are planned for (the rules freeze 5.0.0 to
# fewer patches than 5.0.1): a new release then needs no new Kubernetes.
kubes() { "$matrix" plan --kube 1.27,1.28 --sealos "$1" | cut -f4 | sort -u; }
common=$(comm -12 <(kubes 5.0.0) <(kubes 5.0.1) | sed 's/^v//' | paste -sd,)
select=(--kube "$common")
sizes=(--stand-in-size kubelet=24M --stand-in-size kubeadm=12M --stand-in-size kubectl=12M)
export SOURCE_DATE_EPOCH=0
runs=${BENCH_RUNS:-3}

"$matrix" mirror --to mirror --stand-ins "${select[@]}" --sealos 5.0.0,5.0.1 "${sizes[@]}" \
  --stand-in-payload "$payload" >/dev/null
"$matrix" fetch "${select[@]}" --sealos 5.0.0,5.0.1 --mirror "file://$work/mirror" --cache cache >/dev/null 2>&1
cells=$("$matrix" plan "${select[@]}" --sealos 5.0.1 --json | grep -c '"arch"')

now() { date +%s.%N; }
store_bytes() { du -sb --exclude=.matrix "$1" | cut -f1; }
build() { "$matrix" build "${select[@]}" --sealos "$1" --skip-images --mirror "file://$work/mirror" --cache cache --out "$2" >/dev/null 2>&1; }

# Stores that hold the previous release, one per run (not timed). The
# first build after the fetch also unpacks the CRI archives into the cache,
# so the timed cold builds below start from the same warm cache.
for run in $(seq "$runs"); do
  build 5.0.0 "store-$run/oci"
done
# Cold builds and builds over the previous release alternate; the fastest
# of each counts (this shared VM moves single runs by a fifth, and ext4
# allocates inodes slowly for a minute after many files were deleted).
colds=() news=() rss_kb=0
for run in $(seq "$runs"); do
  sync
  start=$(now)
  build 5.0.1 "cold-$run/oci"
  colds+=("$(echo "$(now) - $start" | bc)")
  before=$(store_bytes "store-$run/oci")
  sync
  start=$(now)
  /usr/bin/time -v -o time.txt "$matrix" build "${select[@]}" --sealos 5.0.1 --skip-images --mirror "file://$work/mirror" \
    --cache cache --out "store-$run/oci" >/dev/null 2>&1
  news+=("$(echo "$(now) - $start" | bc)")
  new_bytes=$(( $(store_bytes "store-$run/oci") - before ))
  kb=$(awk '/Maximum resident/ {print $6}' time.txt)
  [ "$kb" -gt "$rss_kb" ] && rss_kb=$kb
done
cold_s=$(printf '%s\n' "${colds[@]}" | sort -n | head -1)
new_s=$(printf '%s\n' "${news[@]}" | sort -n | head -1)
cold_bytes=$(store_bytes cold-1/oci)

printf 'new-release benchmark (%s, %s cores, %s cells of sealos 5.0.1 over 5.0.0; fastest of %s alternating runs)\n' \
  "$(date -u +%F)" "$(nproc)" "$cells" "$runs"
printf '| | cold (empty store) | over the previous release | ratio |\n|---|---|---|---|\n'
printf '| time (s) | %.2f (%s) | %.2f (%s) | %.1f%% |\n' "$cold_s" "${colds[*]}" "$new_s" "${news[*]}" \
  "$(echo "100 * $new_s / $cold_s" | bc -l)"
printf '| bytes written (MB) | %.1f | %.1f | %.1f%% |\n' "$(echo "$cold_bytes / 1000000" | bc -l)" \
  "$(echo "$new_bytes / 1000000" | bc -l)" "$(echo "100 * $new_bytes / $cold_bytes" | bc -l)"
printf '| peak RSS (MB) | | %s | |\n' "$((rss_kb / 1024))"
