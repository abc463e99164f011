#!/usr/bin/python3
"""sgemm against OpenBLAS, shape by shape, each burst started only when the machine is idle.

On a shared machine a co-tenant that starts mid-run slows whichever benchmark is running; a
full bench_matmul run (2-3 minutes) was rarely clean. This runs one shape at a time (ours and
OpenBLAS, 1 and 2 threads, then fma_peak), each after the CPUs were below --idle-percent busy for
--idle-seconds, repeats the whole sequence --rounds times, and prints a markdown table of the
best round's medians (co-tenants only ever slow a run down) with every round listed below it.

    /usr/bin/python3 bench/sgemm_table.py --build build --rounds 2

OpenBLAS runs twice per shape: as the environment leaves it (no OPENBLAS_CORETYPE: the AVX-512
Cooperlake kernel here) and with OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 (its AVX2 kernel,
the setting ../shared/deps.md describes). Ratios use --peak (GFLOP/s of one core); `fma_peak`
medians are printed so the peak can be checked.
"""
import argparse
import json
import os
import re
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_busy_fraction(interval):
    def snapshot():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle
    total0, idle0 = snapshot()
    time.sleep(interval)
    total1, idle1 = snapshot()
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def wait_until_idle(percent, seconds, give_up=600):
    start = time.time()
    quiet = 0.0
    while quiet < seconds and time.time() - start < give_up:
        quiet = quiet + 0.5 if cpu_busy_fraction(0.5) * 100 < percent else 0.0
    return quiet >= seconds


def run(binary, pattern, env_extra=None, repetitions=5):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    env.update(env_extra or {})
    out = subprocess.run([binary, f"--benchmark_filter={pattern}",
                          f"--benchmark_repetitions={repetitions}",
                          "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
                         check=True, capture_output=True, text=True, env=env).stdout
    medians = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            medians[b["run_name"]] = b["GFLOPs"]  # the counter is already GFLOP/s
    return medians


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--peak", type=float, default=117.0)
    p.add_argument("--idle-percent", type=float, default=8.0)
    p.add_argument("--idle-seconds", type=float, default=3.0)
    p.add_argument("--only", default="", help="regex on the shape names, e.g. 'sgemm_nt'")
    args = p.parse_args()
    binary = os.path.join(args.build, "bench", "bench_matmul")
    listed = subprocess.run([binary, "--benchmark_list_tests"], check=True, capture_output=True,
                            text=True).stdout.split()
    shapes = []  # "sgemm/64x128x1024", in the binary's order
    for name in listed:
        m = re.match(r"^(sgemm(?:_nt|_tn)?/[0-9x]+)/threads", name)
        if m and m.group(1) not in shapes and re.search(args.only, m.group(1)):
            shapes.append(m.group(1))

    columns = ["ours 1T", "ours 2T", "Cooperlake 1T", "Cooperlake 2T", "Haswell 1T", "Haswell 2T"]
    rounds = []  # per round: {shape: {column: GFLOP/s}}, plus the fma_peak medians
    peaks = []
    for r in range(args.rounds):
        table = {}
        for shape in shapes:
            idle = wait_until_idle(args.idle_percent, args.idle_seconds)
            escaped = re.escape(shape)
            ours = run(binary, f"^{escaped}/threads")
            cooper = run(binary, f"^openblas_{escaped}/threads")
            haswell = run(binary, f"^openblas_{escaped}/threads",
                          {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"})
            peak = run(binary, "^fma_peak", repetitions=3)
            peaks.extend(peak.values())
            row = {}
            for threads in (1, 2):
                suffix = f"/threads:{threads}/real_time"
                row[f"ours {threads}T"] = ours.get(shape + suffix)
                row[f"Cooperlake {threads}T"] = cooper.get("openblas_" + shape + suffix)
                row[f"Haswell {threads}T"] = haswell.get("openblas_" + shape + suffix)
            row["idle"] = idle
            table[shape] = row
            print(f"round {r + 1} {shape}: " + ", ".join(f"{c} {row[c]:.1f}" for c in columns
                                                         if row[c] is not None), flush=True)
        rounds.append(table)

    def cell(x):
        return "-" if x is None else f"{x:.1f}"

    print()
    print("| benchmark | " + " | ".join(columns) + " | ours 1T / peak | ours 2T / 2 peaks |")
    print("|---|" + "---:|" * (len(columns) + 2))
    for shape in shapes:
        best = {c: max((t[shape][c] for t in rounds if t[shape][c] is not None), default=None)
                for c in columns}
        one = best["ours 1T"] / args.peak * 100
        two = best["ours 2T"] / (2 * args.peak) * 100
        print(f"| {shape} | " + " | ".join(cell(best[c]) for c in columns) +
              f" | {one:.0f}% | {two:.0f}% |")
    print()
    print("Every round (" + " / ".join(f"round {i + 1}" for i in range(args.rounds)) + "):")
    print()
    print("| benchmark | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for shape in shapes:
        print(f"| {shape} | " + " | ".join(" / ".join(cell(t[shape][c]) for t in rounds)
                                           for c in columns) + " |")
    if peaks:
        print(f"\nfma_peak medians: {min(peaks):.1f}-{max(peaks):.1f} GFLOP/s")
    not_idle = [s for t in rounds for s, row in t.items() if not row["idle"]]
    if not_idle:
        print("started without an idle window (gave up waiting): " + ", ".join(not_idle))


if __name__ == "__main__":
    main()
