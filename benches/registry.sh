#!/usr/bin/env bash
# Registry benchmark on loopback: push 8 built cells (2 kube x 2 CRI x
# 2 arch) to a real docker-registry, re-push them (bytes sent should be ~0),
# and time `matrix diff` against 5,000 tags served in pages of 100.
# Needs docker-registry. Usage: bash benches/registry.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v docker-registry >/dev/null || { echo "docker-registry is needed: apt-get install -y docker-registry" >&2; exit 1; }
cargo build --release --quiet
matrix=$PWD/target/release/matrix
work=$(mktemp -d)
trap 'kill "${registry_pid:-0}" "${tags_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
tags=(v1.24.4-4.1.3 v1.25.0-4.1.3)
images=()
for tag in "${tags[@]}"; do images+=("kubernetes:$tag" "kubernetes-docker:$tag"); done
mirror="file://$work/mirror"

"$matrix" mirror --to "$work/mirror" --stand-ins "${tags[@]}" --stand-in-size kubelet=110M \
  --stand-in-size kubeadm=45M --stand-in-size kubectl=45M --stand-in-size containerd=50M \
  --stand-in-size docker=50M >/dev/null
"$matrix" build "${tags[@]}" --cri containerd,docker --skip-images --mirror "$mirror" \
  --cache "$work/cache" --out "$work/oci" >/dev/null 2>&1

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
YAML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry_pid=$!
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done

now() { date +%s.%N; }
start=$(now)
first=$("$matrix" push "${images[@]}" --from "$work/oci" --to "127.0.0.1:$port/labring" --json)
push_s=$(echo "$(now) - $start" | bc)
start=$(now)
again=$("$matrix" push "${images[@]}" --from "$work/oci" --to "127.0.0.1:$port/labring" --json)
repush_s=$(echo "$(now) - $start" | bc)

python3 benches/tags_server.py >"$work/tags.port" &
tags_pid=$!
for _ in $(seq 100); do [ -s "$work/tags.port" ] && break; sleep 0.05; done
tags_port=$(cat "$work/tags.port")
start=$(now)
"$matrix" diff --registry "127.0.0.1:$tags_port/labring" --from "$work/none" --json >/dev/null || true
diff_ms=$(echo "($(now) - $start) * 1000" | bc)

field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
printf 'registry benchmark (%s, %s cores)\n' "$(date -u +%F)" "$(nproc)"
printf '  first push of 8 cells: %s MB sent, %s blobs mounted, %.2f s\n' \
  "$(( $(field "$first" bytes_sent) / 1000000 ))" "$(field "$first" blobs_mounted)" "$push_s"
printf '  re-push: %s bytes sent, %s tags unchanged, %.2f s\n' "$(field "$again" bytes_sent)" \
  "$(field "$again" tags_unchanged)" "$repush_s"
printf '  diff over 5,000 tags in pages of 100 (plus the full plan): %.0f ms\n' "$diff_ms"
