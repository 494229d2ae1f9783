#!/usr/bin/env bash
# Installs what building and testing mediaproxy.so needs from Debian's packages and from the
# Rust toolchain's components. Safe to run again: it installs only what is missing.
set -euo pipefail

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# libclang for bindgen, a C compiler for the shim; iproute2/nftables/sip-tester for the
# end-to-end tests (network namespaces, NAT, SIPp), baresip-core for the ICE one (real ICE
# phones); kamailio (5.6 in Debian 12) for the SER-family host layer's tests
# (`--features kamailio`); tshark reads the call recorder's pcap files back in its tests;
# clang (BPF target) and linux-libc-dev (linux/bpf.h) for the relay's kernel fast path, ethtool
# for its test (checksum offload off on veths); openssl runs the documentation's certificate
# recipe for remote relays in a test.
for p in libclang-dev clang linux-libc-dev pkg-config gcc make iproute2 nftables sip-tester baresip-core procps kamailio tshark ethtool openssl; do
  have_pkg "$p" || need+=("$p")
done
if ((${#need[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "deps: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "deps: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
