#!/usr/bin/env bash
# Installs and starts CRI-O from cri/cri-o.tar.gz with runc and crun, with
# libseccomp when the host lacks it; trusts and logs in to the node-local
# registry. Usage: init-crio.sh DOMAIN PORT [USERNAME PASSWORD]
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=common.sh
source common.sh

registry="${1:?registry domain}:${2:?registry port}"
username=${3:-}
password=${4:-}

install_libseccomp ../cri/libseccomp.tar.gz
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
tar -xzf ../cri/cri-o.tar.gz -C "$staging"
install_bin "$staging"/cri-o/bin/* ../cri/runc ../cri/crun

mkdir -p /etc/crio /etc/containers
install -m 0644 ../etc/crio.conf /etc/crio/crio.conf
install -m 0644 ../etc/policy.json /etc/containers/policy.json
install -m 0644 ../etc/crictl.yaml /etc/crictl.yaml
auth="{}"
if [ -n "$username" ]; then
  token=$(printf '%s:%s' "$username" "$password" | base64 -w0)
  auth=$(printf '{"auths":{"%s":{"auth":"%s"}}}' "$registry" "$token")
fi
(umask 077 && printf '%s\n' "$auth" >/etc/crio/auth.json)
install_unit ../etc/crio.service
systemctl daemon-reload
systemctl enable --now crio.service
wait_for_socket /var/run/crio/crio.sock 60
log_info "cri-o started, trusting $registry"
