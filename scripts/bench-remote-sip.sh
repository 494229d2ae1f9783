#!/usr/bin/env bash
# Remote relays through the real proxy: call set-ups per second with one, then two
# `mediaproxy-relay --dispatcher` processes behind OpenSIPS with mediaproxy.so in
# relay_mode = "remote" (no media threads in the proxy), driven by SIPp. The SIP counterpart of
# scripts/bench-remote.sh (which drives the module's dispatcher without a proxy).
#
# Per relay count, a fresh set: OpenSIPS (udp, udp_workers=2, tm, rr, dialog, sl and the module;
# engage_media_proxy() on every INVITE, forwarded to the SIPp UAS) and the relays, connected over
# mutual TLS to the module's relay_listen on 127.0.0.1; the script waits until the module's
# control socket `summary` shows every relay active. Then for every rate R of RATES: a SIPp UAS
# and a SIPp UAC placing CALLS calls (default R * SECONDS) at R calls/s, each INVITE with SDP,
# answered with SDP, held HOLD_MS, ended by a BYE from the caller, all through the proxy (loopback,
# udp). No RTP flows: set-ups (the relay's `update` for the offer and for the answer) and
# tear-downs (`remove`) are what the relays do. A call is successful when SIPp completed its
# scenario (INVITE, 200, ACK, BYE, 200).
#
# Processes as bench-remote.sh: proxy and relays on CPU 1 (the proxy outside any quota), each
# relay in a cgroup of its own limited to QUOTA % of one core, both SIPp on CPU 0, all at nice
# -10. Every process is started by this script, bounded in time (SIPp by a deadline, relays by
# --max-seconds) and stopped by its PID when its measurement ends and when the script exits
# however it exits.
#
#   OPENSIPS_BIN=/opt/opensips-4.0.1/sbin/opensips scripts/bench-remote-sip.sh [outdir]
#       (default outdir /tmp/remote-sip-bench; needs root, openssl, SIPp; OPENSIPS_BIN is
#       required, the module is built for exactly that OpenSIPS into target/os<major><minor>,
#       or CARGO_TARGET_DIR)
#
# Environment:
#   RELAY_COUNTS="1 2"        relay counts, in this order within each repeat (1-8)
#   RATES="100 200 400 800"   call rates (calls/s) measured with every relay count
#   SECONDS_PER_RATE=10       calls placed per rate: R * SECONDS_PER_RATE ...
#   CALLS=                    ... or this many at every rate
#   HOLD_MS=1000              how long each call lasts (SIPp -d)
#   QUOTA=25                  each relay's CPU quota, percent of one core (10-100)
#   REPEATS=1                 repeats; relay counts alternate within each, every set fresh
#   SIP_PORT=15060            the proxy; the UAC uses SIP_PORT + 10, the UAS SIP_PORT + 20
#   RELAY_PORT=25062          the module's relay_listen (127.0.0.1)
#   RELAY_PORT_BASE=30000     the relays' media ports: from here to 59999, split evenly (as
#                             bench-remote.sh: do not run both at once)
#   RELAY_QUARANTINE=1        the relays' --quarantine (s; default of the product: 10): a port
#                             pair rests that long after its call. Every rate must fit the
#                             ports of the smallest relay count: 4 ports a call for
#                             HOLD_MS + RELAY_QUARANTINE + 0.5 s (with one relay, the defaults
#                             and an open-file limit of 20000: 950 calls/s)
#   MAX_SECONDS=3600          the relays' --max-seconds
#
# Output in outdir: opensips.cfg (the proxy's configuration), uac.xml/uas.xml (the SIPp
# scenarios), per run (r relays, rate R, repeat k) uac-r<r>-R<R>-<k>.csv (SIPp -trace_stat,
# every 100 ms) and .screen (its screens, the last one final), the processes' logs (appended),
# results.jsonl (one object per run), cgroup-stat.txt (each relay's quota accounting per run)
# and summary.txt: one line per relay count and rate with the
# calls attempted, successful, failed and unfinished (still open when SIPp stopped), the
# achieved rate (successful calls / (seconds from the start to the last success - the hold)),
# the mean set-up time (INVITE to 200; SIPp measures it in whole milliseconds), the CPU each process used in % of one core over the run,
# and the sessions each relay was given (the module's summary, `sessions_created`).
#
# With kernel.sched_autogroup_enabled=1 nice only counts inside the session's autogroup: on a
# shared machine also run `echo -10 > /proc/self/autogroup` in the invoking shell first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/remote-sip-bench}
# shellcheck source=scripts/bench-lib.sh
. "$here/scripts/bench-lib.sh"

