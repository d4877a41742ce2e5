#!/usr/bin/env bash
# The steps of the ChatOps workflows (.github/workflows/apps.yml for
# /imagebuild_apps, _configs, _dockerimages, _k8s and _docker_k8s;
# .github/workflows/hosted.yml for /imagebuild_hosted).
#
#   chatops.sh parse    parse $COMMENT (with $TITLE) into kind/name/version (or args) outputs
#   chatops.sh build    build what $KIND names ($NAME $VERSION, or $ARGS); no credentials
#   chatops.sh push     push what build wrote and verify it (credentials written just before)
#   chatops.sh answer   comment the tags and digests (or the failure) on $ISSUE
#   chatops.sh schedule [build|push]  build every line of schedule.txt, then push
#                       what built (nightly; credentials only for push)
#
# Environment: MATRIX (the binary), GITHUB_OUTPUT, REGISTRY_AUTH_FILE,
# GH_TOKEN, APPS_TARGET (default: the first `publish` target), WORK (where
# the step files go, default .), OUT (the OCI layout, default out/oci),
# BUILD_FLAGS (the operator's extra build flags, e.g. the rehearsal's
# offline sources; never from the comment).
set -euo pipefail
cd "$(dirname "$0")/../.."

matrix=${MATRIX:-matrix}
output=${GITHUB_OUTPUT:-/dev/null}
work=${WORK:-.}
out=${OUT:-out/oci}
read -r -a flags <<<"${BUILD_FLAGS:-}"

# A k8s selection must be planned: each tag word is explained, and one
# that is not planned stops the build with explain's reason (the answer
# shows it).
check_planned() {
  local word skip=0 status
  for word in "$@"; do
    if [ "$skip" -eq 1 ]; then skip=0; continue; fi
    case $word in
      --*) skip=1; continue ;;
    esac
    status=$("$matrix" explain "$word" --json | jq -r .status)
    if [ "$status" != "planned" ]; then
      "$matrix" explain "$word" >"$work/refused.txt"
      echo "$word is not planned:" >&2
      cat "$work/refused.txt" >&2
      exit 2
    fi
  done
}

# Runs a build in its own session: every process init.sh or RUN left
# behind is killed with its group when it ends, before credentials are
# written for the push.
isolated() {
  local leader status=0
  setsid --wait "$@" &
  leader=$!
  wait "$leader" || status=$?
  kill -KILL -- "-$leader" 2>/dev/null || true
  return "$status"
}

case ${1:-} in
  parse)
    # The comment is hostile input: it reaches matrix on stdin only.
    printf '%s' "${COMMENT:-}" | "$matrix" chatops parse --title "${TITLE:-}" | tee -a "$output"
    ;;
  build | push)
    phase=$1
    target=${APPS_TARGET:-$("$matrix" diff --list-targets | head -n 1)}
    case ${KIND:?} in
      apps | configs | hosted | dockerimages)
        case $KIND in
          apps) noun=(app) ; arch=() ;;
          hosted) noun=(app) ; arch=(--arch amd64) ;;
          configs) noun=(config) ; arch=() ;;
          dockerimages) noun=(docker) ; arch=() ;;
        esac
        if [ "$phase" = build ]; then
          isolated "$matrix" "${noun[@]}" build "${NAME:?}" "${VERSION:?}" "${arch[@]}" "${flags[@]}" --out "$out" --json >"$work/build.json"
        else
          "$matrix" "${noun[@]}" push "${NAME:?}" "${VERSION:?}" --from "$out" --to "$target" --json >"$work/push.json"
        fi
        ;;
      k8s | docker_k8s)
        # ARGS holds only words `matrix chatops parse` let through
        # ([A-Za-z0-9._-] and --kube/--sealos/--cri/--arch): split on purpose.
        read -r -a selection <<<"${ARGS:?}"
        if [ "$phase" = build ]; then
          check_planned "${selection[@]}"
          isolated "$matrix" build "${selection[@]}" "${flags[@]}" --out "$out" --json >"$work/build.json"
          exit 0
        fi
        "$matrix" push "${selection[@]}" --from "$out" --to "$target" --json >"$work/push.json"
        "$matrix" verify "${selection[@]}" --registry "$target" --json >"$work/verify.json"
        ;;
      *) echo "unknown kind $KIND" >&2; exit 2 ;;
    esac
    ;;
  schedule)
    # Two phases, so registry credentials exist only for the push
    # (nightly.yml writes them between the steps): `schedule build` builds
    # every line in its own session and lists what built; `schedule push`
    # pushes those and fails if any line failed. No phase: both, in turn.
    phase=${2:-all}
    if [ "$phase" = build ] || [ "$phase" = all ]; then
      # Lines `matrix chatops schedule` checked: KIND NAME VERSION, safe words.
      "$matrix" chatops schedule "${SCHEDULE:-schedule.txt}" >"$work/scheduled.txt"
      : >"$work/scheduled-built.txt"
      failed=0
      while read -r kind name version; do
        echo "== build $kind $name $version"
        if KIND=$kind NAME=$name VERSION=$version bash "$0" build; then
          echo "$kind $name $version" >>"$work/scheduled-built.txt"
        else
          failed=$((failed + 1))
        fi
      done <"$work/scheduled.txt"
      echo "$failed" >"$work/scheduled-failed.txt"
    fi
    if [ "$phase" = push ] || [ "$phase" = all ]; then
      failed=$(cat "$work/scheduled-failed.txt" 2>/dev/null || echo 1)
      while read -r kind name version; do
        echo "== push $kind $name $version"
        KIND=$kind NAME=$name VERSION=$version bash "$0" push || failed=$((failed + 1))
      done <"$work/scheduled-built.txt"
      [ "$failed" -eq 0 ] || { echo "::error::$failed scheduled rebuilds failed"; exit 1; }
    fi
    ;;
  answer)
    {
      if [ "${OUTCOME:-}" = "success" ] && [ -f "$work/push.json" ]; then
        echo "Built and pushed:"
        echo
        echo "| image | digest |"
        echo "|---|---|"
        if jq -e '.pushed' "$work/push.json" >/dev/null 2>&1; then
          jq -r '.pushed[] | "| `\(.reference)` | `\(.digest)` |"' "$work/push.json"
        else
          jq -r '.cells[] | select(.digest != null) | "| `\(.image):\(.tag)` | `\(.digest)` |"' "$work/build.json"
        fi
      elif [ -f "$work/refused.txt" ]; then
        echo "Not built: the selection is not planned."
        echo
        echo '```'
        cat "$work/refused.txt"
        echo '```'
      else
        echo "The build failed: ${RUN_URL:-see the workflow run}"
      fi
    } >"$work/answer.md"
    if [ -n "${ISSUE:-}" ]; then
      gh issue comment "$ISSUE" --body-file "$work/answer.md"
    else
      cat "$work/answer.md"
    fi
    ;;
  *)
    sed -n '2,18p' "$0" >&2
    exit 2
    ;;
esac
