#!/usr/bin/env bash
# Relay benchmark: mediaproxy-relay (this crate), once per I/O back end, against rtpengine (user
# space, one poller thread) with ../shared/bench/rtpload, same machine, same run, loopback only.
# Every process started here stops by itself (--max-seconds, bounded rtpload runs) or is killed
# by its PID at the end.
#
#   scripts/bench-relay.sh [outdir]        (needs: apt-get install rtpengine-daemon)
#
# Environment:
#   IO="io_uring epoll"   back ends of ours to measure (relay_io values), in this order
#   BATCH_WAIT="0"        io_uring only: relay_batch_wait values (microseconds) to measure, each
#                         as its own relay
#   CONNECTED="1"         io_uring only: relay_connected_sockets values (0, 1) to measure, each as
#                         its own relay; with BATCH_WAIT, labels ub<wait>c<connected> (ub0c1: no
#                         batch wait, connected sockets on: the defaults)
#   KERNEL="off"          relay_kernel values of ours to measure (off, ebpf), each back end with
#                         each; ebpf relays are labelled <label>+k. With the kernel fast path the
#                         forwarding work is done in softirq or in the sender's context (on
#                         loopback the generator's), not in the relay process: compare the
#                         whole-machine figures (cpu0% + cpu1%, softirq included), not relay%
#   STEPS=500,1000,...    ramp steps (sessions); the ramp stops at loss > 0.1 % or a saturated CPU
#   POINTS="500 1000"     fixed points, 3 repeats each, every relay freshly started
#   GEN_SOCKETS=0         generator sockets: 0 = one per endpoint; K = K shared pairs (a cheaper
#                         generator, to offer more than one core's worth of one-socket endpoints)
#   RELAYS="ours rtpengine"  which relays to run; "forwarder" adds rtpload's do-nothing
#                         forwarder (one socket per leg, recvmmsg/sendmmsg, no session logic):
#                         the kernel's floor for a relay with a socket per port, same run
#   BUSY_NEIGHBOUR=0      1: a nice-19 busy loop shares the relay's CPU for the whole run (as
#                         OpenSIPS's SIP workers share the CPUs of an embedded relay). It takes
#                         only what the relay leaves, but the CPU never idles, so no relay pays
#                         for waking an idle virtual CPU. Bounded by the run (killed at exit).
#   QUOTA=                capacity mode, e.g. QUOTA=50: every relay runs in a cgroup limited to that
#                         percentage of one core (CFS quota, 10 ms period), so that one core of the
#                         generator can saturate it; each relay ramps through QUOTA_STEPS (default
#                         200,225,...,900) until loss > 0.1 % or the relay uses >= 95 % of its quota,
#                         REPEATS times (default 3, relays alternating). Its capacity is the last
#                         step that passed; sessions per core = capacity / (QUOTA / 100). The
#                         normal ramps and fixed points are skipped. Latency under a quota is the
#                         throttling's, not the relay's: take p50/p99 from a run without QUOTA.
#                         summary.txt: scripts/ramp-summary.py over the ramps (both capacity
#                         rules, CPU per 1000 sessions at 250, steal).
#
# Building and starting the relays: scripts/bench-lib.sh.
# With kernel.sched_autogroup_enabled=1 nice only counts inside the session's autogroup: on a
# shared machine also run `echo -10 > /proc/self/autogroup` in the invoking shell first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/relay-bench}
steps=${STEPS:-500,1000,1500,2000,2500}
points=${POINTS:-500 1000}
ios=${IO:-io_uring epoll}
batches=${BATCH_WAIT:-0}
connected=${CONNECTED:-1}
kernels=${KERNEL:-off}
relays=${RELAYS:-ours rtpengine}
gen=(--gen-sockets "${GEN_SOCKETS:-0}")
mkdir -p "$out"
# shellcheck source=scripts/bench-lib.sh
. "$here/scripts/bench-lib.sh"
build_bench_tools
if [ "${BUSY_NEIGHBOUR:-0}" = 1 ]; then
  timeout 7200 nice -n 19 taskset -c 1 sh -c 'while :; do :; done' &
  hog=$!
  trap 'kill "$hog" 2>/dev/null || true' EXIT
