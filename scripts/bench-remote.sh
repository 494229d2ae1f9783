#!/usr/bin/env bash
# Remote relays benchmark: the module's dispatcher (examples/bench-dispatcher.rs: the code the
# module runs with relay_mode = "remote", without OpenSIPS) with one, then two
# `mediaproxy-relay --dispatcher` processes connected over mutual TLS, driven through the
# dispatcher's control socket (MediaProxy's OpenSIPS-side protocol) by ../shared/bench/rtpload.
# Same machine, loopback only. It measures, per relay count:
#   * call set-ups per second: `rtpload run` creates N sessions one after another (an `update`
#     request and an `update` reply each, as OpenSIPS sends them for an INVITE and its 200) and
#     reports the seconds it took (`setup`): set-ups/s = N / setup. With SETUP_CLIENTS=K, K
#     generators (N/K sessions each, started together) set up at once: set-ups/s = N / the
#     slowest one's setup.
#   * media capacity: `rtpload ramp` through STEPS until a step loses more than 0.1 % or the
#     first relay uses 95 % of its quota (the dispatcher spreads sessions evenly; as
#     bench-relay.sh's QUOTA mode), or the generator uses 90 % of its core (then the capacity is
#     only a lower bound); the capacity is the last step that passed. A relay out of CPU first
#     queues packets in its socket buffers (median latency of 100 ms and more) before it loses
#     any: with STOP_ON_LOSS_ONLY=1 the ramp goes on to the first loss, and summary.txt gives
#     each ramp's capacity by scripts/ramp-summary.py's rules as well: the first relay's CPU
#     under 95 % of its quota (cpu95), median latency under 1 ms (knee).
# Every relay runs in a cgroup of its own limited to QUOTA % of one core, so that two relays
# have twice the media CPU of one on a 2-vCPU machine: dispatcher and relays on CPU 1 (the
# dispatcher outside any quota, as the proxy), the generator on CPU 0, all at nice -10.
# Relay and dispatcher stop by themselves (--max-seconds) and are killed by their PIDs when
# each measurement ends and when the script exits however it exits; rtpload runs are bounded.
#
#   scripts/bench-remote.sh [outdir]        (default /tmp/remote-bench; needs root and openssl)
#
# Environment:
#   RELAY_COUNTS="1 2"    relay counts to measure, in this order within each repeat
#   QUOTA=25              each relay's CPU quota, percent of one core (10-100)
#   STEPS=100,125,...,800 ramp steps (sessions), at most 30 steps
#   DURATION=10           measured seconds per ramp step (rtpload --duration)
#   STOP_ON_LOSS_ONLY=0   1: the ramps stop on loss (or the generator) only
#   N=1000                sessions per set-up measurement. N and every step fit the relays'
#                         ports: from 30000 up, split evenly, each range at most (open-file limit
#                         - 1000) / 2 ports, 4 a session, shared by the smallest relay count (with
#                         a limit of 20000 files and RELAY_COUNTS="1 2": 2375 sessions)
#   SETUP_CLIENTS=1       generators setting up at once (each N/SETUP_CLIENTS sessions)
#   REPEATS=3             repeats; relay counts alternate within each, every set freshly started
#   DISPATCHER_PORT=25061 where the relays connect (127.0.0.1)
#   MAX_SECONDS=3600      the dispatcher's and relays' --max-seconds (one measurement set)
#
# Output in outdir: setup.txt/setup.jsonl (rtpload rows of the set-up runs), ramp.txt/ramp.jsonl
# (the ramps), capacity.txt, results.jsonl (one object per relay count and repeat),
# cgroup-stat.txt (each relay's quota accounting over its set), the processes' logs (appended),
# and summary.txt: one line per relay count (set-ups/s, capacity at < 0.1 % loss; median over
# the repeats, every repeat's value in brackets), then ramp-summary.py's table of the ramps.
# The result files are rewritten by every run.
#
# rtpload is copied to /tmp and built there (never inside the repo). With
# kernel.sched_autogroup_enabled=1 nice only counts inside the session's autogroup: on a shared
# machine also run `echo -10 > /proc/self/autogroup` in the invoking shell first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/remote-bench}
# shellcheck source=scripts/bench-lib.sh
. "$here/scripts/bench-lib.sh"
counts=${RELAY_COUNTS:-1 2}
quota=${QUOTA:-25}
steps=${STEPS:-$(seq -s, 100 25 800)}
duration=${DURATION:-10}
if [ "${STOP_ON_LOSS_ONLY:-0}" = 1 ]; then stop_cpu=1000; else stop_cpu=$(awk -v q="$quota" 'BEGIN { printf "%.2f", q * 0.95 }'); fi
n=${N:-1000}
clients=${SETUP_CLIENTS:-1}
repeats=${REPEATS:-3}
port=${DISPATCHER_PORT:-25061}
max_seconds=${MAX_SECONDS:-3600}
check_quota "$quota"
for v in "$n" "$clients" "$repeats" "$port" "$max_seconds" $counts; do
  case $v in ''|*[!0-9]*|0) echo "RELAY_COUNTS, N, SETUP_CLIENTS, REPEATS, DISPATCHER_PORT, MAX_SECONDS: positive numbers" >&2; exit 2 ;; esac
