#!/usr/bin/env bash
# The steps of .github/workflows/nightly.yml, one subcommand each, so the
# workflow holds no logic and `bash .ci/nightly-rehearsal.sh` runs the same
# matrix commands locally.
#
#   nightly.sh refresh          refresh matrix.lock; propose a changed lock as a pull request
#   nightly.sh plan             diff every publish target; write the build job matrix
#   nightly.sh build TAGS...    build a shard's index tags (no credentials needed)
#   nightly.sh push TAGS...     push them to the primary target (after build.json)
#   nightly.sh mirrors          bring every other publish target level with the primary
#   nightly.sh check TAGS...    final diff (0 missing everywhere), verify of what was pushed, report.html
#
# Environment: MATRIX (the binary, default `matrix`), FILTER (axis filters,
# e.g. "--kube 1.33"), JOBS (build jobs), GITHUB_OUTPUT and
# GITHUB_STEP_SUMMARY (set by Actions), REGISTRY_AUTH_FILE (credentials;
# never printed), GH_TOKEN (refresh only).
set -euo pipefail
cd "$(dirname "$0")/../.."

matrix=${MATRIX:-matrix}
read -r -a filter <<<"${FILTER:-}"
summary=${GITHUB_STEP_SUMMARY:-/dev/null}
output=${GITHUB_OUTPUT:-/dev/null}

# The publish targets of matrix.toml, the first being the primary.
targets() { "$matrix" diff --list-targets; }
primary() { targets | head -n 1; }

# diff_table: one markdown row per target with missing, stale and
# unexpected counts; the sum of missing goes to missing.total.
diff_table() {
  local target code total=0
  echo "| target | missing | stale | unexpected |"
  echo "|---|---:|---:|---:|"
  while read -r target; do
    code=0
    "$matrix" diff --registry "$target" "${filter[@]}" --json >diff.json || code=$?
    if [ "$code" -ne 0 ] && [ "$code" -ne 3 ] && [ "$code" -ne 4 ]; then
      echo "diff against $target failed ($code)" >&2
      return 1
    fi
    jq -r --arg t "$target" '"| \($t) | \([.[].missing] | add) | \([.[].stale] | add) | \([.[].unexpected] | add) |"' diff.json
    total=$((total + $(jq '[.[].missing] | add' diff.json)))
  done < <(targets)
  echo "$total" >missing.total
}

case ${1:-} in
  refresh)
    # Kubernetes patches from the registry, k3s builds and sealos releases
    # (reported for a human to add) from the GitHub API.
    "$matrix" versions --refresh --github "${GITHUB_API_URL:-https://api.github.com}" --kubeadm https://dl.k8s.io | tee -a "$summary"
    if git diff --quiet -- matrix.lock; then
      echo "matrix.lock is current" | tee -a "$summary"
      exit 0
    fi
    branch="versions/$(date -u +%Y-%m-%d)"
    git switch -c "$branch"
    git add matrix.lock
    git -c user.name="matrix nightly" -c user.email="matrix-nightly@users.noreply.github.com" \
      commit -m "matrix.lock: new Kubernetes releases ($(date -u +%Y-%m-%d))"
    git push --force origin "$branch"
    gh pr create --head "$branch" --title "New Kubernetes releases" \
      --body "\`matrix versions --refresh\` found new releases. Review \`matrix diff\` in the nightly summary, then merge." ||
      echo "a pull request for $branch is already open"
    ;;
  plan)
    {
      echo "## Planned vs published"
      diff_table
    } >>"$summary"
    "$matrix" plan "${filter[@]}" --missing-from "$(primary)" --format github --jobs "${JOBS:-8}" >jobs.json
    echo "matrix=$(jq -c . jobs.json)" >>"$output"
    echo "count=$(jq '.include | length' jobs.json)" >>"$output"
    echo "build jobs: $(jq '.include | length' jobs.json)"
    ;;
  build)
    shift
    [ "$#" -gt 0 ] || { echo "nightly.sh build: no tags" >&2; exit 2; }
    "$matrix" build "$@" --json >build.json
    ;;
  push)
    shift
    [ "$#" -gt 0 ] || { echo "nightly.sh push: no tags" >&2; exit 2; }
    "$matrix" push "$@" --to "$(primary)" --json >push.json
    {
      echo "| image | tag | digest | status |"
      echo "|---|---|---|---|"
      jq -r '.cells[] | "| \(.image) | \(.tag) | `\(.digest // "-")` | \(.status) |"' build.json
      jq -r '"\n\(.tags_put) tags pushed, \(.tags_unchanged) unchanged; \(.blobs_sent) blobs (\(.bytes_sent) bytes) sent, \(.blobs_skipped) skipped"' push.json
    } >>"$summary"
    ;;
  mirrors)
    from=$(primary)
    while read -r target; do
      [ "$target" = "$from" ] && continue
      "$matrix" sync --from "$from" --to "$target" "${filter[@]}"
    done < <(targets)
    ;;
  check)
    {
      echo "## After the run"
      diff_table
    } >>"$summary"
    mapfile -t registries < <(targets | sed 's/^/--registry=/')
    "$matrix" report "${registries[@]}" --html report.html
    missing=$(cat missing.total)
    if [ "$missing" -ne 0 ]; then
      echo "::error::$missing planned tags are still missing"
      exit 1
    fi
    shift
    if [ "$#" -gt 0 ]; then
      "$matrix" verify "$@" --registry "$(primary)" | tee -a "$summary"
    fi
    ;;
  *)
    sed -n '2,16p' "$0" >&2
    exit 2
    ;;
esac
