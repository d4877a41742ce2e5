#!/usr/bin/env bash
# Runs before every kubelet start: swap off, the kernel modules and the
# forwarding settings kubelet and kube-proxy (ipvs) need.
set -u

swapoff -a || true
for module in overlay br_netfilter ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack; do
  modprobe "$module" >/dev/null 2>&1 || true
done
sysctl -w net.ipv4.ip_forward=1 >/dev/null 2>&1 || true
sysctl -w net.bridge.bridge-nf-call-iptables=1 >/dev/null 2>&1 || true
sysctl -w net.bridge.bridge-nf-call-ip6tables=1 >/dev/null 2>&1 || true
exit 0
