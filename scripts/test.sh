#!/usr/bin/env bash
# Runs every test of mediaproxy.so, for both host builds: the default build (OpenSIPS) and the
# SER-family build (`--features kamailio`, in target/kamailio). Installs what the tests need
# first (scripts/deps.sh: Kamailio, SIPp, nft, ...).
#
# A test that needs something a machine may lack is `#[ignore = "needs ..."]`d. This script
# includes it when what it needs is here, and ends with a summary of what ran and what did not
# run, and why:
#   "needs the proxy: ..."           OpenSIPS (OPENSIPS_BIN, else opensips on PATH) for the
#                                    default build; Kamailio (KAMAILIO_BIN, else kamailio) for
#                                    the Kamailio build
#   "needs the proxy, root, ..."     also root, ip, nft and sipp (the NAT lab's namespaces);
#                                    "..., tshark" also tshark (recorded calls read back)
#   "needs ... MEDIAPROXY_C_MODULE"  also MEDIAPROXY_C_MODULE (OpenSIPS's own C module)
#   "needs the proxy with httpd and prometheus"  an OpenSIPS with those modules
#   "needs the proxy with siprec, ..."  an OpenSIPS with siprec, media_exchange and
#                                    b2b_entities, and the NAT lab
#   "needs root and tshark"          root (a small tmpfs is mounted) and tshark (the recorder)
# Without OpenSIPS the default build is built for the documented default (4.0.1).
#
# MPX_REQUIRE="opensips kamailio lab": each named prerequisite must be present (else fail
# at once; CI sets it). Arguments are passed to both `cargo test` runs. MPX_KEEP=1 keeps every
# test's /tmp/mpx-test-* folder (by default only a failed test's folder is kept).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh || exit 1

on_path() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have_opensips=0 have_kamailio=0 have_lab=0 have_cmod=0
{ [ -n "${OPENSIPS_BIN:-}" ] || on_path opensips; } && have_opensips=1
{ [ -n "${KAMAILIO_BIN:-}" ] || on_path kamailio; } && have_kamailio=1
[ "$(id -u)" -eq 0 ] && on_path ip && on_path nft && on_path sipp && have_lab=1
[ -n "${MEDIAPROXY_C_MODULE:-}" ] && have_cmod=1
have_tshark=0
[ "$(id -u)" -eq 0 ] && on_path tshark && on_path mount && have_tshark=1
why_tshark="the recorder's tests need root (they mount a small tmpfs) and tshark"
why_opensips="no OpenSIPS binary (set OPENSIPS_BIN or put opensips on PATH)"
why_kamailio="no Kamailio binary (set KAMAILIO_BIN or put kamailio on PATH)"
why_lab="the NAT lab needs root, ip, nft and sipp"
why_cmod="MEDIAPROXY_C_MODULE is not set"
# OpenSIPS's httpd and prometheus modules, beside the binary (or in OPENSIPS_MODULES_DIR)
have_prom=0 have_siprec=0
if [ "$have_opensips" = 1 ]; then
  osbin=${OPENSIPS_BIN:-$(command -v opensips || echo /usr/sbin/opensips)}
  prefix=$(dirname "$(dirname "$osbin")")
  for d in ${OPENSIPS_MODULES_DIR:-} "$prefix/lib64/opensips/modules" \
           "$prefix/lib/opensips/modules" /usr/lib/x86_64-linux-gnu/opensips/modules; do
    [ -f "$d/httpd.so" ] && [ -f "$d/prometheus.so" ] && have_prom=1
    [ -f "$d/siprec.so" ] && [ -f "$d/media_exchange.so" ] && [ -f "$d/b2b_entities.so" ] &&
      have_siprec=1
  done
fi
why_prom="the OpenSIPS found has no httpd.so and prometheus.so in its modules directory"
why_siprec="the OpenSIPS found has no siprec.so, media_exchange.so and b2b_entities.so"
for need in ${MPX_REQUIRE:-}; do
  var="have_$need" why="why_$need"
  if [ "${!var:-0}" != 1 ]; then
    echo "test.sh: MPX_REQUIRE names $need, but ${!why:-it is unknown}" >&2
    exit 1
  fi
done

logs=target/test-logs
mkdir -p "$logs"
summary=()
not_run=()
failed_builds=()

