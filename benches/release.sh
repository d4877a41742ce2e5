#!/usr/bin/env bash
# New-release benchmark: the matrix gains one sealos release (5.0.1) over
# every patch of 1.27 and 1.28 that the previous release (5.0.0) also has,
# all three CRIs, both arches. Built cold into an empty store, then built into a
# store that already holds the previous release (5.0.0). Prints the cost of
# the second against the first, the bytes each wrote and peak RSS.
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

"$matrix" mirror --to mirror --stand-ins "${select[@]}" --sealos 5.0.0,5.0.1 "${sizes[@]}" \
  --stand-in-payload "$payload" >/dev/null
"$matrix" fetch "${select[@]}" --sealos 5.0.0,5.0.1 --mirror "file://$work/mirror" --cache cache >/dev/null 2>&1
cells=$("$matrix" plan "${select[@]}" --sealos 5.0.1 --json | grep -c '"arch"')

now() { date +%s.%N; }
store_bytes() { du -sb --exclude=.matrix "$1" | cut -f1; }
build() { "$matrix" build "${select[@]}" --sealos "$1" --skip-images --mirror "file://$work/mirror" --cache cache --out "$2" >/dev/null 2>&1; }

start=$(now)
build 5.0.1 cold/oci
cold_s=$(echo "$(now) - $start" | bc)
cold_bytes=$(store_bytes cold/oci)

build 5.0.0 store/oci
before=$(store_bytes store/oci)
# The earlier builds' writes reach the disk first (not timed, as for cold).
sync
start=$(now)
/usr/bin/time -v -o time.txt "$matrix" build "${select[@]}" --sealos 5.0.1 --skip-images --mirror "file://$work/mirror" \
  --cache cache --out store/oci >/dev/null 2>&1
new_s=$(echo "$(now) - $start" | bc)
new_bytes=$(( $(store_bytes store/oci) - before ))
rss_kb=$(awk '/Maximum resident/ {print $6}' time.txt)

printf 'new-release benchmark (%s, %s cores, %s cells of sealos 5.0.1 over 5.0.0)\n' "$(date -u +%F)" "$(nproc)" "$cells"
printf '| | cold (empty store) | over the previous release | ratio |\n|---|---|---|---|\n'
printf '| time (s) | %.2f | %.2f | %.1f%% |\n' "$cold_s" "$new_s" "$(echo "100 * $new_s / $cold_s" | bc -l)"
printf '| bytes written (MB) | %.1f | %.1f | %.1f%% |\n' "$(echo "$cold_bytes / 1000000" | bc -l)" \
  "$(echo "$new_bytes / 1000000" | bc -l)" "$(echo "100 * $new_bytes / $cold_bytes" | bc -l)"
printf '| peak RSS (MB) | | %s | |\n' "$((rss_kb / 1024))"
