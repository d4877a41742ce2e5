#!/usr/bin/env bash
# Fetch benchmark: stand-in artifacts of realistic size served over a
# loopback HTTP server. Prints cold throughput against curl (same files,
# same server, same run), the warm-cache time, and peak RSS while fetching
# a 1 GiB file. Usage: bash benches/fetch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
matrix=$PWD/target/release/matrix
work=$(mktemp -d)
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
tag=v1.24.4-4.1.3

"$matrix" mirror --to "$work/mirror" --stand-ins kubernetes:$tag \
  --stand-in-size kubelet=110M --stand-in-size kubeadm=45M --stand-in-size kubectl=45M \
  --stand-in-size containerd=50M >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work/mirror" && exec python3 -m http.server --bind 127.0.0.1 "$port" >/dev/null 2>&1) &
server_pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/SHA256SUMS" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$port"
bytes=$(du -sb --exclude=SHA256SUMS "$work/mirror" | cut -f1)

now() { date +%s.%N; }
start=$(now)
"$matrix" fetch kubernetes:$tag --mirror "$base" --cache "$work/cold" --jobs 4 >/dev/null 2>&1
matrix_cold=$(echo "$(now) - $start" | bc)

# The peer does the same work: download to disk, then verify the sums.
start=$(now)
(cd "$work" && mkdir -p curl && cd curl && awk '{print $2}' ../mirror/SHA256SUMS | \
  xargs -P 4 -I{} curl -fs --create-dirs -o "{}" "$base/{}" && sha256sum --quiet -c ../mirror/SHA256SUMS)
curl_cold=$(echo "$(now) - $start" | bc)

start=$(now)
"$matrix" fetch kubernetes:$tag --mirror "$base" --cache "$work/cold" --jobs 4 >/dev/null 2>&1
warm=$(echo "($(now) - $start) * 1000" | bc)

# Peak memory while fetching one 1 GiB artifact.
"$matrix" mirror --to "$work/mirror" --stand-ins kubernetes:v1.24.4-4.1.3-amd64 --stand-in-size kubelet=1G >/dev/null
rss=$( { /usr/bin/time -v "$matrix" fetch kubernetes:v1.24.4-4.1.3-amd64 --mirror "$base" --cache "$work/big" --jobs 4 >/dev/null 2>/dev/null; } 2>&1 | awk '/Maximum resident/ {print $6}')
if [ -z "$rss" ]; then
  rss=$( { /usr/bin/time -v "$matrix" fetch kubernetes:v1.24.4-4.1.3-amd64 --mirror "$base" --cache "$work/big2" --jobs 4 >/dev/null; } 2>&1 | awk '/Maximum resident/ {print $6}')
fi

printf 'fetch benchmark (%s, %s cores)\n' "$(date -u +%F)" "$(nproc)"
printf '  cold: %s MB in %.2f s (matrix) vs %.2f s (curl -P4 + sha256sum -c): ratio matrix/curl %.2f\n' \
  "$((bytes / 1000000))" "$matrix_cold" "$curl_cold" "$(echo "$matrix_cold / $curl_cold" | bc -l)"
printf '  warm cache (nothing to fetch): %.0f ms\n' "$warm"
printf '  peak RSS fetching a 1 GiB artifact: %s MB (goal < 64 MB)\n' "$((rss / 1024))"
