#!/usr/bin/python3
"""Side-by-side LSTM/GRU/RNN timings: tapegrad's bench_lstm against PyTorch (torch_lstm_bench.py).

Runs both on the same configs, one after the other per config so machine load hits both alike,
and prints a markdown table of medians (ms) and the ratio torch / tapegrad (> 1: tapegrad faster).

    /usr/bin/python3 bench/compare_torch.py --build build --threads 1 --cells lstm
    /usr/bin/python3 bench/compare_torch.py --only sine,tiny --blas avx512

--blas avx512 unsets OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for PyTorch (its fastest BLAS kernel on
these machines); --blas env keeps the environment as it is. Needs python3-torch.

Both sides are timed warm only: bench_lstm runs each benchmark for --warmup-time seconds before
timing it (--benchmark_min_warmup_time) and one untimed step per trial; torch_lstm_bench.py makes
--torch-warmup untimed calls per mode before timing.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_BENCH_CANDIDATES = [os.path.join(HERE, "..", "..", "shared", "bench", "torch_lstm_bench.py"),
                          os.path.join(HERE, "torch_lstm_bench.py")]


def find_torch_bench():
    """Path of torch_lstm_bench.py (shared/bench/ next to the repository, else bench/), or None."""
    return next((s for s in TORCH_BENCH_CANDIDATES if os.path.exists(s)), None)


def tapegrad_command(binary, cell, config_id, threads, min_time, warmup_time, modes="fwd|step",
                     repetitions=5):
    """bench_lstm's command line for one cell, config and thread count; modes is a regex
    alternative of fwd and step."""
    pattern = f"^lstm_({modes})/{cell}/{config_id}/threads:{threads}/"
    return [binary, f"--benchmark_filter={pattern}", f"--benchmark_min_time={min_time}",
            f"--benchmark_min_warmup_time={warmup_time}",
            f"--benchmark_repetitions={repetitions}", "--benchmark_report_aggregates_only=true",
            "--benchmark_format=json"]


def run_tapegrad(binary, cell, config_id, threads, min_time, warmup_time, modes="fwd|step",
                 repetitions=5):
    """Median real time in ms per mode ("fwd", "step") of the benchmarks that ran."""
    out = subprocess.run(tapegrad_command(binary, cell, config_id, threads, min_time, warmup_time,
                                          modes, repetitions),
                         check=True, capture_output=True, text=True).stdout
    result = {}
    for b in json.loads(out)["benchmarks"]:
        # One repetition gives no aggregates, only the run itself.
        if repetitions > 1 and b.get("aggregate_name") != "median":
            continue
        mode = "fwd" if b["run_name"].startswith("lstm_fwd") else "step"
        scale = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]
        result[mode] = b["real_time"] * scale
    return result


# Unset for PyTorch under --blas avx512: the environment may set them to pin OpenBLAS to its
# AVX2 (Haswell) kernel, about half as fast on these machines.
AVX512_BLAS_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# Debian's python3-torch links libblas.so.3. Without an optimised BLAS behind that alternative it
# is Netlib's reference BLAS, 10-30x slower, and every ratio against torch is meaningless. Which
# library provides it is not in the process's maps for sure (liblapack.so.3 may map OpenBLAS
# beside the reference BLAS), so the probe times a 512^3 product, on one thread as the benchmark
# runs it: on one Zen 5 core the reference BLAS ran it at 6 GFLOP/s, OpenBLAS at 55-70.
TORCH_BLAS_PROBE = """
import sys, time
try:
    import torch
except ImportError as e:
    print(f"import torch failed: {e}")
    sys.exit(3)
torch.set_num_threads(1)
a = torch.randn(512, 512)
torch.mm(a, a)
best = float("inf")
for _ in range(5):  # the best of five: a busy moment must not pass for a slow BLAS
    start = time.perf_counter()
    torch.mm(a, a)
    best = min(best, time.perf_counter() - start)
print(2 * 512 ** 3 / best / 1e9)
"""
TORCH_BLAS_MIN_GFLOPS = 15.0


def torch_blas_problem(blas="avx512"):
    """(None, GFLOP/s) if PyTorch's BLAS is fit to compare with, else (why not, GFLOP/s or None)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if blas == "avx512":
        for name in AVX512_BLAS_UNSET:
            env.pop(name, None)
    try:
        probe = subprocess.run(["/usr/bin/python3", "-c", TORCH_BLAS_PROBE], capture_output=True,
                               text=True, env=env, timeout=300)
    except subprocess.TimeoutExpired as e:
        return f"the PyTorch probe timed out after {e.timeout:.0f} s", None
    except OSError as e:
        return f"the PyTorch probe did not start: {e}", None
    lines = probe.stdout.strip().splitlines()
    if probe.returncode == 3:
        return f"python3-torch missing ({lines[-1] if lines else 'import failed'})", None
    try:
        gflops = float(lines[-1])
    except (IndexError, ValueError):
        err = probe.stderr.strip().splitlines()
        return (f"the PyTorch probe failed (exit {probe.returncode}: "
                f"{err[-1] if err else 'no output'})"), None
    if gflops < TORCH_BLAS_MIN_GFLOPS:
        return (f"PyTorch's BLAS ran a 512^3 product at {gflops:.1f} GFLOP/s, below "
                f"{TORCH_BLAS_MIN_GFLOPS:.0f}, as Netlib's reference BLAS does: install "
                "libopenblas0-pthread or point update-alternatives' "
                "libblas.so.3-x86_64-linux-gnu at it"), gflops
    return None, gflops


