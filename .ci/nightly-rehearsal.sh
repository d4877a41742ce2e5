#!/usr/bin/env bash
# A local rehearsal of .github/workflows/nightly.yml: the same matrix
# commands in the same order, against two loopback docker-registry
# instances (the primary publish target and a lagging mirror) seeded with
# part of labring's published list, with stand-in binaries and images.
#
# It shows the first diff's missing set, builds exactly that, pushes it,
# brings the mirror level, proves 0 missing on every target and verifies
# what was pushed; then a second run must build and push nothing.
#
# Usage: bash .ci/nightly-rehearsal.sh   (MATRIX_BIN=path/to/matrix to pick
# the binary; default $CARGO_TARGET_DIR (else target)/debug/matrix, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

matrix_bin=${MATRIX_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/matrix}
if [ ! -x "$matrix_bin" ]; then
  cargo build --locked --quiet
fi
for tool in docker-registry jq skopeo; do
  command -v "$tool" >/dev/null || { echo "rehearsal needs $tool (.ci/test.sh installs it)" >&2; exit 1; }
done

# The slice of the real plan rehearsed: containerd images of three
# Kubernetes 1.33 patches labring published for sealos 5.0.1 (frozen), and
# the same patches plus 1.33.13 for 5.1.1 (new work: labring published
# nothing for 5.1), 7 indexes in all.
selection=(--kube "1.33.1,1.33.2,1.33.3,1.33.13" --sealos "5.0.1,5.1.1" --cri containerd)
published=tests/data/published-rootfs-tags.txt

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

m() { "$matrix_bin" "$@"; }

free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

# start_registry NAME: a docker-registry on 127.0.0.1, data in $work/NAME.
start_registry() {
  local name=$1 port
  port=$(free_port)
  mkdir -p "$work/$name"
  cat >"$work/$name.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/$name
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
  docker-registry serve "$work/$name.yml" >/dev/null 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "127.0.0.1:$port/labring"
      return
    fi
    sleep 0.05
  done
  echo "docker-registry $name did not start" >&2
  exit 1
}

primary=$(start_registry primary)
mirror=$(start_registry mirror)
export MATRIX_CACHE="$work/cache"

echo "== stand-ins for ${selection[*]}"
m mirror --stand-ins --to "$work/standins" "${selection[@]}" >/dev/null
offline=(--mirror "file://$work/standins" --image-layout "$work/standins/images")

echo "== seeding: the published index tags of the slice on the primary, half of them on the mirror"
m plan "${selection[@]}" --json | jq -r '.[] | "\(.image):\(.index_tag)"' | sort -u >"$work/indexes.txt"
grep -xFf "$published" "$work/indexes.txt" >"$work/seed.txt" || true
seeded=$(wc -l <"$work/seed.txt")
[ "$seeded" -gt 2 ] || { echo "the slice has no published tags to seed" >&2; exit 1; }
mapfile -t seed <"$work/seed.txt"
m build "${seed[@]}" "${offline[@]}" --out "$work/seed-oci" >/dev/null
m push "${seed[@]}" --from "$work/seed-oci" --to "$primary" >/dev/null
m push "${seed[@]:0:$((seeded / 2))}" --from "$work/seed-oci" --to "$mirror" >/dev/null
echo "seeded $seeded indexes on the primary, $((seeded / 2)) on the mirror"

# missing REG: planned tags of the slice REG lacks.
missing() {
  local code=0
  m diff --registry "$1" "${selection[@]}" --from "$work/none" --json >"$work/diff.json" || code=$?
  [ "$code" -eq 0 ] || [ "$code" -eq 3 ] || { echo "diff failed ($code)" >&2; exit 1; }
  jq '[.[].missing] | add' "$work/diff.json"
}

