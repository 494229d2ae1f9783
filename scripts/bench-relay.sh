#!/usr/bin/env bash
# Relay benchmark: mediaproxy-relay (this crate) against rtpengine (user space) with
# ../shared/bench/rtpload, same machine, same run, loopback only. Every process started here
# stops by itself (--max-seconds, bounded rtpload runs) or is killed by its PID at the end.
#
#   scripts/bench-relay.sh [outdir]        (needs: apt-get install rtpengine-daemon)
#
# rtpload is copied to /tmp and built there (never inside the repo). Relay and generator run at
# nice -10 so that unrelated low-priority work on a shared machine disturbs both relays alike.
# With kernel.sched_autogroup_enabled=1 nice only counts inside the session's autogroup: on a
# shared machine also run `echo -10 > /proc/self/autogroup` in the invoking shell first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/relay-bench}
steps=${STEPS:-500,1000,1500,2000,2500}
points=${POINTS:-500 1000}
mkdir -p "$out"
rm -rf /tmp/rtpload-bench && cp -r "$here/../shared/bench/rtpload" /tmp/rtpload-bench
(cd /tmp/rtpload-bench && cargo build --release -q)
(cd "$here" && cargo build --release -q --bin mediaproxy-relay)
B=/tmp/rtpload-bench/target/release/rtpload
MP=$here/target/release/mediaproxy-relay

start_mp() {
  rm -f /tmp/mp-bench.sock
  nice -n -10 taskset -c 1 "$MP" --socket /tmp/mp-bench.sock --listen-ip 127.0.0.1 --port-range 30000-59999 \
    --threads 1 --max-seconds 900 2>>"$out/mediaproxy-relay.log" &
  echo $! >/tmp/mp-bench.pid
  for _ in $(seq 50); do [ -S /tmp/mp-bench.sock ] && break; sleep 0.1; done
}
start_re() {
  nice -n -10 taskset -c 1 rtpengine --config-file=none --foreground --log-stderr --log-level=4 \
    --table=-1 --interface=127.0.0.1 --listen-ng=127.0.0.1:2223 \
    --port-min=30000 --port-max=59999 --delete-delay=0 --pidfile=/tmp/rtpengine-bench.pid \
    --num-threads=1 --media-num-threads=1 2>>"$out/rtpengine.log" &
  echo $! >/tmp/re-bench.pid
  for _ in $(seq 50); do "$B" ping --relay rtpengine --ctrl 127.0.0.1:2223 >/dev/null 2>&1 && break; sleep 0.1; done
}
stop() { kill "$(cat "$1")" 2>/dev/null || true; sleep 1; }

# ramps, alternating relays
start_mp
nice -n -10 taskset -c 0 "$B" ramp --relay mediaproxy --ctrl /tmp/mp-bench.sock --relay-pid "$(cat /tmp/mp-bench.pid)" \
  --steps "$steps" --duration 10 --label mediaproxy-rs --json "$out/ramp.jsonl" | tee "$out/ramp-mediaproxy.txt"
stop /tmp/mp-bench.pid
start_re
nice -n -10 taskset -c 0 "$B" ramp --relay rtpengine --ctrl 127.0.0.1:2223 --relay-pid "$(cat /tmp/re-bench.pid)" \
  --steps "$steps" --duration 10 --label rtpengine-1t --json "$out/ramp.jsonl" | tee "$out/ramp-rtpengine.txt"
stop /tmp/re-bench.pid
# fixed points, 3 repeats each, alternating
for n in $points; do
  start_mp
  nice -n -10 taskset -c 0 "$B" run --relay mediaproxy --ctrl /tmp/mp-bench.sock --relay-pid "$(cat /tmp/mp-bench.pid)" \
    --sessions "$n" --repeat 3 --duration 10 --label mediaproxy-rs --json "$out/points.jsonl" | tee -a "$out/points.txt"
  stop /tmp/mp-bench.pid
  start_re
  nice -n -10 taskset -c 0 "$B" run --relay rtpengine --ctrl 127.0.0.1:2223 --relay-pid "$(cat /tmp/re-bench.pid)" \
    --sessions "$n" --repeat 3 --duration 10 --label rtpengine-1t --json "$out/points.jsonl" | tee -a "$out/points.txt"
  stop /tmp/re-bench.pid
done