fi

# Capacity mode: a cgroup with a CPU quota (cgroup v2 if its cpu controller is there, else v1).
cg=
if [ -n "${QUOTA:-}" ]; then
  check_quota "$QUOTA"
  cg=$(cg_create mpx-bench "$QUOTA")
fi

# $1: ramp|run, $2: ours-<io>|rtpengine, then rtpload arguments
measure() {
  local mode=$1 who=$2
  shift 2
  local kind ctrl pidf label
  case $who in
    ours-*) local io=${who#ours-} batch=0 conn=1 kern=off
            case $io in *-k*) kern=${io##*-k}; io=${io%-k*} ;; esac
            case $io in *-c*) conn=${io##*-c}; io=${io%-c*} ;; esac
            case $io in *-b*) batch=${io#*-b}; io=${io%-b*} ;; esac
            start_mp "$io" "$batch" "$conn" "$kern"; kind=mediaproxy; ctrl=/tmp/mp-bench.sock; pidf=/tmp/mp-bench.pid
            label=$io; [ "$io" = io_uring ] && label=ub${batch}c$conn  # the table shows 10 characters
            [ "$kern" = off ] || label=$label+k ;;
    rtpengine) start_re; kind=rtpengine; ctrl=127.0.0.1:2223; pidf=/tmp/re-bench.pid; label=rtpengine-1t ;;
    forwarder) start_fw; kind="static --static-mode per-session"; ctrl=127.0.0.1:40000; pidf=/tmp/fw-bench.pid
               label=fwd-session ;;
  esac
  local rc=0
  # shellcheck disable=SC2086 # $kind may carry the forwarder's --static-mode
  nice -n -10 taskset -c 0 "$B" "$mode" --relay $kind --ctrl "$ctrl" --relay-pid "$(cat "$pidf")" \
    "${gen[@]}" --duration 10 --label "$label" "$@" || rc=$?
  stop "$pidf"
  return $rc
}

who=()
for r in $relays; do
  case $r in
    ours) for k in $kernels; do
            for io in $ios; do
              if [ "$io" = io_uring ]; then
                for b in $batches; do
                  for c in $connected; do who+=("ours-io_uring-b$b-c$c-k$k"); done
                done
              else
                who+=("ours-$io-k$k")
              fi
            done
          done ;;
    rtpengine) who+=(rtpengine) ;;
    forwarder) who+=(forwarder) ;;
  esac
done

if [ -n "$cg" ]; then
  qsteps=${QUOTA_STEPS:-$(seq -s, 200 25 900)}
  maxcpu=$(awk -v q="$QUOTA" 'BEGIN { printf "%.2f", q * 0.95 }')
  : >"$out/capacity.txt"
  for rep in $(seq "${REPEATS:-3}"); do
    for w in "${who[@]}"; do
      measure ramp "$w" --steps "$qsteps" --max-relay-cpu "$maxcpu" --json "$out/ramp.jsonl" \
        | tee "$out/ramp-$w-$rep.txt" | tee -a "$out/ramp.txt"
      # the last step before the one that stopped the ramp
      cap=$(ramp_capacity "$out/ramp-$w-$rep.txt" "$qsteps")
      echo "$w repeat $rep: capacity $cap sessions at $QUOTA % of a core" | tee -a "$out/capacity.txt"
    done
  done
  rmdir "$cg" 2>/dev/null || true
  # both capacity rules per ramp (95 % of the quota; median latency over 1 ms) and CPU at 250
  python3 "$here/scripts/ramp-summary.py" "$QUOTA" "$out/ramp.jsonl" | tee "$out/summary.txt"
  exit 0
fi

# ramps, one relay after the other
for w in "${who[@]}"; do
  measure ramp "$w" --steps "$steps" --json "$out/ramp.jsonl" | tee -a "$out/ramp.txt"
done
# fixed points, 3 repeats each, relays alternating
for n in $points; do
  for w in "${who[@]}"; do
    measure run "$w" --sessions "$n" --repeat 3 --json "$out/points.jsonl" | tee -a "$out/points.txt"
  done
done