osbin=${OPENSIPS_BIN:-}
if [ -z "$osbin" ] || [ ! -x "$osbin" ]; then
  echo "bench-remote-sip: set OPENSIPS_BIN to an OpenSIPS 4.0 or 3.6 binary (sbin/opensips)" >&2
  exit 2
fi
command -v sipp >/dev/null || { echo "bench-remote-sip: SIPp is not installed (scripts/deps.sh)" >&2; exit 2; }
counts=${RELAY_COUNTS:-1 2}
rates=${RATES:-100 200 400 800}
per_rate=${SECONDS_PER_RATE:-10}
fixed_calls=${CALLS:-}
hold=${HOLD_MS:-1000}
quota=${QUOTA:-25}
repeats=${REPEATS:-1}
sip_port=${SIP_PORT:-15060}
relay_port=${RELAY_PORT:-25062}
max_seconds=${MAX_SECONDS:-3600}
relay_port_base=${RELAY_PORT_BASE:-30000}
quarantine=${RELAY_QUARANTINE:-1}
check_quota "$quota"
for v in $counts $rates "$per_rate" ${fixed_calls:+"$fixed_calls"} "$hold" "$repeats" "$sip_port" "$relay_port" "$max_seconds" "$relay_port_base"; do
  case $v in ''|*[!0-9]*|0) echo "RELAY_COUNTS, RATES, SECONDS_PER_RATE, CALLS, HOLD_MS, REPEATS, SIP_PORT, RELAY_PORT, MAX_SECONDS, RELAY_PORT_BASE: positive numbers" >&2; exit 2 ;; esac
done
case $quarantine in ''|*[!0-9]*) echo "RELAY_QUARANTINE: seconds (0 or more)" >&2; exit 2 ;; esac
if [ "$relay_port_base" -lt 20000 ] || [ "$relay_port_base" -gt 50000 ]; then
  echo "RELAY_PORT_BASE: 20000-50000 (SIPp and the proxy use ports below)" >&2; exit 2
fi
most=0
least=8
for c in $counts; do
  [ "$c" -gt "$most" ] && most=$c
  [ "$c" -lt "$least" ] && least=$c
done
if [ "$most" -gt 8 ]; then echo "RELAY_COUNTS: at most 8 relays" >&2; exit 2; fi
uac_port=$((sip_port + 10))
uas_port=$((sip_port + 20))
ulimit -n 65536 2>/dev/null || true
span=$(relay_port_span "$most")
# calls holding ports at once at rate R: R * (hold + quarantine + 0.5 s), 4 ports each
for r in $rates; do
  need=$((4 * r * (hold + 1000 * quarantine + 500) / 1000))
  if [ "$need" -gt $((span * least)) ]; then
    echo "RATES: $r calls/s hold about $need relay ports, more than the $((span * least)) of $least relay(s) (lower HOLD_MS or RELAY_QUARANTINE)" >&2
    exit 2
  fi
done

# The module for exactly this OpenSIPS (build.rs reads `opensips -V` of OPENSIPS_BIN), and the
# relay, in one target directory of their own.
version=$("$osbin" -V | sed -n 's/^version: //p')
series=$(echo "$version" | sed -n 's/^opensips \([0-9]*\)\.\([0-9]*\)\..*/\1\2/p')
[ -n "$series" ] || { echo "bench-remote-sip: $osbin -V says no version" >&2; exit 2; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target/os$series}
(cd "$here" && OPENSIPS_BIN=$osbin cargo build --release -q --lib)
build_relay  # MP
module=$CARGO_TARGET_DIR/release/libmediaproxy.so
mpath=
for d in lib64/opensips/modules lib/opensips/modules; do
  p=$(dirname "$(dirname "$osbin")")/$d
  [ -f "$p/tm.so" ] && mpath=$p && break
done
[ -n "$mpath" ] || { echo "bench-remote-sip: no modules directory beside $osbin" >&2; exit 2; }