# The ignored tests: "build<TAB>name<TAB>reason", from the sources; build is opensips or
# kamailio for a file only that build compiles, else both.
ignored_tests() {
  awk 'FNR == 1 { b = "both"; r = "" }
       /^#!\[cfg\(feature = "kamailio"\)\]/ { b = "kamailio" }
       /^#!\[cfg\(not\(feature = "kamailio"\)\)\]/ { b = "opensips" }
       /#\[ignore = "/ { r = $0; sub(/.*#\[ignore = "/, "", r); sub(/"\].*/, "", r); next }
       r != "" && /fn [a-z_0-9]+\(/ { n = $0; sub(/.*fn /, "", n); sub(/\(.*/, "", n);
                                      print b "\t" n "\t" r; r = "" }' tests/*.rs
}

# run_build NAME HAVE_PROXY WHY_NO_PROXY [cargo args...]: the build's tests, the ignored ones
# whose needs are met included; a line for the summary, one per test that did not run.
run_build() {
  local name=$1 proxy=$2 why_proxy=$3
  shift 3
  local skips=() include=0 build name_ reason why count=0
  while IFS=$'\t' read -r build name_ reason; do
    [ "$build" = both ] || [ "$build" = "$name" ] || continue
    why=""
    case "$reason" in
      "needs the proxy:"*) [ "$proxy" = 1 ] || why=$why_proxy ;;
      "needs the proxy, root"*tshark*)
        if [ "$proxy" != 1 ]; then why=$why_proxy; elif [ "$have_lab" != 1 ]; then why=$why_lab;
          elif [ "$have_tshark" != 1 ]; then why=$why_tshark; fi ;;
      "needs the proxy, root"*)
        if [ "$proxy" != 1 ]; then why=$why_proxy; elif [ "$have_lab" != 1 ]; then why=$why_lab; fi ;;
      "needs the proxy with siprec"*)
        if [ "$proxy" != 1 ]; then why=$why_proxy; elif [ "$have_siprec" != 1 ]; then
          why=$why_siprec; elif [ "$have_lab" != 1 ]; then why=$why_lab; fi ;;
      "needs the proxy with httpd and prometheus"*)
        if [ "$proxy" != 1 ]; then why=$why_proxy; elif [ "$have_prom" != 1 ]; then why=$why_prom; fi ;;
      "needs root and tshark"*) [ "$have_tshark" = 1 ] || why=$why_tshark ;;
      *MEDIAPROXY_C_MODULE*)
        if [ "$proxy" != 1 ]; then why=$why_proxy; elif [ "$have_cmod" != 1 ]; then why=$why_cmod; fi ;;
      *) why="needs what this script does not check: $reason" ;;
    esac
    if [ -n "$why" ]; then
      skips+=(--skip "$name_")
      not_run+=("$name build: $name_: $why")
      count=$((count + 1))
    else
      include=1
    fi
  done < <(ignored_tests)
  local extra=()
  [ "$include" = 1 ] && extra=(--include-ignored "${skips[@]}")
  echo "test.sh: === the $name build: cargo test $* ==="
  # the real-proxy tests load the cdylib (target/.../libmediaproxy.so): `cargo test` alone
  # builds only the rlib
  local log="$logs/$name.log" status=0
  cargo build --lib "$@" || status=$?
  if [ "$status" = 0 ]; then
    cargo test --all-targets "$@" "${cargo_args[@]}" -- "${extra[@]}" "${test_args[@]}" 2>&1 \
      | tee "$log"
    status=${PIPESTATUS[0]}
  fi
  local passed failed
  passed=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed.*/\1/p' "$log" 2>/dev/null |
    awk '{s+=$1} END {print s+0}')
  failed=$(sed -n 's/^test result: .* \([0-9]*\) failed.*/\1/p' "$log" 2>/dev/null |
    awk '{s+=$1} END {print s+0}')
  while read -r line; do
    not_run+=("$name build: ${line#*SKIPPED }")
    count=$((count + 1))
  done < <(grep -h '^SKIPPED ' "$log" 2>/dev/null)
  summary+=("the $name build: $passed passed, $failed failed, $count not run, exit $status")
  [ "$status" = 0 ] || failed_builds+=("$name")
}

# cargo's own arguments before `--`, the test harness's after it
cargo_args=() test_args=()
seen_dashes=0
for a in "$@"; do
  if [ "$seen_dashes" = 1 ]; then test_args+=("$a")
  elif [ "$a" = "--" ]; then seen_dashes=1
  else cargo_args+=("$a"); fi
done

if [ "$have_opensips" = 1 ]; then
  echo "test.sh: OpenSIPS tests run against ${OPENSIPS_BIN:-$(command -v opensips)}"
else
  echo "test.sh: no OpenSIPS binary: the default build is built for OpenSIPS 4.0.1 and its"
  echo "test.sh: real-OpenSIPS tests are not run (listed at the end)"
fi
run_build opensips "$have_opensips" "$why_opensips"
CARGO_TARGET_DIR=target/kamailio run_build kamailio "$have_kamailio" "$why_kamailio" \
  --features kamailio

echo
echo "test.sh: ===== summary ====="
for s in "${summary[@]}"; do echo "test.sh: $s"; done
if ((${#not_run[@]})); then
  echo "test.sh: not run (${#not_run[@]}):"
  for s in "${not_run[@]}"; do echo "test.sh:   $s"; done
else
  echo "test.sh: every test ran"
fi
if ((${#failed_builds[@]})); then
  echo "test.sh: FAILED: ${failed_builds[*]}"
  exit 1
fi
echo "test.sh: ok: both builds passed; ${#not_run[@]} test(s) not run"
