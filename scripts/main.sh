#!/usr/bin/env bash
# The main job: installs what it needs (scripts/deps.sh), builds mediaproxy.so in release mode,
# installs it, and places a demo call through it (examples/nat_call.rs): the proxy with the
# installed module in a network namespace, two SIPp user agents behind simulated NATs, and what
# the relay saw during the call. The demo removes its namespaces, nft tables and processes when
# it ends, also on a failure or Ctrl-C.
#
# The proxy is OpenSIPS when one is installed (OPENSIPS_BIN, else opensips on PATH): the module
# is built for it and installed into its module directory. Otherwise it is Kamailio (Debian's
# package, which scripts/deps.sh installs; KAMAILIO_BIN names another): the module is built with
# `--features kamailio` (in target/kamailio) and installed as /usr/local/lib/kamailio/mediaproxy.so,
# beside rather than over Debian's own (C) mediaproxy.so.
#
# MODULES_DIR chooses the install directory; MPX_DEMO=0 stops after the install;
# MPX_DEMO_SECONDS (default 3) is how long the demo call's media flows.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
bin="${OPENSIPS_BIN:-$(command -v opensips || true)}"
dest="${MODULES_DIR:-}"
if [ -n "$bin" ]; then
  export OPENSIPS_BIN="$bin"
  features=()
  target="${CARGO_TARGET_DIR:-target}"
  if [ -z "$dest" ]; then
    prefix=$(dirname "$(dirname "$bin")")
    for d in "$prefix/lib64/opensips/modules" "$prefix/lib/opensips/modules" \
             /usr/lib/x86_64-linux-gnu/opensips/modules; do
      if [ -f "$d/tm.so" ]; then dest="$d"; break; fi
    done
  fi
  [ -n "$dest" ] || { echo "main.sh: no module directory beside $bin; set MODULES_DIR" >&2; exit 1; }
else
  kbin="${KAMAILIO_BIN:-$(command -v kamailio || echo /usr/sbin/kamailio)}"
  [ -x "$kbin" ] || { echo "main.sh: neither OpenSIPS nor Kamailio found" >&2; exit 1; }
  export KAMAILIO_BIN="$kbin"
  features=(--features kamailio)
  # the Kamailio build keeps a target directory of its own (as .ci/run does)
  target="${CARGO_TARGET_DIR:-target/kamailio}"
  export CARGO_TARGET_DIR="$target"
  dest="${dest:-/usr/local/lib/kamailio}"
fi

cargo build --release --lib "${features[@]}"
so="$target/release/libmediaproxy.so"
$SUDO mkdir -p "$dest"
$SUDO install -m 0644 "$so" "$dest/mediaproxy.so"
echo "main.sh: installed $dest/mediaproxy.so"
echo "main.sh: exported symbols: $(nm -D --defined-only "$dest/mediaproxy.so" | awk '{print $3}' | tr '\n' ' ')"
if [ -n "$bin" ]; then
  echo "main.sh: built for: $("$bin" -V | sed -n "s/^version: //p")"
else
  echo "main.sh: built for: $("$KAMAILIO_BIN" -v | sed -n "s/^version: //p")"
fi
[ "${MPX_DEMO:-1}" != 0 ] || exit 0

echo "main.sh: demo call through NAT with the installed module (examples/nat_call.rs)"
cargo build --release --example nat_call "${features[@]}"
as_root=()
[ -z "$SUDO" ] || as_root=(sudo --preserve-env=OPENSIPS_BIN,KAMAILIO_BIN,MPX_KEEP,MPX_E2E_KEEP,PATH)
"${as_root[@]}" "$target/release/examples/nat_call" --module "$dest/mediaproxy.so" \
  --seconds "${MPX_DEMO_SECONDS:-3}"
