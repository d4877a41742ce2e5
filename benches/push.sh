#!/usr/bin/env bash
# Push benchmark on loopback: one new patch release, every CRI of it
# (containerd, docker, cri-o) x both arches, 6 images that share their
# Kubernetes layer per arch, pushed to Debian's docker-registry into three
# repositories (kubernetes, kubernetes-docker, kubernetes-crio). Shared
# layers go up once and are mounted across repositories after that.
# Prints bytes uploaded against the sum of the image sizes (each image's
# config and layers, read from the layout, not from matrix's own report),
# and blobs mounted. Stand-ins carry real Go programs (benches/payload.sh).
# Needs docker-registry and pip. Usage: bash benches/push.sh
set -euo pipefail
trap 'echo "benches/push.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
command -v docker-registry >/dev/null || { echo "docker-registry is needed: apt-get install -y docker-registry" >&2; exit 1; }
source benches/payload.sh
payload=$(real_payload)
cargo build --release --quiet
matrix=$PWD/target/release/matrix
work=$(mktemp -d)
trap 'kill "${registry_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
tag=v1.33.3-5.0.1
export SOURCE_DATE_EPOCH=0

"$matrix" mirror --to "$work/mirror" --stand-ins "$tag" --stand-in-size kubelet=110M \
  --stand-in-size kubeadm=45M --stand-in-size kubectl=45M --stand-in-size containerd=50M \
  --stand-in-size docker=50M --stand-in-size cri-o=50M --stand-in-payload "$payload" >/dev/null
"$matrix" build "$tag" --cri containerd,docker,crio --skip-images --mirror "file://$work/mirror" \
  --cache "$work/cache" --out "$work/oci" >/dev/null 2>&1

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
YAML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry_pid=$!
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done

start=$(date +%s.%N)
report=$("$matrix" push "$tag" --cri containerd,docker,crio --from "$work/oci" --to "127.0.0.1:$port/labring" --json 2>/dev/null)
push_s=$(echo "$(date +%s.%N) - $start" | bc)

# Sum of the per-arch images' sizes and the unique bytes among them.
sizes=$(python3 - "$work/oci" <<'PY'
import json, os, sys
root = sys.argv[1]
def blob(digest):
    with open(os.path.join(root, 'blobs', *digest.split(':'))) as f:
        return json.load(f)
total, unique, images, seen = 0, {}, 0, set()
def walk(desc):
    global total, images
    if desc['digest'] in seen:
        return
    seen.add(desc['digest'])
    doc = blob(desc['digest'])
    if 'manifests' in doc:
        for child in doc['manifests']:
            walk(child)
    elif 'layers' in doc and 'subject' not in doc:
        images += 1
        for part in [doc['config']] + doc['layers']:
            total += part['size']
            unique[part['digest']] = part['size']
for desc in json.load(open(os.path.join(root, 'index.json')))['manifests']:
    walk(desc)
print(images, total, sum(unique.values()))
PY
)
read -r images total unique <<<"$sizes"
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$report" "$1"; }
sent=$(field bytes_sent)
printf 'push benchmark (%s, %s cores, %s: 3 CRIs x 2 arches, loopback docker-registry)\n' "$(date -u +%F)" "$(nproc)" "$tag"
printf '| per-arch images | sum of image sizes (MB) | unique blob bytes (MB) | uploaded (MB) | uploaded / sum | blobs mounted | time (s) |\n|---|---|---|---|---|---|---|\n'
printf '| %s | %.1f | %.1f | %.1f | %.1f%% | %s | %.2f |\n' "$images" "$(echo "$total / 1000000" | bc -l)" \
  "$(echo "$unique / 1000000" | bc -l)" "$(echo "$sent / 1000000" | bc -l)" "$(echo "100 * $sent / $total" | bc -l)" \
  "$(field blobs_mounted)" "$push_s"
