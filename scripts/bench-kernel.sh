#!/usr/bin/env bash
# Kernel fast path benchmark: what a relay costs the whole machine, per session, with the eBPF
# fast path (relay_kernel=ebpf), with our user-space path (relay_kernel=off) and with rtpengine
# in user space, same run, loopback only, generator ../shared/bench/rtpload.
#
#   scripts/bench-kernel.sh [outdir]       (needs: root, clang, apt-get install rtpengine-daemon)
#
# Packets the eBPF program forwards are processed in softirq, on loopback in the sending
# generator's context, not in the relay process; so the relay's cost is counted as
# whole-machine CPU (/proc/stat, both CPUs, softirq included: rtpload's cpu0% + cpu1%) minus the
# same generator's whole-machine CPU with no relay at all ("direct": the same sessions, the
# caller's socket sending straight to the callee's and back, rtpload's static layout with the
# generator's own ports as the "forwarder"), measured in the same round.
#
# Environment:
#   POINTS="300 600"      session counts of the cost runs (every relay below saturation there)
#   REPEATS=3             rounds; in each round every point runs direct, off, ebpf, rtpengine
#   RELAYS="direct off ebpf rtpengine"
#   CEILING_STEPS=1000,1250,...,2500   the ceiling ramps (empty: none): the generator with two
#                         threads on both CPUs, direct and ebpf, until loss > 0.1 % or the
#                         generator uses 2 x 90 % of a core
#   WIDE_PAIRS=4 WIDE_SESSIONS=2500 WIDE_RATE=5   the wide run (WIDE_PAIRS=0: none): that many
#                         relays with the fast path, each with its own generator and
#                         WIDE_SESSIONS sessions at WIDE_RATE packets/s per direction, all at once
#                         (4 x 2500 = 10 000 sessions: one process cannot hold them here, since a
#                         relay needs six descriptors per session (four ports and a connected
#                         socket per latched leg) and the machine's hard RLIMIT_NOFILE is 20 000),
#                         then the same without the fast path
#   PROFILE_SESSIONS=1500  a profile of the fast path at that many sessions (0: none): the
#                         generator with two threads, `perf record -a -g` for 5 s of the measured
#                         window, the top symbols per command in profile.txt
#   DURATION=10
# Results: points.jsonl / ceiling.jsonl / wide.jsonl (rtpload rows), summary.txt
# (scripts/kernel-summary.py). Every process started here stops by itself (--max-seconds,
# bounded rtpload runs) or is killed by its PID.
# With kernel.sched_autogroup_enabled=1 nice only counts inside the session's autogroup: on a
# shared machine also run `echo -10 > /proc/self/autogroup` in the invoking shell first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/kernel-bench}
points=${POINTS:-300 600}
repeats=${REPEATS:-3}
relays=${RELAYS:-direct off ebpf rtpengine}
ceiling=${CEILING_STEPS-1000,1250,1500,1750,2000,2250,2500}
pairs=${WIDE_PAIRS:-4}
wide_n=${WIDE_SESSIONS:-2500}
wide_rate=${WIDE_RATE:-5}
dur=${DURATION:-10}
mkdir -p "$out"
# shellcheck source=scripts/bench-lib.sh
. "$here/scripts/bench-lib.sh"
build_bench_tools
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# $1: run|ramp, $2: direct|off|ebpf|rtpengine, $3: generator CPUs, then rtpload arguments
measure() {
  local mode=$1 who=$2 cpus=$3
  shift 3
  local kind ctrl pid
  case $who in
    direct) kind="static --static-mode per-session"; ctrl=127.0.0.1:10000; pid=$$ ;;
    off|ebpf) start_mp io_uring 0 1 "$who"; kind=mediaproxy; ctrl=/tmp/mp-bench.sock
              pid=$(cat /tmp/mp-bench.pid) ;;
    rtpengine) start_re; kind=rtpengine; ctrl=127.0.0.1:2223; pid=$(cat /tmp/re-bench.pid) ;;
  esac
  local rc=0
  # shellcheck disable=SC2086 # $kind may carry the static layout
  nice -n -10 taskset -c "$cpus" "$B" "$mode" --relay $kind --ctrl "$ctrl" --relay-pid "$pid" \
    --gen-sockets 0 --gen-port-base 10000 --duration "$dur" --label "$who" "$@" || rc=$?
  case $who in
    off|ebpf) stop /tmp/mp-bench.pid ;;
    rtpengine) stop /tmp/re-bench.pid ;;
  esac
  return $rc
}