mkdir -p "$out"
remote_workspace mp-remote-sip  # work, certs, sock, the set's PIDs, stop_set, cleanup

make_certs "$work" proxy $(seq -f 'relay%g' "$most")
make_relay_cgroups mpx-remote-sip "$most" "$quota"

# ---- the proxy's configuration and the SIPp scenarios ------------------------------------------
cat >"$out/opensips.cfg" <<EOF
# bench-remote-sip.sh: mediaproxy.so with remote relays only, INVITEs to the SIPp UAS
log_level=2
stderror_enabled=yes
syslog_enabled=no
udp_workers=2
socket=udp:127.0.0.1:$sip_port

mpath="$mpath/"
loadmodule "proto_udp.so"
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "sipmsgops.so"
loadmodule "dialog.so"
loadmodule "$module"

modparam("dialog", "default_timeout", 600)
modparam("mediaproxy", "relay_mode", "remote")
modparam("mediaproxy", "natping_interval", 0)
modparam("mediaproxy", "mediaproxy_socket", "$sock")
modparam("mediaproxy", "relay_listen", "tls:127.0.0.1:$relay_port")
modparam("mediaproxy", "relay_cert", "$work/proxy.pem")
modparam("mediaproxy", "relay_key", "$work/proxy.key")
modparam("mediaproxy", "relay_ca", "$work/ca.pem")

route {
	if (!mf_process_maxfwd_header(10)) {
		send_reply(483, "Too Many Hops");
		exit;
	}
	if (has_totag()) {
		# ACK and BYE: the dialog (and with it the media session) follows the Route header
		if (loose_route()) {
			if (!t_relay())
				send_reply(500, "Internal Error");
		} else if (is_method("ACK")) {
			if (t_check_trans())
				t_relay();
		} else {
			send_reply(404, "Not here");
		}
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans())
			t_relay();
		exit;
	}
	t_check_trans();
	if (!is_method("INVITE")) {
		send_reply(405, "Method Not Allowed");
		exit;
	}
	record_route();
	if (!engage_media_proxy()) {
		send_reply(503, "No Media Relay");
		exit;
	}
	\$du = "sip:127.0.0.1:$uas_port";
	if (!t_relay())
		send_reply(500, "Internal Error");
	exit;
}
EOF
"$osbin" -c -f "$out/opensips.cfg" >"$out/opensips-check.log" 2>&1 \
  || { cat "$out/opensips-check.log" >&2; echo "bench-remote-sip: the configuration does not load" >&2; exit 1; }

sdp='v=0
      o=sipp [pid][call_number] 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=sendrecv'
