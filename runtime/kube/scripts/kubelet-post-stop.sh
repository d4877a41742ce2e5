#!/usr/bin/env bash
# Runs after kubelet stops: unmounts what pods left mounted under the
# kubelet folder, so a later clean can delete it.
set -u

kubelet_dir=/var/lib/kubelet
if command -v findmnt >/dev/null 2>&1; then
  findmnt -rn -o TARGET | grep "^$kubelet_dir/pods/" | sort -r | while read -r target; do
    umount "$target" >/dev/null 2>&1 || true
  done
fi
exit 0