# 1. cost per session: every relay at every point, rounds alternating
for rep in $(seq "$repeats"); do
  for n in $points; do
    for w in $relays; do
      measure run "$w" 0 --sessions "$n" --json "$out/points.jsonl" | tee -a "$out/points.txt"
    done
  done
done

# 2. the ceiling: the generator on both CPUs (two threads), direct and with the fast path
if [ -n "$ceiling" ]; then
  for w in direct ebpf; do
    measure ramp "$w" 0,1 --threads 2 --steps "$ceiling" --json "$out/ceiling.jsonl" \
      | tee -a "$out/ceiling.txt" || true
  done
fi

# 3. the wide run: WIDE_PAIRS relays and generators at once, fast path on, then off
if [ "$pairs" -gt 0 ]; then
  for kern in ebpf off; do
    gens=()
    for i in $(seq 0 $((pairs - 1))); do
      lo=$((22000 + i * 4 * (wide_n + 100)))
      lo=$((lo - lo % 2))
      sock=/tmp/mp-wide-$i.sock
      rm -f "$sock"
      nice -n -10 taskset -c 1 "$MP" --socket "$sock" --listen-ip 127.0.0.1 \
        --port-range "$lo-$((lo + 4 * (wide_n + 100) - 1))" --threads 1 --relay-io io_uring \
        --kernel "$kern" --max-sessions 0 --max-seconds 300 >>"$out/mediaproxy-relay-wide.log" 2>&1 &
      pids+=("$!")
      for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
    done
    for i in $(seq 0 $((pairs - 1))); do
      nice -n -10 taskset -c "$((i % 2))" "$B" run --relay mediaproxy --ctrl "/tmp/mp-wide-$i.sock" \
        --relay-pid "${pids[$((${#pids[@]} - pairs + i))]}" --gen-sockets 0 \
        --gen-port-base $((1100 + i * 2 * (wide_n + 10))) --sessions "$wide_n" --rate "$wide_rate" \
        --warmup 5 --duration "$dur" --label "wide-$kern-$i" --json "$out/wide.jsonl" \
        >"$out/wide-$kern-$i.txt" 2>&1 &
      gens+=("$!")
    done
    for g in "${gens[@]}"; do wait "$g" || true; done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 2
    cat "$out"/wide-"$kern"-*.txt >>"$out/wide.txt"
  done
fi

# 4. where the time goes with the fast path at PROFILE_SESSIONS sessions
prof=${PROFILE_SESSIONS:-1500}
if [ "$prof" -gt 0 ] && command -v perf >/dev/null; then
  start_mp io_uring 0 1 ebpf
  nice -n -10 taskset -c 0,1 "$B" run --relay mediaproxy --ctrl /tmp/mp-bench.sock \
    --relay-pid "$(cat /tmp/mp-bench.pid)" --gen-sockets 0 --threads 2 --sessions "$prof" \
    --duration "$dur" --label profile >"$out/profile-run.txt" 2>&1 &
  gen=$!
  sleep 5
  perf record -q -a -g -o "$out/perf.data" -- sleep 5 >/dev/null 2>&1 || true
  wait "$gen" || true
  stop /tmp/mp-bench.pid
  perf report -i "$out/perf.data" --no-children --sort comm,sym --stdio 2>/dev/null \
    | grep -v '^$' | grep -E '^ +[0-9]' | head -40 >"$out/profile.txt" || true
fi

python3 "$here/scripts/kernel-summary.py" "$out" | tee "$out/summary.txt"