cat >"$out/uac.xml" <<EOF
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- bench-remote-sip.sh caller: INVITE with SDP, ACK and BYE along the Record-Route -->
<scenario name="bench caller">
  <send retrans="500" start_rtd="1">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]c[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      $sdp

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true" rtd="1"/>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]c[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      [routes]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause/>
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]c[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      [routes]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
EOF
cat >"$out/uas.xml" <<EOF
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- bench-remote-sip.sh callee: answers with SDP, waits for the ACK and the caller's BYE -->
<scenario name="bench callee">
  <recv request="INVITE" rrs="true"/>
  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]u[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:callee@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      $sdp

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
EOF

# ---- processes ------------------------------------------------------------------------------------

# CPU seconds (user + system) used so far by the processes $@ (gone ones count 0).
cpu_s() {
  local p t=0 v
  for p in "$@"; do
    v=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || v=0
    t=$((t + ${v:-0}))
  done
  awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}
# The proxy's processes: the main one and its children.
proxy_procs() {
  echo "$front_pid"
  ps -o pid= --ppid "$front_pid" 2>/dev/null || true
}

# Starts OpenSIPS and $1 relays (each its own port range and cgroup) and waits (bounded) until
# the module's summary shows every relay active.
start_set() {
  local count=$1
  rm -f "$sock"
  nice -n -10 taskset -c 1 "$osbin" -F -m 256 -M 32 -w "$work" -P "$work/opensips.pid" \
    -f "$out/opensips.cfg" >>"$out/opensips.log" 2>&1 &
  front_pid=$!
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || { echo "bench-remote-sip: OpenSIPS did not open $sock (opensips.log)" >&2; exit 1; }
  start_remote_relays "$count" "127.0.0.1:$relay_port" --quarantine "$quarantine"
  wait_relays_active "$sock" "$count" || { echo "bench-remote-sip: not every relay connected (opensips.log)" >&2; exit 1; }
}

# Every relay's name, sessions_created and sessions (open now), one relay a line.
relay_counts() {
  dispatcher_summary "$sock" | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    d = r.get("dispatcher", {})
    print(r.get("relay", "?"), d.get("sessions_created", 0), d.get("sessions", 0))'
}

# Waits (30 s at most) until no relay holds a session.
wait_relays_idle() {
  for _ in $(seq 150); do
    [ "$(relay_counts | awk '{ s += $3 } END { print s + 0 }')" = 0 ] && return 0
    sleep 0.2
  done
  echo "bench-remote-sip: sessions still open 30 s after the run (relay*.log)" >&2
}

# One SIPp run: $1 relays, rate $2, repeat $3. Appends a JSON object to results.jsonl.
run_rate() {
  local r=$1 rate=$2 rep=$3 calls tag budget uas uac deadline rc t0 t1 p0 p1 u0 u1 s1 i
  calls=${fixed_calls:-$((rate * per_rate))}
  tag=r$r-R$rate-$rep
  # SIPp stops itself after the calls' own time plus 30 s; this script kills it 15 s later
  budget=$(((calls + rate - 1) / rate + hold / 1000 + 30))
  relay_counts >"$work/before"
  for i in $(seq "$r"); do cp "${cgs[$((i - 1))]}/cpu.stat" "$certs/cpu.stat.$i"; done
  nice -n -10 taskset -c 0 sipp -sf "$out/uas.xml" -i 127.0.0.1 -p "$uas_port" -mp 16100 \
    -nostdin -recv_timeout 10000 -timeout "$((budget + 5))s" \
    -trace_screen -screen_file "$out/uas-$tag.screen" -trace_err -error_file "$out/uas-$tag.errors" \
    >/dev/null 2>>"$out/sipp.log" &
  uas=$!
  other_pids+=("$uas")
  sleep 0.5
  t0=$(date +%s.%N)
  p0=$(cpu_s $(proxy_procs))
  u0=$(cpu_s "${relay_pids[@]}")
  nice -n -10 taskset -c 0 sipp -sf "$out/uac.xml" -s bench "127.0.0.1:$sip_port" -i 127.0.0.1 \
    -p "$uac_port" -mp 16000 -r "$rate" -m "$calls" -d "$hold" -nostdin -recv_timeout 10000 \
    -timeout "${budget}s" -trace_stat -stf "$out/uac-$tag.csv" -fd 100ms \
    -trace_screen -screen_file "$out/uac-$tag.screen" -trace_err -error_file "$out/uac-$tag.errors" \
    >/dev/null 2>>"$out/sipp.log" &
  uac=$!
  other_pids+=("$uac")
  deadline=$(($(date +%s) + budget + 15))
  s1=0
  p1=$p0
  u1=$u0
  while kill -0 "$uac" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
    # the last readings before SIPp ends (the proxy's and relays' are taken after it)
    s1=$(cpu_s "$uac" "$uas")
    sleep 0.2
  done
  if kill -0 "$uac" 2>/dev/null; then
    echo "bench-remote-sip: SIPp (rate $rate) still running after $((budget + 15)) s: stopped" >&2
    stop_pid "$uac"
  fi
  rc=0
  wait "$uac" || rc=$?
  t1=$(date +%s.%N)
  p1=$(cpu_s $(proxy_procs))
  u1=$(cpu_s "${relay_pids[@]}")
  stop_pid "$uas"
  wait "$uas" 2>/dev/null || true
  other_pids=()
  wait_relays_idle
  relay_counts >"$work/after"
  for i in $(seq "$r"); do
    echo "$r relay(s) rate $rate repeat $rep: relay$i $(cg_delta "$i")" >>"$out/cgroup-stat.txt"
  done
  python3 - "$out/uac-$tag.csv" "$work/before" "$work/after" "$r" "$rate" "$rep" "$calls" "$hold" \
    "$rc" "$t0" "$t1" "$p0" "$p1" "$u0" "$u1" "$s1" "$quota" <<'EOF' >>"$out/results.jsonl"
import csv, json, sys
(path, before, after, relays, rate, rep, calls, hold, rc, t0, t1, p0, p1, u0, u1, s1,
 quota) = sys.argv[1:]
rows = list(csv.DictReader(open(path), delimiter=";")) if path else []
rows = [r for r in rows if r.get("CurrentTime")]
def secs(v):  # SIPp's durations: HH:MM:SS:uuuuuu
    h, m, s, f = v.split(":")
    return int(h) * 3600 + int(m) * 60 + int(s) + float("0." + f)
def epoch(v):  # SIPp's dates: date, time of day, epoch seconds
    return float(v.split()[-1])
def num(row, k):
    return int(float(row.get(k, "0") or 0))
last = rows[-1] if rows else {}
ok = num(last, "SuccessfulCall(C)")
failed = num(last, "FailedCall(C)")
created = num(last, "TotalCallCreated")
# the first row where every success had happened: its elapsed time, less the hold
t_ok = next((epoch(r["CurrentTime"]) - epoch(r["StartTime"])
             for r in rows if num(r, "SuccessfulCall(C)") == ok), 0)
window = t_ok - int(hold) / 1000
achieved = ok / window if ok and window > 0 else 0.0
rtd = [k for k in last if k.startswith("ResponseTime1(C)")]
setup_ms = secs(last[rtd[0]]) * 1000 if rtd and last.get(rtd[0]) else None
def load(p):
    out = {}
    for line in open(p):
        parts = line.split()
        if len(parts) == 3:
            out[parts[0]] = int(parts[1])
    return out
b, a = load(before), load(after)
sessions = {k: a[k] - b.get(k, 0) for k in sorted(a)}
wall = float(t1) - float(t0)
print(json.dumps({
    "relays": int(relays), "rate": int(rate), "repeat": int(rep), "calls": int(calls),
    "attempted": created, "succeeded": ok, "failed": failed,
    "unfinished": created - ok - failed, "sipp_rc": int(rc),
    "achieved_cps": round(achieved, 1),
    "setup_ms_mean": None if setup_ms is None else round(setup_ms, 2),
    "wall_s": round(wall, 2),
    "proxy_cpu_pct": round((float(p1) - float(p0)) / wall * 100, 1),
    "relays_cpu_pct": round((float(u1) - float(u0)) / wall * 100, 1),
    "relay_quota_pct": int(quota) * int(relays),
    "sipp_cpu_pct": round(float(s1) / wall * 100, 1),
    "relay_sessions": sessions,
}))
EOF
  tail -n 1 "$out/results.jsonl"
}

for f in results.jsonl cgroup-stat.txt; do : >"$out/$f"; done
for rep in $(seq "$repeats"); do
  for r in $counts; do
    echo "== $r relay(s), repeat $rep"
    start_set "$r"
    for rate in $rates; do
      run_rate "$r" "$rate" "$rep"
      sleep 1
    done
    stop_set
    sleep 1
  done
done

python3 - "$out/results.jsonl" "$quota" <<'EOF' | tee "$out/summary.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("# relays rate repeat: attempted succeeded failed unfinished, achieved calls/s "
      "(successful / (seconds to the last success - hold)), mean set-up ms (INVITE to 200; SIPp "
      "counts whole ms); "
      "CPU in %% of one core over the run: proxy, relays (quota %s %% each), SIPp; sessions per relay"
      % sys.argv[2])
for r in sorted(rows, key=lambda r: (r["relays"], r["rate"], r["repeat"])):
    sessions = " ".join(f"{k}={v}" for k, v in r["relay_sessions"].items())
    setup = "-" if r["setup_ms_mean"] is None else f'{r["setup_ms_mean"]:.1f}'
    print(f'{r["relays"]} relay(s) rate {r["rate"]} repeat {r["repeat"]}: '
          f'attempted {r["attempted"]} succeeded {r["succeeded"]} failed {r["failed"]} '
          f'unfinished {r["unfinished"]}, achieved {r["achieved_cps"]:.1f} calls/s, '
          f'set-up {setup} ms; cpu proxy {r["proxy_cpu_pct"]} relays {r["relays_cpu_pct"]} '
          f'sipp {r["sipp_cpu_pct"]}; sessions {sessions}')
EOF
