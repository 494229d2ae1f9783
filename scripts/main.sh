#!/usr/bin/env bash
# The main job: installs what it needs (scripts/deps.sh), builds mediaproxy.so in release mode,
# installs it, and places a demo call through it (examples/nat_call.rs): the proxy with the
# installed module in a network namespace, two SIPp user agents behind simulated NATs, and what
# the relay saw during the call. The demo removes its namespaces, nft tables and processes when
# it ends, also on a failure or Ctrl-C.
#
# The host is MPX_HOST (opensips or kamailio); unset, it is OpenSIPS when one is installed
# (OPENSIPS_BIN, else opensips on PATH), else Kamailio. For OpenSIPS the module is built for
# that binary and installed into its module directory. For Kamailio (Debian's package, which
# scripts/deps.sh installs; KAMAILIO_BIN names another) it is built with `--features kamailio`
# (in target/kamailio) and installed as /usr/local/lib/kamailio/mediaproxy.so, beside rather
# than over Debian's own (C) mediaproxy.so. The installed module is stripped; its debug info
# stays in the target directory (mediaproxy.so.debug).
#
# MODULES_DIR chooses the install directory (refused when it is the other host's module
# directory); MPX_DEMO=0 stops after the install; MPX_DEMO_SECONDS (default 3) is how long the
# demo call's media flows.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
fail() { echo "main.sh: $*" >&2; exit 1; }
bin="${OPENSIPS_BIN:-$(command -v opensips || true)}"
kbin="${KAMAILIO_BIN:-$(command -v kamailio || echo /usr/sbin/kamailio)}"
host="${MPX_HOST:-}"
case "$host" in
  opensips)
    [ -n "$bin" ] || fail "MPX_HOST=opensips, but there is no OpenSIPS binary: set" \
      "OPENSIPS_BIN=/path/to/sbin/opensips (the module is built for exactly that OpenSIPS)" ;;
  kamailio)
    [ -x "$kbin" ] || fail "MPX_HOST=kamailio, but there is no Kamailio binary: set" \
      "KAMAILIO_BIN=/path/to/sbin/kamailio or install Debian's kamailio"
    bin="" ;;
  "")
    if [ -n "$bin" ]; then host=opensips
    elif [ -x "$kbin" ]; then host=kamailio
    else fail "neither OpenSIPS (OPENSIPS_BIN, opensips on PATH) nor Kamailio found"; fi
    echo "main.sh: building for $host (found ${bin:-$kbin}; MPX_HOST=opensips|kamailio chooses)" ;;
  *) fail "MPX_HOST=$host: say opensips or kamailio" ;;
esac
dest="${MODULES_DIR:-}"
# a module directory of the other host: the module would not load there (and could replace
# that host's own mediaproxy.so)
# (its modules are there, or its name is in the path)
if [ -n "$dest" ]; then
  if [ "$host" = kamailio ] && { [ -f "$dest/proto_udp.so" ] || [ -f "$dest/mi_fifo.so" ] ||
                                 [[ "$dest" == *opensips* ]]; }; then
    fail "MODULES_DIR=$dest is an OpenSIPS module directory, but the module is built for" \
      "Kamailio here ($([ -n "${MPX_HOST:-}" ] && echo MPX_HOST=kamailio || echo no OpenSIPS binary found)). For" \
      "OpenSIPS set OPENSIPS_BIN=/path/to/sbin/opensips (and MPX_HOST=opensips); for Kamailio" \
      "name a Kamailio module directory, or leave MODULES_DIR unset"
  fi
  if [ "$host" = opensips ] && { [ -f "$dest/kex.so" ] || [ -f "$dest/corex.so" ] ||
                                 [[ "$dest" == *kamailio* ]]; }; then
    fail "MODULES_DIR=$dest is a Kamailio module directory, but the module is built for" \
      "OpenSIPS here ($bin). For Kamailio set MPX_HOST=kamailio; for OpenSIPS name its" \
      "module directory, or leave MODULES_DIR unset"
  fi
fi
if [ "$host" = opensips ]; then
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
  [ -n "$dest" ] || fail "no module directory beside $bin; set MODULES_DIR"
else
  export KAMAILIO_BIN="$kbin"
  features=(--features kamailio)
  # the Kamailio build keeps a target directory of its own (as scripts/test.sh does)
  target="${CARGO_TARGET_DIR:-target/kamailio}"
  export CARGO_TARGET_DIR="$target"
  dest="${dest:-/usr/local/lib/kamailio}"
fi

cargo build --release --lib "${features[@]}"
so="$target/release/libmediaproxy.so"
# the installed module is stripped (the release build keeps line tables for profiling: about
# 17 MB); its debug info stays beside the build, linked by name (gdb finds it there)
stripped="$target/release/mediaproxy.so"
debug="$target/release/mediaproxy.so.debug"
objcopy --only-keep-debug "$so" "$debug"
strip --strip-debug --strip-unneeded -o "$stripped" "$so"
(cd "$(dirname "$debug")" && objcopy --add-gnu-debuglink="$(basename "$debug")" "$(basename "$stripped")")
$SUDO mkdir -p "$dest"
$SUDO install -m 0644 "$stripped" "$dest/mediaproxy.so"
echo "main.sh: installed $dest/mediaproxy.so ($(du -k "$dest/mediaproxy.so" | cut -f1) KiB, stripped;" \
  "debug info in $debug)"
echo "main.sh: exported symbols: $(nm -D --defined-only "$dest/mediaproxy.so" | awk '{print $3}' | tr '\n' ' ')"
if [ "$host" = opensips ]; then
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
