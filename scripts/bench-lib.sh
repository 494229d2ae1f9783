# Shared by the relay benchmarks (scripts/bench-relay.sh, scripts/bench-kernel.sh): building the
# generator and the relay, starting and stopping the relays. Source it after setting `here` (the
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
