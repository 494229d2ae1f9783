# Shared by the relay benchmarks (scripts/bench-relay.sh, scripts/bench-kernel.sh,
# scripts/bench-remote.sh, scripts/bench-remote-sip.sh): building the generator and the relay,
# CPU quotas, starting and stopping the relays (local and remote), certificates for the remote
# relays' TLS link, reading a ramp's capacity. Source it after setting `here` (the
# repository) and `out` (the result directory); `cg` (a cgroup directory) may name a CPU quota
# the relays run in.
#
# rtpload is copied to /tmp and built there (never inside the repo). Relay and generator run at
# nice -10 so that unrelated low-priority work on a shared machine disturbs every relay alike.
cg=${cg:-}

build_bench_tools() {
  rm -rf /tmp/rtpload-bench && cp -r "$here/../shared/bench/rtpload" /tmp/rtpload-bench
  (cd /tmp/rtpload-bench && CARGO_TARGET_DIR=/tmp/rtpload-bench/target cargo build --release -q)
  build_relay
  B=/tmp/rtpload-bench/target/release/rtpload
}

# Builds mediaproxy-relay (release) in CARGO_TARGET_DIR (default target/); MP: the binary.
build_relay() {
  (cd "$here" && cargo build --release -q --bin mediaproxy-relay)
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

# ---- remote relays (`mediaproxy-relay --dispatcher`) -------------------------------------------

# Stops process $1: TERM, then (bounded) a second TERM (a draining relay stops at once), then KILL.
stop_pid() {
  local p=$1 i
  kill "$p" 2>/dev/null || return 0
  for i in $(seq 30); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; [ "$i" = 15 ] && kill "$p" 2>/dev/null; done
  kill -KILL "$p" 2>/dev/null || true
}

# Certificates in directory $1 (the recipe of doc/mediaproxy.md 1.12): a CA (ca.pem, ca.key) and
# one leaf per further argument (NAME.pem, NAME.key; server and client use). openssl's output
# goes to $out/openssl.log (shown when it fails; exits 1 then).
make_certs() {
  local dir=$1
  shift
  (
    cd "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=bench CA" -keyout ca.key -out ca.pem
    printf 'extendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' >leaf.ext
    for name in "$@"; do
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
        -keyout "$name.key" -out "$name.csr"
      openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile leaf.ext -out "$name.pem"
    done
  ) >"$out/openssl.log" 2>&1 || { cat "$out/openssl.log" >&2; exit 1; }
}

# The port span of each of $1 relays: $relay_port_base (default 30000) to 59999 split evenly,
# each range small enough for the relay's descriptors (two sockets a port with connected
# sockets, plus 1000). Raise the open-file limit first (`ulimit -n 65536`).
relay_port_span() {
  local span=$(((60000 - ${relay_port_base:-30000}) / $1)) fds
  fds=$(ulimit -n)
  if [ "$fds" != unlimited ] && [ "$span" -gt $(((fds - 1000) / 2)) ]; then span=$(((fds - 1000) / 2)); fi
  echo "$span"
}

# The dispatcher's `summary` on control socket $1 (one JSON array, an object per relay); fails
# when it does not answer within 2 s.
dispatcher_summary() {
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"summary\r\n")
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
sys.stdout.write(buf.decode())
EOF
}

# Appends to cgs $2 cgroups named $1-1, $1-2, ... limited to $3 % of one core each (cg_create;
# exits 2 when that fails).
make_relay_cgroups() {
  local i dir
  for i in $(seq "$2"); do
    dir=$(cg_create "$1-$i" "$3") || exit 2
    cgs+=("$dir")
  done
}

# Relays active in the summary of control socket $1 (0 when it does not answer).
active_relays() {
  dispatcher_summary "$1" 2>/dev/null \
    | python3 -c 'import json, sys; print(sum(1 for r in json.load(sys.stdin) if r.get("relay_state") == "active"))' \
      2>/dev/null || echo 0
}

# Starts $1 `mediaproxy-relay --dispatcher $2` processes on CPU 1 at nice -10: relay i with
# certificate $certs/relay<i>.pem (CA $certs/ca.pem), $span ports from $relay_port_base (default
# 30000) + (i - 1) * $span, in cgroup ${cgs[i - 1]}, --max-seconds $max_seconds, further
# arguments as further options, logging to $out/relay<i>.log. Appends their PIDs to relay_pids
# and copies each cgroup's cpu.stat to $certs/cpu.stat.<i>.
start_remote_relays() {
  local count=$1 addr=$2 i lo
  shift 2
  for i in $(seq "$count"); do
    lo=$((${relay_port_base:-30000} + (i - 1) * span))
    cg=${cgs[$((i - 1))]} in_cg nice -n -10 taskset -c 1 "$MP" --dispatcher "$addr" \
      --cert "$certs/relay$i.pem" --key "$certs/relay$i.key" --ca "$certs/ca.pem" \
      --socket "$certs/relay$i.sock" --listen-ip 127.0.0.1 --port-range "$lo-$((lo + span - 1))" \
      --threads 1 --max-seconds "$max_seconds" "$@" >>"$out/relay$i.log" 2>&1 &
    relay_pids+=($!)
    cp "${cgs[$((i - 1))]}/cpu.stat" "$certs/cpu.stat.$i"
  done
}

# Waits (20 s at most) until the summary of control socket $1 shows $2 relays active; says how
# many were on stderr and fails otherwise.
wait_relays_active() {
  local active=0
  for _ in $(seq 100); do
    active=$(active_relays "$1")
    [ "$active" = "$2" ] && return 0
    sleep 0.2
  done
  echo "$active of $2 relays connected after 20 s (relay*.log)" >&2
  return 1
}

# Relay $1's quota accounting (cpu.stat) since start_remote_relays: counters as differences.
cg_delta() {
  awk 'NR == FNR { a[$1] = $2; next } { printf "%s %s ", $1, $2 - a[$1] }' \
    "$certs/cpu.stat.$1" "${cgs[$(($1 - 1))]}/cpu.stat"
}

# A remote-relay benchmark's workspace: a temporary directory ($work, also $certs) for the
# certificates, the control socket ($sock) and the cgroup counters; the PIDs of a set (the
# dispatcher or the proxy in front_pid, the relays in relay_pids, anything else in other_pids)
# and the relays' cgroups (cgs); and the cleanup that stops them all when the script exits,
# however it exits. $1: the temporary directory's name prefix.
remote_workspace() {
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  certs=$work
  sock=$work/dispatcher.sock
  front_pid=
  relay_pids=()
  other_pids=()
  cgs=()
  trap remote_cleanup EXIT
  trap 'exit 130' INT TERM
}

# Stops a set: the other processes, the relays, then the front.
stop_set() {
  local p
  for p in "${other_pids[@]}"; do stop_pid "$p"; done
  other_pids=()
  for p in "${relay_pids[@]}"; do stop_pid "$p"; done
  relay_pids=()
  if [ -n "$front_pid" ]; then stop_pid "$front_pid"; front_pid=; fi
}

remote_cleanup() {
  stop_set
  local cg
  for cg in "${cgs[@]}"; do rmdir "$cg" 2>/dev/null || true; done
  rm -rf "$work"
}