# nightly RUN: the workflow's steps after the version refresh.
nightly() {
  local run=$1 out="$work/oci-$1"
  echo "== nightly run $run"
  local before_primary before_mirror
  before_primary=$(missing "$primary")
  before_mirror=$(missing "$mirror")
  echo "missing before: primary $before_primary, mirror $before_mirror"

  # plan job: shards of what the primary lacks, both arches per job.
  m plan "${selection[@]}" --missing-from "$primary" --from "$out" --format github --jobs 2 >"$work/jobs.json"
  local jobs
  jobs=$(jq '.include | length' "$work/jobs.json")
  echo "jobs: $jobs ($(jq -r '[.include[].tags] | join(" ")' "$work/jobs.json"))"

  # build jobs: each builds and pushes its shard's tags.
  local built=0 bytes=0 tags_put=0
  for index in $(seq 0 $((jobs - 1))); do
    read -r -a tags <<<"$(jq -r ".include[$index].tags" "$work/jobs.json")"
    m build "${tags[@]}" "${offline[@]}" --out "$out" --json >"$work/build.json"
    built=$((built + $(jq '.built' "$work/build.json")))
    m push "${tags[@]}" --from "$out" --to "$primary" --json >"$work/push.json"
    bytes=$((bytes + $(jq '.bytes_sent' "$work/push.json")))
    tags_put=$((tags_put + $(jq '.tags_put' "$work/push.json")))
    if [ "$run" = 1 ]; then
      m verify "${tags[@]}" --registry "$primary" >"$work/verify.txt" || { cat "$work/verify.txt"; exit 1; }
      echo "verified from the primary: $(tail -n 1 "$work/verify.txt")"
    fi
  done

  # mirrors job: bring every other target level with the primary.
  m sync --from "$primary" --to "$mirror" "${selection[@]}" --json >"$work/sync.json"
  local synced sync_bytes
  synced=$(jq '.tags_copied' "$work/sync.json")
  sync_bytes=$(jq '.bytes_sent' "$work/sync.json")

  local after_primary after_mirror
  after_primary=$(missing "$primary")
  after_mirror=$(missing "$mirror")
  echo "built $built images; pushed $tags_put tags ($bytes bytes); synced $synced tags to the mirror ($sync_bytes bytes)"
  echo "missing after: primary $after_primary, mirror $after_mirror"
  if [ "$after_primary" -ne 0 ] || [ "$after_mirror" -ne 0 ]; then
    echo "FAIL: tags still missing" >&2
    exit 1
  fi
  if [ "$run" = 1 ] && { [ "$before_primary" -eq 0 ] || [ "$jobs" -eq 0 ] || [ "$built" -eq 0 ]; }; then
    echo "FAIL: run 1 had no work" >&2
    exit 1
  fi
  if [ "$run" = 2 ] && { [ "$jobs" -ne 0 ] || [ "$built" -ne 0 ] || [ "$tags_put" -ne 0 ] || [ "$synced" -ne 0 ]; }; then
    echo "FAIL: the second run did work ($jobs jobs, $built built, $tags_put tags, $synced synced)" >&2
    exit 1
  fi
}

nightly 1
nightly 2

# chatops COMMENT TITLE [BUILD FLAGS...]: the ChatOps workflow's steps
# (parse -> build -> push -> verify -> answer) for one comment, pushing to
# the primary; the answer text is in $work/chat/answer.md.
chatops() {
  local comment=$1 title=$2 outcome=success
  shift 2
  rm -rf "$work/chat"
  mkdir -p "$work/chat"
  COMMENT=$comment TITLE=$title MATRIX=$matrix_bin GITHUB_OUTPUT="$work/chat/outputs" \
    bash .github/scripts/chatops.sh parse >/dev/null
  field() { sed -n "s/^$1=//p" "$work/chat/outputs"; }
  local phase
  for phase in build push; do
    KIND=$(field kind) NAME=$(field name) VERSION=$(field version) ARGS=$(field args) \
      APPS_TARGET=$primary WORK="$work/chat" OUT="$work/chat-oci" BUILD_FLAGS="$*" MATRIX=$matrix_bin \
      bash .github/scripts/chatops.sh "$phase" 2>>"$work/chat/build.err" || { outcome=failure; break; }
  done
  OUTCOME=$outcome WORK="$work/chat" bash .github/scripts/chatops.sh answer >/dev/null
  echo "-- $comment: $outcome"
  sed 's/^/   /' "$work/chat/answer.md"
}

