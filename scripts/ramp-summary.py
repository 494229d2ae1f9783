#!/usr/bin/env python3
"""Summarises the capacity ramps of scripts/bench-relay.sh (QUOTA mode) from its ramp.jsonl.

    scripts/ramp-summary.py QUOTA ramp.jsonl

One line per ramp (a ramp ends where the label changes or the session count goes down), with
its capacity by two rules:
  cpu95   the last step before the first whose relay CPU reached 95 % of the quota (the rule
          bench-relay.sh stops the ramp on);
  knee    the last step before the first whose median added latency exceeded 1 ms: where the
          relay stops keeping up and most packets queue (under a quota, a relay that runs out of
          its share waits for the next 10 ms period; the median, unlike the p99, is not moved by
          a single stall of the machine);
and the relay's CPU per 1000 sessions at 250 sessions (below every relay's saturation here),
the largest steal the generator saw on either CPU during the ramp, and whether any step lost
more than 0.1 %.
"""
import json
import sys


def ramps(rows):
    cur = []
    for r in rows:
        if cur and (r["label"] != cur[-1]["label"] or r["sessions"] <= cur[-1]["sessions"]):
            yield cur
            cur = []
        cur.append(r)
    if cur:
        yield cur


def last_before(steps, bad):
    cap = 0
    for s in steps:
        if bad(s):
            return cap, True
        cap = s["sessions"]
    return cap, False


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    quota = float(sys.argv[1])
    with open(sys.argv[2]) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    print(f"{'label':<12} {'cpu95':>7} {'knee':>7} {'cpu/1k@250':>11} {'steal%':>7} loss>0.1%")
    for steps in ramps(rows):
        cpu95, hit = last_before(steps, lambda s: s["relay_cpu_pct"] >= 0.95 * quota)
        knee, hit_knee = last_before(steps, lambda s: s["lat_p50_us"] > 1000)
        at250 = next((s["relay_cpu_pct_per_1k_sessions"] for s in steps if s["sessions"] == 250), None)
        steal = max(max(s.get("cpu_steal_pct") or [0]) for s in steps)
        lossy = any(s["loss_pct"] > 0.1 for s in steps)
        fmt = lambda v, h: f"{v}" if h else f">={v}"
        at = f"{at250:.1f}" if at250 is not None else "-"
        print(
            f"{steps[0]['label']:<12} {fmt(cpu95, hit):>7} {fmt(knee, hit_knee):>7} {at:>11} "
            f"{steal:>7.1f} {'yes' if lossy else 'no'}"
        )


if __name__ == "__main__":
    main()
