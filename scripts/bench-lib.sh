# Shared by the relay benchmarks (scripts/bench-relay.sh, scripts/bench-kernel.sh,
# scripts/bench-remote.sh): building the generator and the relay, CPU quotas, starting and
# stopping the relays, reading a ramp's capacity. Source it after setting `here` (the
# repository) and `out` (the result directory); `cg` (a cgroup directory) may name a CPU quota
# the relays run in.
#
# rtpload is copied to /tmp and built there (never inside the repo). Relay and generator run at
# nice -10 so that unrelated low-priority work on a shared machine disturbs every relay alike.
cg=${cg:-}

build_bench_tools() {
  rm -rf /tmp/rtpload-bench && cp -r "$here/../shared/bench/rtpload" /tmp/rtpload-bench
  (cd /tmp/rtpload-bench && CARGO_TARGET_DIR=/tmp/rtpload-bench/target cargo build --release -q)
  (cd "$here" && cargo build --release -q --bin mediaproxy-relay)
  B=/tmp/rtpload-bench/target/release/rtpload
  MP=${CARGO_TARGET_DIR:-$here/target}/release/mediaproxy-relay
}

# Checks that $1 is a percentage of one core, 10-100 (exits 2 otherwise): the kernel's smallest
# CFS quota is 1 ms, a tenth of the 10 ms period used here.
check_quota() {
  case $1 in ''|*[!0-9]*) echo "QUOTA: a percentage of one core, 10-100" >&2; exit 2 ;; esac
  if [ "$1" -lt 10 ] || [ "$1" -gt 100 ]; then echo "QUOTA: 10-100" >&2; exit 2; fi
}

# Creates (or resets) cgroup $1 limited to $2 % of one core (CFS quota, 10 ms period; cgroup v2
# if its cpu controller is there, else v1) and prints its directory; exits 2 without a cpu
# controller or when the kernel refuses the quota (call it as `cg=$(cg_create ...)`).
cg_create() {
  local dir
  if grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    dir=/sys/fs/cgroup/$1
    echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
    mkdir -p "$dir" || exit 2
    echo "$(($2 * 100)) 10000" >"$dir/cpu.max" || exit 2
  elif [ -d /sys/fs/cgroup/cpu ]; then
    dir=/sys/fs/cgroup/cpu/$1
    mkdir -p "$dir" || exit 2
    echo 10000 >"$dir/cpu.cfs_period_us" || exit 2
    echo "$(($2 * 100))" >"$dir/cpu.cfs_quota_us" || exit 2
  else
    echo "QUOTA: no cgroup cpu controller here" >&2; exit 2
  fi
  echo "$dir"
}

# The capacity of one rtpload ramp: the last of the comma-separated steps $2 before the step
# that stopped the ramp printed in file $1; ">=N (all steps passed)" when none stopped it,
# ">=N (generator-bound)" when the generator's CPU did.
ramp_capacity() {
  local stopped cap=0 n
  stopped=$(sed -n -e 's/^# stop: step \([0-9]*\) failed.*/\1/p' \
    -e 's/^# stop: .* at \([0-9]*\) sessions.*/\1/p' "$1")
  for n in ${2//,/ }; do
    if [ -n "$stopped" ] && [ "$n" -ge "$stopped" ]; then break; fi
    cap=$n
  done
  if [ -z "$stopped" ]; then echo ">=$cap (all steps passed)"
  elif grep -q '^# stop: generator CPU' "$1"; then echo ">=$cap (generator-bound)"
  else echo "$cap"
  fi
}

# Runs "$@" inside the quota's cgroup (when there is one): the shell joins it, then execs.
# Called as `in_cg ... &`: the background subshell execs too, so $! is the relay's PID.
in_cg() {
  if [ -n "$cg" ]; then
    exec sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
  else
    exec "$@"
  fi
}

# Our relay on CPU 1. $1: relay_io, $2: relay_batch_wait (us), $3: relay_connected_sockets,
# $4: relay_kernel, then further mediaproxy-relay options. PID in /tmp/mp-bench.pid.
start_mp() {
  local io=$1 batch=$2 conn=$3 kern=$4
  shift 4
  rm -f /tmp/mp-bench.sock
  in_cg nice -n -10 taskset -c 1 "$MP" --socket /tmp/mp-bench.sock --listen-ip 127.0.0.1 --port-range 30000-59999 \
    --threads 1 --relay-io "$io" --batch-wait-us "$batch" --connected-sockets "$conn" --kernel "$kern" \
    --max-seconds 900 "$@" >>"$out/mediaproxy-relay.log" 2>&1 &
  echo $! >/tmp/mp-bench.pid
  for _ in $(seq 50); do [ -S /tmp/mp-bench.sock ] && break; sleep 0.1; done
}

# rtpengine in user space with one poller thread, on CPU 1, ng on 127.0.0.1:2223.
start_re() {
  in_cg nice -n -10 taskset -c 1 rtpengine --config-file=none --foreground --log-stderr --log-level=4 \
    --table=-1 --interface=127.0.0.1 --listen-ng=127.0.0.1:2223 \
    --port-min=30000 --port-max=59999 --delete-delay=0 --pidfile=/tmp/rtpengine-bench.pid \
    --num-threads=1 --media-num-threads=1 >>"$out/rtpengine.log" 2>&1 &
  echo $! >/tmp/re-bench.pid
  for _ in $(seq 50); do "$B" ping --relay rtpengine --ctrl 127.0.0.1:2223 >/dev/null 2>&1 && break; sleep 0.1; done
}

# rtpload's do-nothing forwarder (one socket per leg) on CPU 1.
start_fw() {
  in_cg nice -n -10 taskset -c 1 "$B" forwarder --mode per-session --addr 127.0.0.1:40000 --sessions 5000 \
    --max-seconds 900 >>"$out/forwarder.log" 2>&1 &
  echo $! >/tmp/fw-bench.pid
  sleep 0.5
}

# Stops the process whose PID is in file $1.
stop() { kill "$(cat "$1")" 2>/dev/null || true; sleep 1; }