done
if [ "$clients" -gt "$n" ] || [ "$clients" -gt 16 ]; then
  echo "SETUP_CLIENTS: 1-16 and at most N" >&2; exit 2
fi
most=0
least=8
for c in $counts; do
  [ "$c" -gt "$most" ] && most=$c
  [ "$c" -lt "$least" ] && least=$c
done
if [ "$most" -gt 8 ]; then echo "RELAY_COUNTS: at most 8 relays" >&2; exit 2; fi
# Relay ports from 30000 up, split evenly (4 a session), each range small enough for the relay's
# descriptors (two sockets a port with connected sockets, plus 1000); the generator's ports are
# below 30000.
ulimit -n 65536 2>/dev/null || true
span=$(relay_port_span "$most")
limit=$((span / 4 * least))
[ "$limit" -gt 10000 ] && limit=10000
for v in ${steps//,/ } "$n"; do
  case $v in ''|*[!0-9]*|0) echo "STEPS: comma-separated session counts" >&2; exit 2 ;; esac
  if [ "$v" -gt "$limit" ]; then
    echo "STEPS, N: at most $limit sessions with RELAY_COUNTS=\"$counts\" ($span relay ports each)" >&2; exit 2
  fi
done

mkdir -p "$out"
build_bench_tools  # B: rtpload, MP: mediaproxy-relay
(cd "$here" && cargo build --release -q --example bench-dispatcher)
DISP=${CARGO_TARGET_DIR:-$here/target}/release/examples/bench-dispatcher

remote_workspace mp-remote-bench  # work, certs, sock, the set's PIDs, stop_set, cleanup

# Certificates: a CA, the dispatcher's and one per relay (the recipe of doc/mediaproxy.md 1.12).
make_certs "$work" dispatcher $(seq -f 'relay%g' "$most")

make_relay_cgroups mpx-remote "$most" "$quota"

# Starts the dispatcher and $1 relays (each its own port range and cgroup); waits (bounded)
# until the dispatcher sees every relay active.
start_set() {
  local count=$1
  rm -f "$sock"
  nice -n -10 taskset -c 1 "$DISP" --socket "$sock" --listen "127.0.0.1:$port" \
    --cert "$work/dispatcher.pem" --key "$work/dispatcher.key" --ca "$work/ca.pem" \
    --max-seconds "$max_seconds" >>"$out/dispatcher.log" 2>&1 &
  front_pid=$!
  for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || { echo "bench-remote: the dispatcher did not start (dispatcher.log)" >&2; exit 1; }
  start_remote_relays "$count" "127.0.0.1:$port"
  wait_relays_active "$sock" "$count" || { echo "bench-remote: not every relay connected (dispatcher.log)" >&2; exit 1; }
}

# The set-up rate of one set-up measurement ($1: its JSON lines): sessions / slowest setup.
setup_rate() {
  python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("%.1f" % (sum(r["sessions"] for r in rows) / max(r["setup_s"] for r in rows)))' "$1"
}