# answer_lists_index IMAGE:TAG: the answer names the multi-arch index tag
# with the digest the primary serves for it (sha256 of its bytes).
answer_lists_index() {
  local raw digest
  raw=$(skopeo inspect --tls-verify=false --raw "docker://$primary/$1")
  [ "$(jq '.manifests | length' <<<"$raw")" -ge 1 ] || { echo "FAIL: $1 is not an index on the primary" >&2; exit 1; }
  digest=sha256:$(printf '%s' "$raw" | sha256sum | cut -d' ' -f1)
  grep -qF "| \`$primary/$1\` | \`$digest\` |" "$work/chat/answer.md" ||
    { echo "FAIL: the answer does not list the index $1 ($digest)" >&2; exit 1; }
  echo "   the answer lists the index $1 as pushed: $digest"
}

echo "== chatops: a k8s command"
k8s_tag=$(sed -n 's/^kubernetes:\(v[0-9.]*-5\.0\.1\)$/\1/p' "$work/indexes.txt" | tail -n 1)
chatops "/imagebuild_k8s $k8s_tag cri=containerd" "【Auto-build】kubernetes" "${offline[@]}"
grep -q "kubernetes:$k8s_tag-arm64" "$work/chat/answer.md" || { echo "FAIL: no k8s answer" >&2; exit 1; }
answer_lists_index "kubernetes:$k8s_tag"
echo "== chatops: a docker k8s command (stand-ins of the docker CRI's cells)"
m mirror --stand-ins --to "$work/standins-docker" "$k8s_tag" --cri docker >/dev/null
chatops "/imagebuild_docker_k8s $k8s_tag" "【Auto-build】kubernetes" \
  --mirror "file://$work/standins-docker" --image-layout "$work/standins-docker/images"
grep -q "kubernetes-docker:$k8s_tag-amd64" "$work/chat/answer.md" || { echo "FAIL: no docker k8s answer" >&2; cat "$work/chat/build.err" >&2; exit 1; }
answer_lists_index "kubernetes-docker:$k8s_tag"
chatops "/imagebuild_k8s v1.33.0-4.0.0" "【Auto-build】kubernetes"
grep -q "not planned" "$work/chat/answer.md" || { echo "FAIL: an unplanned selection was not refused" >&2; exit 1; }

if command -v buildah >/dev/null && [ -x /bin/busybox ]; then
  echo "== chatops: a dockerimages command (a busybox-static base on the primary)"
  b=(buildah --root "$work/buildah/storage" --runroot "$work/buildah/run" --storage-driver vfs)
  mkdir -p "$work/base"
  cp /bin/busybox "$work/base/busybox"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' >"$work/base/Dockerfile"
  "${b[@]}" bud --quiet --isolation chroot --platform linux/amd64 -t localhost/base:1 "$work/base" >/dev/null
  base=${primary%/labring}/library/busybox:stand-in
  "${b[@]}" push --quiet --tls-verify=false localhost/base:1 "docker://$base"
  chatops "/imagebuild_dockerimages busybox-demo 1.0.0" "【Auto-build】busybox-demo" \
    --arch amd64 --build-arg "BASE=$base" --insecure
  grep -q "busybox-demo:1.0.0" "$work/chat/answer.md" || { echo "FAIL: no dockerimages answer" >&2; cat "$work/chat/build.err" >&2; exit 1; }
  answer_lists_index "busybox-demo:1.0.0"
  skopeo inspect --tls-verify=false "docker://$primary/busybox-demo:1.0.0" | jq -r '"read back: \(.Architecture) \(.Digest)"'

  echo "== the rebuild schedule"
  printf '# rehearsal\ndockerimages busybox-demo 2.0.0\n' >"$work/schedule.txt"
  SCHEDULE="$work/schedule.txt" APPS_TARGET=$primary WORK="$work" OUT="$work/chat-oci" MATRIX=$matrix_bin \
    BUILD_FLAGS="--arch amd64 --build-arg BASE=$base --insecure" bash .github/scripts/chatops.sh schedule
  skopeo inspect --tls-verify=false "docker://$primary/busybox-demo:2.0.0" | jq -r '"scheduled rebuild read back: \(.Architecture) \(.Digest)"'
else
  echo "== chatops: dockerimages skipped (needs buildah and busybox-static)"
fi
echo "rehearsal passed"
