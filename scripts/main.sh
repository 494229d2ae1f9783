#!/usr/bin/env bash
# Builds mediaproxy.so in release mode for the OpenSIPS named by OPENSIPS_BIN (or on PATH, or
# the documented default 4.0.1) and installs it into that OpenSIPS's module directory
# (MODULES_DIR overrides; with no OpenSIPS at all it is copied to ./dist/ instead).
# Installs the build prerequisites first (scripts/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --lib
so=target/release/libmediaproxy.so
bin="${OPENSIPS_BIN:-$(command -v opensips || true)}"
dest="${MODULES_DIR:-}"
if [ -z "$dest" ] && [ -n "$bin" ]; then
  prefix=$(dirname "$(dirname "$bin")")
  for d in "$prefix/lib64/opensips/modules" "$prefix/lib/opensips/modules" \
           /usr/lib/x86_64-linux-gnu/opensips/modules; do
    if [ -f "$d/tm.so" ]; then dest="$d"; break; fi
  done
fi
[ -n "$dest" ] || dest="$PWD/dist"
mkdir -p "$dest"
install -m 0644 "$so" "$dest/mediaproxy.so"
echo "main.sh: installed $dest/mediaproxy.so"
echo "main.sh: exported symbols: $(nm -D --defined-only "$dest/mediaproxy.so" | awk '{print $3}' | tr '\n' ' ')"
if [ -n "$bin" ]; then
  echo "main.sh: built for: $("$bin" -V | head -1)"
fi
