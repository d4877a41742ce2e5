#!/usr/bin/env bash
# Helpers shared by the scripts of a sealos rootfs image; sourced, not run.

# Where binaries from bin/ and cri/ are installed.
readonly BIN_DIR=/usr/bin
# Where systemd units are installed.
readonly UNIT_DIR=/etc/systemd/system

log_info() { printf 'INFO [%s] %s\n' "$(date '+%F %T')" "$*"; }
log_warn() { printf 'WARN [%s] %s\n' "$(date '+%F %T')" "$*" >&2; }
log_error() { printf 'ERROR [%s] %s\n' "$(date '+%F %T')" "$*" >&2; }

# install_bin FILE...: installs each existing file into BIN_DIR, executable.
install_bin() {
  local file
  for file in "$@"; do
    if [ -f "$file" ]; then
      install -m 0755 "$file" "$BIN_DIR/$(basename "$file")"
    fi
  done
}

# install_unit FILE: installs a systemd unit file.
install_unit() {
  install -m 0644 "$1" "$UNIT_DIR/$(basename "$1")"
}

# remove_unit NAME: stops, disables and deletes a systemd unit.
remove_unit() {
  systemctl disable --now "$1" >/dev/null 2>&1 || true
  rm -f "$UNIT_DIR/$1"
}

# wait_for_socket PATH SECONDS: waits until a unix socket exists.
wait_for_socket() {
  local socket=$1 seconds=$2
  while [ "$seconds" -gt 0 ]; do
    [ -S "$socket" ] && return 0
    sleep 1
    seconds=$((seconds - 1))
  done
  log_error "socket $socket did not appear"
  return 1
}

# install_libseccomp ARCHIVE: installs the libseccomp bundle's libraries
# (library/lib/*) when the host has no libseccomp (runc and crun need it).
install_libseccomp() {
  local archive=$1 staging
  if ldconfig -p 2>/dev/null | grep -q libseccomp.so.2; then
    return 0
  fi
  [ -f "$archive" ] || return 0
  staging=$(mktemp -d)
  tar -xzf "$archive" -C "$staging"
  if [ -d "$staging/library/lib" ]; then
    cp -a "$staging"/library/lib/. /usr/lib/
    ldconfig || true
  fi
  rm -rf "$staging"
}
