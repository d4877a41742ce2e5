#!/usr/bin/env bash
# The steps of .github/workflows/apps.yml.
#
#   chatops.sh parse    parse $COMMENT (with $TITLE) into kind/name/version outputs
#   chatops.sh build    build $KIND $NAME $VERSION for both arches (no credentials)
#   chatops.sh push     push what build wrote (credentials written just before)
#   chatops.sh answer   comment the tags and digests (or the failure) on $ISSUE
#
# Environment: MATRIX (the binary), GITHUB_OUTPUT, REGISTRY_AUTH_FILE,
# GH_TOKEN, APPS_TARGET (default: the first `publish` target).
set -euo pipefail
cd "$(dirname "$0")/../.."

matrix=${MATRIX:-matrix}
output=${GITHUB_OUTPUT:-/dev/null}

case ${1:-} in
  parse)
    # The comment is hostile input: it reaches matrix on stdin only.
    printf '%s' "${COMMENT:-}" | "$matrix" chatops parse --title "${TITLE:-}" | tee -a "$output"
    ;;
  build | push)
    case ${KIND:?} in
      apps) noun=app ;;
      configs) noun=config ;;
      *) echo "unknown kind $KIND" >&2; exit 2 ;;
    esac
    if [ "$1" = build ]; then
      # Its own session, so every process init.sh or RUN left behind is
      # killed with it before credentials are written for the push.
      status=0
      setsid --wait "$matrix" "$noun" build "${NAME:?}" "${VERSION:?}" --json >app-build.json &
      leader=$!
      wait "$leader" || status=$?
      kill -KILL -- "-$leader" 2>/dev/null || true
      exit "$status"
    fi
    target=${APPS_TARGET:-$("$matrix" diff --list-targets | head -n 1)}
    "$matrix" "$noun" push "$NAME" "$VERSION" --to "$target" --json >app-push.json
    ;;
  answer)
    {
      if [ "${OUTCOME:-}" = "success" ] && [ -f app-push.json ]; then
        echo "Built and pushed:"
        echo
        echo "| image | digest |"
        echo "|---|---|"
        jq -r '.pushed[] | "| `\(.reference)` | `\(.digest)` |"' app-push.json
      else
        echo "The build failed: ${RUN_URL:-see the workflow run}"
      fi
    } >answer.md
    gh issue comment "${ISSUE:?}" --body-file answer.md
    ;;
  *)
    sed -n '2,11p' "$0" >&2
    exit 2
    ;;
esac