for f in setup.txt setup.jsonl ramp.txt ramp.jsonl capacity.txt cgroup-stat.txt results.jsonl; do
  : >"$out/$f"
done
for rep in $(seq "$repeats"); do
  for r in $counts; do
    echo "== $r relay(s), repeat $rep" | tee -a "$out/setup.txt" >>"$out/ramp.txt"
    start_set "$r"
    # set-ups: media at 1 packet/s for 1 s only, so that the control path is what is measured
    per=$((n / clients))
    sj=$work/setup-$r-$rep.jsonl
    gens=()
    for k in $(seq 0 $((clients - 1))); do
      nice -n -10 taskset -c 0 "$B" run --relay mediaproxy --ctrl "$sock" --relay-pid "${relay_pids[0]}" \
        --sessions "$per" --gen-port-base $((10000 + 2 * per * k)) --rate 1 --warmup 0 --duration 1 \
        --drain 0.2 --settle 0 --quiet --label "setup-r$r" --json "$sj" >"$work/setup-$k.txt" 2>&1 &
      gens+=($!)
    done
    rc=0
    for g in "${gens[@]}"; do wait "$g" || rc=$?; done
    cat "$work"/setup-*.txt >>"$out/setup.txt"
    rm -f "$work"/setup-*.txt
    if [ "$rc" != 0 ]; then echo "bench-remote: a set-up run failed (setup.txt)" >&2; exit 1; fi
    cat "$sj" >>"$out/setup.jsonl"
    rate=$(setup_rate "$sj")
    sleep 1
    # capacity: loss, or the first relay at 95 % of its quota (relay% in the table: the first
    # relay's CPU; the dispatcher spreads sessions evenly)
    nice -n -10 taskset -c 0 "$B" ramp --relay mediaproxy --ctrl "$sock" --relay-pid "${relay_pids[0]}" \
      --steps "$steps" --duration "$duration" --max-loss 0.1 --max-relay-cpu "$stop_cpu" \
      --label "remote-$r" --json "$out/ramp.jsonl" \
      | tee "$out/ramp-$r-$rep.txt" | tee -a "$out/ramp.txt"
    cap=$(ramp_capacity "$out/ramp-$r-$rep.txt" "$steps")
    for i in $(seq "$r"); do
      echo "$r relay(s) repeat $rep: relay$i $(cg_delta "$i")" >>"$out/cgroup-stat.txt"
    done
    stop_set
    echo "$r relay(s) repeat $rep: $rate set-ups/s ($n sessions, $clients client(s)); capacity $cap sessions at $quota % of a core per relay" \
      | tee -a "$out/capacity.txt"
    printf '{"relays": %s, "repeat": %s, "quota_pct": %s, "setup_sessions": %s, "setup_clients": %s, "setups_per_s": %s, "capacity": "%s"}\n' \
      "$r" "$rep" "$quota" "$n" "$clients" "$rate" "$cap" >>"$out/results.jsonl"
    sleep 1
  done
done

python3 - "$out/results.jsonl" "$quota" <<'EOF' | tee "$out/summary.txt"
import json, re, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for relays in sorted({r["relays"] for r in rows}):
    mine = [r for r in rows if r["relays"] == relays]
    rates = [r["setups_per_s"] for r in mine]
    caps = [r["capacity"] for r in mine]
    nums = [int(re.match(r">?=?(\d+)", c).group(1)) for c in caps]
    bound = "" if all(c.isdigit() for c in caps) else " (some ramps did not reach a limit)"
    print(f"{relays} relay(s): {statistics.median(rates):.0f} set-ups/s {rates}; "
          f"capacity {statistics.median(nums):.0f} sessions {caps}{bound}; "
          f"{sys.argv[2]} % of a core per relay")
EOF
{
  echo "# per ramp, in order (relay CPU: the first relay's): cpu95 = the last step before that relay"
  echo "# used 95 % of its quota, knee = the last step before the median latency passed 1 ms"
  python3 "$here/scripts/ramp-summary.py" "$quota" "$out/ramp.jsonl"
} | tee -a "$out/summary.txt"