def torch_command(script, cell, config_id, threads, blas, budget, blas_threads, warmup_calls,
                  modes=None):
    """torch_lstm_bench.py's command line and environment; modes None leaves its default
    (fwd,step)."""
    env = dict(os.environ)
    if blas == "avx512":
        for name in AVX512_BLAS_UNSET:
            env.pop(name, None)
    argv = (["/usr/bin/python3", script, "--cells", cell, "--only", config_id,
             "--threads", str(threads), "--budget", str(budget),
             "--warmup", str(warmup_calls)]
            + (["--blas-threads", str(blas_threads)] if blas_threads else [])
            + (["--modes", modes] if modes else []))
    return argv, env


def run_torch(script, cell, config_id, threads, blas, budget, blas_threads, warmup_calls,
              modes=None):
    """Median ms per mode (a mode not run is None), the OpenBLAS core and torch's version."""
    argv, env = torch_command(script, cell, config_id, threads, blas, budget, blas_threads,
                              warmup_calls, modes)
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout
    d = json.loads(out.strip().splitlines()[-1])
    return {"fwd": d.get("fwd_ms"), "step": d.get("step_ms"), "blas_core": d["blas_core"],
            "version": d.get("version")}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    p.add_argument("--configs", default=os.path.join(HERE, "configs.json"))
    p.add_argument("--only", default="")
    p.add_argument("--cells", default="lstm")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--blas", choices=["avx512", "env"], default="avx512")
    p.add_argument("--torch-threads", type=int, default=None,
                   help="torch's own thread count (default: --threads); PyTorch 1.13 on 2 threads is "
                        "erratic here, and its best 2-core setting is 1 thread with 2 BLAS threads")
    p.add_argument("--torch-blas-threads", type=int, default=None, help="OpenBLAS threads for torch")
    p.add_argument("--min-time", type=float, default=0.3, help="tapegrad: seconds per repetition")
    p.add_argument("--budget", type=float, default=2.0, help="torch: timed seconds per mode")
    p.add_argument("--warmup-time", type=float, default=0.5,
                   help="tapegrad: untimed seconds per benchmark before timing")
    p.add_argument("--torch-warmup", type=int, default=3, help="torch: untimed calls per mode")
    args = p.parse_args()
    script = find_torch_bench()
    if script is None:
        sys.exit("torch_lstm_bench.py not found (expected in ../shared/bench/)")
    problem, _ = torch_blas_problem(args.blas)
    if problem:
        sys.exit(problem)
    binary = os.path.join(args.build, "bench", "bench_lstm")
    with open(args.configs) as f:
        configs = json.load(f)["configs"]
    only = [s for s in args.only.split(",") if s]
    configs = [c for c in configs if not only or c["id"] in only]
    print(f"tapegrad threads {args.threads}; torch threads {args.torch_threads or args.threads}, "
          f"BLAS threads {args.torch_blas_threads or args.torch_threads or args.threads}, "
          f"BLAS setting {args.blas}; warm-up: tapegrad {args.warmup_time} s + 1 step per trial, "
          f"torch {args.torch_warmup} calls per mode; medians in ms (real time)\n")
    print("| cell | config | T | B | I | H | L | torch fwd | tapegrad fwd | ratio | torch step | tapegrad step | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for cell in args.cells.split(","):
        for c in configs:
            ours = run_tapegrad(binary, cell, c["id"], args.threads, args.min_time, args.warmup_time)
            theirs = run_torch(script, cell, c["id"], args.torch_threads or args.threads, args.blas,
                               args.budget, args.torch_blas_threads, args.torch_warmup)
            print(f"| {cell} | {c['id']} | {c['T']} | {c['B']} | {c['I']} | {c['H']} | {c['L']} | "
                  f"{theirs['fwd']:.3f} | {ours['fwd']:.3f} | {theirs['fwd'] / ours['fwd']:.2f}x | "
                  f"{theirs['step']:.3f} | {ours['step']:.3f} | {theirs['step'] / ours['step']:.2f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
