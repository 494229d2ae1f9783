#!/usr/bin/env python3
"""Summarises scripts/bench-kernel.sh from the rtpload rows in its result directory.

    scripts/kernel-summary.py OUTDIR

cost runs (points.jsonl): per relay and session count, the medians over the rounds of the loss,
the relay process's CPU, the whole machine's CPU (both CPUs, softirq included) and the relay's
cost = whole machine minus the generator alone ("direct") of the same round and session count;
sessions per core = sessions / cost, and the cost per 1000 sessions.
ceiling runs (ceiling.jsonl): per ramp, the last step with loss <= 0.1 % and the CPU split there.
wide run (wide.jsonl): per relay_kernel, the sessions, packet rates, loss and CPU of all pairs.
profile (profile.txt): the top of perf's report with the fast path.
"""
import json
import os
import statistics
import sys


def rows(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def whole(r):
    return sum(r["cpu_busy_pct"])


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def cost_runs(rs):
    seen = {}
    by = {}
    for r in rs:
        if r["label"].startswith("median"):
            continue
        key = (r["label"], r["sessions"])
        rnd = seen.get(key, 0)
        seen[key] = rnd + 1
        by[(r["label"], r["sessions"], rnd)] = r
    print("cost runs: medians over rounds; whole = cpu0% + cpu1%; cost = whole - direct (same round)")
    print(f"{'relay':<10} {'sess':>5} {'rounds':>6} {'loss%':>7} {'p50_us':>7} {'relay%':>7} "
          f"{'whole%':>7} {'cost%':>7} {'cost/1k':>8} {'sess/core':>9}")
    labels = sorted({k[0] for k in by}, key=lambda l: ["direct", "off", "ebpf", "rtpengine"].index(l)
                    if l in ["direct", "off", "ebpf", "rtpengine"] else 9)
    for n in sorted({k[1] for k in by}):
        for l in labels:
            rr = [(rnd, r) for (lab, s, rnd), r in by.items() if lab == l and s == n]
            if not rr:
                continue
            costs = []
            for rnd, r in rr:
                d = by.get(("direct", n, rnd))
                if d is not None:
                    costs.append(whole(r) - whole(d))
            c = med(costs)
            rel = [r["relay_cpu_pct"] for _, r in rr if r["relay_cpu_pct"] is not None]
            spc = n * 100.0 / c if c > 0 else float("inf")
            print(f"{l:<10} {n:>5} {len(rr):>6} {med([r['loss_pct'] for _, r in rr]):>7.3f} "
                  f"{med([r['lat_p50_us'] for _, r in rr]):>7.0f} {med(rel):>7.1f} "
                  f"{med([whole(r) for _, r in rr]):>7.1f} {c:>7.1f} {c * 1000.0 / n:>8.1f} "
                  f"{'-' if l == 'direct' else f'{spc:.0f}':>9}")


def ceiling_runs(rs):
    if not rs:
        return
    print("\nceiling ramps (generator: two threads on both CPUs)")
    cur = []
    ramps = []
    for r in rs:
        if cur and (r["label"] != cur[-1]["label"] or r["sessions"] <= cur[-1]["sessions"]):
            ramps.append(cur)
            cur = []
        cur.append(r)
    if cur:
        ramps.append(cur)
    for ramp in ramps:
        ok = [r for r in ramp if r["loss_pct"] <= 0.1]
        last = ok[-1] if ok else None
        first_bad = next((r for r in ramp if r["loss_pct"] > 0.1), None)
        if last is None:
            print(f"{ramp[0]['label']:<10} no step within 0.1 % loss")
            continue
        busy = "/".join(f"{b:.0f}" for b in last["cpu_busy_pct"])
        sirq = "/".join(f"{b:.0f}" for b in last["cpu_softirq_pct"])
        print(f"{last['label']:<10} last step within 0.1 % loss: {last['sessions']} sessions, "
              f"{last['received_pps']:.0f} packets/s relayed, cpu0/cpu1 busy {busy} % "
              f"(softirq {sirq}), generator {last['gen_cpu_pct']:.0f} %, relay process "
              f"{last['relay_cpu_pct'] or 0:.1f} %"
              + (f"; next step {first_bad['sessions']}: loss {first_bad['loss_pct']:.2f} %"
                 if first_bad else "; every step passed"))


def wide_runs(rs):
    if not rs:
        return
    print("\nwide run (several relay/generator pairs at once)")
    for kern in ["ebpf", "off"]:
        rr = [r for r in rs if r["label"].startswith(f"wide-{kern}-")]
        if not rr:
            continue
        sent = sum(r["offered_pps"] for r in rr)
        recv = sum(r["received_pps"] for r in rr)
        busy = "/".join(f"{med([r['cpu_busy_pct'][i] for r in rr]):.0f}" for i in range(2))
        sirq = "/".join(f"{med([r['cpu_softirq_pct'][i] for r in rr]):.0f}" for i in range(2))
        rel = sum(r["relay_cpu_pct"] or 0 for r in rr)
        loss = 100.0 * (1 - recv / sent) if sent else float("nan")
        print(f"relay_kernel={kern}: {len(rr)} pairs, {sum(r['sessions'] for r in rr)} sessions, "
              f"{sent:.0f} packets/s offered, {recv:.0f} relayed, loss {loss:.3f} % "
              f"(worst pair {max(r['loss_pct'] for r in rr):.3f} %), relay processes {rel:.1f} % "
              f"of a core in all, cpu0/cpu1 busy {busy} % (softirq {sirq})")


def main():
    d = sys.argv[1]
    cost_runs(rows(os.path.join(d, "points.jsonl")))
    ceiling_runs(rows(os.path.join(d, "ceiling.jsonl")))
    wide_runs(rows(os.path.join(d, "wide.jsonl")))
    prof = os.path.join(d, "profile.txt")
    if os.path.exists(prof):
        print("\nprofile with the fast path (perf, both CPUs, % of samples, command and symbol)")
        with open(prof) as f:
            for line in f.readlines()[:25]:
                print(line.rstrip())


if __name__ == "__main__":
    main()
