#!/usr/bin/python3
"""Checks every measurable bar of issue 10 on this machine and prints a markdown report.

    /usr/bin/python3 bench/check_bars.py --build build
    /usr/bin/python3 bench/check_bars.py --build build --quick --only tiny,sine   (smoke run)

The bars (issue 10):
  torch      every config's LSTM training step >= 1.5x PyTorch's on one core, >= 2x except
             large, mid, stacked and short (where the roofline does not allow it)
  roofline   mid, stacked, large, wide, b16: step at >= 85% of the fma_peak measured in this run
             (step <= 1.18 x roofline; roofline = 3 x the forward's matrix-product FLOPs / fma_peak)
  latency    tiny step <= 0.1 ms, online step <= 0.5 ms, one core
  threads    mid, large, sine: 2 threads >= 1.8x one thread
  tutorial   examples/sine_forecast (100 epochs) trains in <= 1.0 s on 2 threads, still ending
             at a final loss of 2.531e-6
  bf16       large step in bfloat16 products >= 1.6x faster than in float32

Method: every bench_lstm run is warm (--benchmark_min_warmup_time) and reports the median of
its repetitions; torch_lstm_bench.py makes untimed calls first and reports a median. Rounds are
interleaved config by config: within a round of a config, PyTorch, tapegrad on 1 thread, on 2
threads and in bfloat16 run one after the other (those the selected bars need), in reverse order
every other round. A row quotes the median over rounds and, in brackets, the range; ratios are
the median of the rounds' paired ratios. fma_peak (bench_matmul) is measured at the start and at
the end; rooflines use the higher of the two (the stricter bar) and quote the share of both.

--only restricts the configs (ids of configs.json); the tutorial bar runs when `sine` is
selected, the bf16 bar when `large` is. PyTorch (Debian's python3-torch, run by /usr/bin/python3)
is optional: without it, or when its BLAS runs a 512^3 product below 15 GFLOP/s (as Netlib's
reference BLAS does), the torch bars read "not measured". Exits 1 if a measured bar fails.
Measurement progress goes to stderr, the report to stdout.
"""
import argparse
import datetime
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from statistics import median

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare_torch import (  # noqa: E402
    AVX512_BLAS_UNSET, find_torch_bench, run_tapegrad, run_torch, tapegrad_command,
    torch_blas_problem, torch_command)

TORCH_RATIO_BAR = 1.5
TORCH_RATIO_BAR_STRICT = 2.0
ROOFLINE_LIMITED = ("large", "mid", "stacked", "short")  # held to 1.5x, not 2x
GEMM_BOUND = ("mid", "stacked", "large", "wide", "b16")
PEAK_SHARE_BAR = 0.85
LATENCY_BARS_MS = {"tiny": 0.1, "online": 0.5}
THREAD_CONFIGS = ("mid", "large", "sine")
THREAD_SPEEDUP_BAR = 1.8
BF16_CONFIG = "large"
BF16_SPEEDUP_BAR = 1.6
TUTORIAL_CONFIG = "sine"
TUTORIAL_SECONDS_BAR = 1.0
TUTORIAL_THREADS = 2
TUTORIAL_LOSS = "2.531e-06"  # as sine_forecast prints it (%.3e)
PEAK_DRIFT = 0.05  # start and end fma_peak further apart than this: the machine was busy
BUSY_LOAD = 1.0  # 1-minute load average before the run


def matmul_flops(c):
    """Forward FLOPs of an LSTM's matrix products: per layer l, 2*T*B*(4H)*(I_l + H), with
    I_0 = I and I_l = H above (the head's H->1 product is left out). torch_lstm_bench.py has the
    same sum for any cell, but parses its command line on import, so it cannot be imported."""
    total = 0
    for layer in range(c["L"]):
        in_size = c["I"] if layer == 0 else c["H"]
        total += 2 * c["T"] * c["B"] * 4 * c["H"] * (in_size + c["H"])
    return total


def roofline_ms(c, peak_gflops):
    """Issue 10's roofline of a training step: 3 x the forward's product FLOPs (forward, and
    the backward's two products per forward product) at fma_peak; pointwise work excluded.

    >>> round(roofline_ms({"T": 100, "B": 64, "I": 512, "H": 512, "L": 2}, 114.7))
    1404
    >>> round(roofline_ms({"T": 50, "B": 64, "I": 128, "H": 256, "L": 1}, 114.7), 1)
    65.8
    >>> round(roofline_ms({"T": 10, "B": 990, "I": 1, "H": 100, "L": 1}, 114.7), 1)
    20.9
    """
    return 3 * matmul_flops(c) / (peak_gflops * 1e9) * 1e3


def log(message):
    print(message, file=sys.stderr, flush=True)


def cpu_description():
    fields = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model", "flags") and key not in fields:
                fields[key] = value.strip()
    flags = set(fields.get("flags", "").split())
    isa = ", ".join(f for f in ("avx512f", "avx512_bf16") if f in flags) or "no AVX-512"
    return (f"{fields.get('model name', '?')}, family {fields.get('cpu family', '?')}, "
            f"model {fields.get('model', '?')} ({isa}; {os.cpu_count()} logical CPUs)")


def git_description():
    try:
        head = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no"],
                               check=True, capture_output=True, text=True).stdout.strip()
        return head + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def fmt(value, digits=3):
    return f"{value:.{digits}g}" if value < 1000 else f"{value:.0f}"


def fmt_rounds(values, digits=3):
    """Median, then the range over rounds when there are several.

    >>> fmt_rounds([36.54, 35.7, 37.9])
    '36.5 (35.7-37.9)'
    >>> fmt_rounds([1404.2])
    '1404'
    """
    text = fmt(median(values), digits)
    if len(values) > 1:
        text += f" ({fmt(min(values), digits)}-{fmt(max(values), digits)})"
    return text


def peak_text(peak):
    return peak if isinstance(peak, str) else f"{peak:.1f} GFLOP/s"


def paired_ratio(numerators, denominators):
    """Median of the rounds' ratios: each pair ran side by side, so drift between rounds cancels.

    A machine twice as slow in the second round changes no ratio; the ratio of medians would:
    >>> paired_ratio([60.0, 120.0, 62.0], [40.0, 80.0, 40.0])
    1.5
    """
    return median([a / b for a, b in zip(numerators, denominators)])


def header(*names):
    """A markdown table's header and separator lines."""
    return row(*names) + "\n" + row(*["---"] * len(names))


def row(*cells):
    """A markdown table row."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def verdict(ok):
    return "PASS" if ok else "**FAIL**"


class Recorder:
    """Runs commands and remembers each distinct command line for the report."""

    def __init__(self):
        self.commands = []

    def note(self, argv, unset=()):
        prefix = "".join(f"-u {name} " for name in unset)
        line = (f"env {prefix}" if unset else "") + shlex.join(argv)
        if line not in self.commands:
            self.commands.append(line)


def list_benchmarks(binary):
    out = subprocess.run([binary, "--benchmark_list_tests=true"], check=True, capture_output=True,
                         text=True).stdout
    return set(out.split())


def measure_fma_peak(binary, repetitions, recorder):
    """Median GFLOP/s of bench_matmul's fma_peak over repetitions (>= 2, so that Google
    Benchmark reports a median), or an error string."""
    argv = [binary, "--benchmark_filter=^fma_peak/", f"--benchmark_repetitions={repetitions}",
            "--benchmark_report_aggregates_only=true", "--benchmark_format=json"]
    recorder.note(argv)
    try:
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        benchmarks = json.loads(out)["benchmarks"]
    except (OSError, subprocess.CalledProcessError, ValueError) as e:
        return f"bench_matmul failed: {e}"
    for b in benchmarks:
        if b.get("error_occurred"):
            return f"fma_peak: {b.get('error_message', 'error')}"
        if b.get("aggregate_name") == "median":
            return b["GFLOPs"]  # the counter is in GFLOP, so its rate is GFLOP/s
    return "fma_peak did not run"


def run_tutorial(binary, recorder):
    """One run of sine_forecast on 2 threads in a temporary --out-dir: (seconds, loss text)."""
    with tempfile.TemporaryDirectory(prefix="check_bars_sine_") as out_dir:
        argv = [binary, "--threads", str(TUTORIAL_THREADS), "--out-dir", out_dir]
        recorder.note([binary, "--threads", str(TUTORIAL_THREADS), "--out-dir", "<temporary dir>"])
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    match = re.search(r"final training loss (\S+),.* trained in ([0-9.]+) s", out)
    if not match:
        raise RuntimeError("sine_forecast printed no 'final training loss ... trained in X s' "
                           f"line:\n{out}")
    return float(match.group(2)), match.group(1)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(HERE, "..", "build"),
                   help="build directory holding bench/bench_lstm, bench/bench_matmul, "
                        "examples/sine_forecast")
    p.add_argument("--configs", default=os.path.join(HERE, "configs.json"))
    p.add_argument("--only", default="", help="comma-separated config ids (default: all)")
    p.add_argument("--rounds", type=int, default=None,
                   help="interleaved rounds per config (default 3; 1 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: one round, short timings; its numbers settle nothing")
    p.add_argument("--no-torch", action="store_true",
                   help="skip PyTorch (its bars read not measured)")
    p.add_argument("--repetitions", type=int, default=None,
                   help="bench_lstm repetitions per run, their median is the run's value "
                        "(default 3; 1 with --quick)")
    p.add_argument("--min-time", type=float, default=None,
                   help="bench_lstm: seconds per repetition (default 0.3)")
    p.add_argument("--warmup-time", type=float, default=None,
                   help="bench_lstm: untimed seconds per benchmark before timing (default 0.5)")
    p.add_argument("--budget", type=float, default=None,
                   help="torch: timed seconds per run (default 2)")
    p.add_argument("--torch-warmup", type=int, default=None,
                   help="torch: untimed calls per run (default 3)")
    p.add_argument("--blas", choices=["avx512", "env"], default="avx512",
                   help="as compare_torch.py: avx512 unsets OPENBLAS_CORETYPE and "
                        "OPENBLAS_L2_SIZE for torch")
    args = p.parse_args()
    quick = {"rounds": 1, "repetitions": 1, "min_time": 0.05, "warmup_time": 0.1, "budget": 0.3,
             "torch_warmup": 1}
    full = {"rounds": 3, "repetitions": 3, "min_time": 0.3, "warmup_time": 0.5, "budget": 2.0,
            "torch_warmup": 3}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.rounds < 1 or args.repetitions < 1:
        p.error("--rounds and --repetitions must be at least 1")
    return args


def main():
    args = parse_args()
    started = utc_now()
    load_start = os.getloadavg()[0]
    bench_lstm = os.path.join(args.build, "bench", "bench_lstm")
    bench_matmul = os.path.join(args.build, "bench", "bench_matmul")
    sine_forecast = os.path.join(args.build, "examples", "sine_forecast")
    for binary in (bench_lstm, bench_matmul):
        if not os.access(binary, os.X_OK):
            sys.exit(f"{binary} not found; build it: cmake --build {args.build} --target "
                     "bench_lstm bench_matmul sine_forecast")
    with open(args.configs) as f:
        all_configs = json.load(f)["configs"]
    only = [s for s in args.only.split(",") if s]
    unknown = set(only) - {c["id"] for c in all_configs}
    if unknown:
        sys.exit(f"unknown config id(s) {sorted(unknown)}; known: {[c['id'] for c in all_configs]}")
    configs = [c for c in all_configs if not only or c["id"] in only]
    ids = [c["id"] for c in configs]

    recorder = Recorder()
    available = list_benchmarks(bench_lstm)
    torch_script = find_torch_bench()
    torch_missing, torch_blas_gflops = None, None
    if args.no_torch:
        torch_missing = "not measured (--no-torch)"
    elif torch_script is None:
        torch_missing = "not measured (torch_lstm_bench.py not found in ../shared/bench/)"
    else:
        torch_missing, torch_blas_gflops = torch_blas_problem(args.blas)
        torch_missing = torch_missing and f"not measured ({torch_missing})"
    torch_info = {}

    def tapegrad_step(cell, config_id, threads):
        """One bench_lstm run of a step; ms, or an error string."""
        name = f"lstm_step/{cell}/{config_id}/threads:{threads}/real_time"
        if name not in available:
            return f"benchmark {name} missing from {bench_lstm}"
        recorder.note(tapegrad_command(bench_lstm, cell, config_id, threads, args.min_time,
                                       args.warmup_time, "step", args.repetitions))
        try:
            result = run_tapegrad(bench_lstm, cell, config_id, threads, args.min_time,
                                  args.warmup_time, "step", args.repetitions)
        except (subprocess.CalledProcessError, KeyError, ValueError) as e:
            return f"bench_lstm failed on {name}: {e}"
        return result.get("step", f"bench_lstm reported no time for {name}")

    def torch_step(config_id):
        argv, _ = torch_command(torch_script, "lstm", config_id, 1, args.blas, args.budget, None,
                                args.torch_warmup, "step")
        recorder.note(argv, AVX512_BLAS_UNSET if args.blas == "avx512" else ())
        try:
            d = run_torch(torch_script, "lstm", config_id, 1, args.blas, args.budget, None,
                          args.torch_warmup, "step")
        except (subprocess.CalledProcessError, KeyError, ValueError) as e:
            return f"torch_lstm_bench.py failed on {config_id}: {e}"
        torch_info.update(version=d["version"], blas_core=d["blas_core"])
        return d["step"]

    log(f"check_bars: configs {','.join(ids)}, {args.rounds} round(s)")
    peak_start = measure_fma_peak(bench_matmul, args.repetitions + 2, recorder)
    log(f"fma_peak at the start: {peak_start}")

    # results[(config id, variant)] = list of per-round ms, or an error string
    results = {}
    for c in configs:
        cid = c["id"]
        variants = ["torch", "fp32_t1"] if torch_missing is None else ["fp32_t1"]
        if cid in THREAD_CONFIGS:
            variants.append("fp32_t2")
        if cid == BF16_CONFIG:
            variants.append("bf16_t1")
        for r in range(args.rounds):
            for variant in (variants if r % 2 == 0 else variants[::-1]):
                if isinstance(results.get((cid, variant)), str):
                    continue  # failed in an earlier round
                if variant == "torch":
                    value = torch_step(cid)
                else:
                    cell = "lstm_bf16" if variant == "bf16_t1" else "lstm"
                    value = tapegrad_step(cell, cid, 2 if variant == "fp32_t2" else 1)
                shown = value if isinstance(value, str) else f"{value:.4g} ms"
                log(f"  {cid} round {r + 1} {variant}: {shown}")
                if isinstance(value, str):
                    results[(cid, variant)] = value
                else:
                    results.setdefault((cid, variant), []).append(value)

    tutorial = None
    if TUTORIAL_CONFIG in ids:
        if not os.access(sine_forecast, os.X_OK):
            tutorial = f"not measured ({sine_forecast} not built)"
        else:
            tutorial = []
            for r in range(args.rounds):
                try:
                    tutorial.append(run_tutorial(sine_forecast, recorder))
                except (subprocess.CalledProcessError, RuntimeError) as e:
                    tutorial = f"not measured (sine_forecast failed: {e})"
                    break
                seconds, loss = tutorial[-1]
                log(f"  sine_forecast round {r + 1}: {seconds:.2f} s, loss {loss}")

    peak_end = measure_fma_peak(bench_matmul, args.repetitions + 2, recorder)
    log(f"fma_peak at the end: {peak_end}")
    finished = utc_now()

    tally = {"PASS": 0, "FAIL": 0, "not measured": 0}
    failures = []

    def count(ok, what):
        tally["PASS" if ok else "FAIL"] += 1
        if not ok:
            failures.append(what)

    def not_measured(reason):
        tally["not measured"] += 1
        return reason if reason.startswith("not measured") else f"not measured ({reason})"

    def rounds_of(cid, variant):
        value = results.get((cid, variant))
        return value if isinstance(value, list) else None

    def why_missing(cid, *variants):
        for variant in variants:
            if isinstance(results.get((cid, variant)), str):
                return results[(cid, variant)]
        return "not run"

    lines = []
    out = lines.append

    def speedup_row(cid, slow_variant, fast_variant, bar, failure):
        """One row of a speed-up bar: slow / fast steps, paired per round, against bar."""
        slow, fast = rounds_of(cid, slow_variant), rounds_of(cid, fast_variant)
        if slow is None or fast is None:
            reason = not_measured(why_missing(cid, slow_variant, fast_variant))
            out(row(cid, "", "", "", f">= {bar}x", reason))
            return
        speedup = paired_ratio(slow, fast)
        ok = speedup >= bar
        count(ok, f"{cid} {failure} {speedup:.2f}x < {bar}x")
        out(row(cid, fmt_rounds(slow), fmt_rounds(fast), f"{speedup:.2f}x", f">= {bar}x",
                verdict(ok)))
    out("# Issue 10 bars: `bench/check_bars.py`"
        + (" (--quick smoke run: settles nothing)" if args.quick else ""))
    out("")
    out(f"- Date: {started:%Y-%m-%d %H:%M}-{finished:%H:%M} UTC")
    out(f"- CPU: {cpu_description()} (Zen 4 is family 25, Zen 5 family 26)")
    out(f"- tapegrad: commit {git_description()}, build `{os.path.abspath(args.build)}`")
    if torch_missing:
        out(f"- PyTorch: {torch_missing}")
    else:
        out(f"- PyTorch: {torch_info.get('version', '?')}, OpenBLAS core "
            f"{torch_info.get('blas_core', '?')} (--blas {args.blas}; a 512^3 torch.mm at "
            f"{torch_blas_gflops:.0f} GFLOP/s), one thread pinned to one core")
    peaks = [p for p in (peak_start, peak_end) if not isinstance(p, str)]
    out(f"- fma_peak (bench_matmul): {peak_text(peak_start)} at the start, "
        f"{peak_text(peak_end)} at the end"
        + (f"; rooflines use {max(peaks):.1f}" if peaks else ""))
    load_end = os.getloadavg()[0]
    out(f"- Load average (1 min): {load_start:.2f} at the start, {load_end:.2f} at the end")
    if len(peaks) == 2 and abs(peaks[0] - peaks[1]) > PEAK_DRIFT * max(peaks):
        out(f"- **Warning:** fma_peak moved by more than {PEAK_DRIFT:.0%} during the run: "
            "something else used this core; rerun on a quiet machine before settling a bar.")
    if load_start > BUSY_LOAD:
        out(f"- **Warning:** load average {load_start:.2f} before this program started: other jobs "
            "share the machine.")
    out(f"- {args.rounds} round(s) per config, interleaved (PyTorch, tapegrad 1 thread, 2 threads, "
        f"bfloat16; reversed every other round); bench_lstm: median of {args.repetitions} "
        f"repetition(s) of >= {args.min_time} s after {args.warmup_time} s warm-up; torch: "
        f"{args.budget} s budget after {args.torch_warmup} untimed call(s). Times in ms: median "
        "over rounds (range); "
        "ratios: median of the rounds' paired ratios.")
    out("")

    out("## LSTM training step against PyTorch, one core")
    out("")
    out(header("config", "PyTorch step (ms)", "tapegrad step (ms)", "ratio", "bar", "result"))
    for c in configs:
        cid = c["id"]
        bar = TORCH_RATIO_BAR if cid in ROOFLINE_LIMITED else TORCH_RATIO_BAR_STRICT
        theirs, ours = rounds_of(cid, "torch"), rounds_of(cid, "fp32_t1")
        if torch_missing or theirs is None or ours is None:
            reason = not_measured(torch_missing or why_missing(cid, "torch", "fp32_t1"))
            out(row(cid, "", fmt_rounds(ours) if ours else "", "", f">= {bar}x", reason))
            continue
        ratio = paired_ratio(theirs, ours)
        count(ratio >= bar, f"{cid} vs PyTorch {ratio:.2f}x < {bar}x")
        out(row(cid, fmt_rounds(theirs), fmt_rounds(ours), f"{ratio:.2f}x", f">= {bar}x",
                verdict(ratio >= bar)))
    out("")

    gemm = [c for c in configs if c["id"] in GEMM_BOUND]
    if gemm:
        out(f"## GEMM-bound steps against the roofline (>= {PEAK_SHARE_BAR:.0%} of fma_peak)")
        out("")
        out(header("config", "fwd product GFLOP", "roofline (ms)", "step (ms)", "step / roofline",
                   "share of fma_peak (start / end)", "bar", "result"))
        for c in gemm:
            cid = c["id"]
            ours = rounds_of(cid, "fp32_t1")
            gflop = matmul_flops(c) / 1e9
            if not peaks or ours is None:
                reason = not_measured(peak_start if not peaks else why_missing(cid, "fp32_t1"))
                out(row(cid, f"{gflop:.3g}", "", "", "", "", f">= {PEAK_SHARE_BAR:.0%}", reason))
                continue
            step = median(ours)
            roofline = roofline_ms(c, max(peaks))
            shares = " / ".join(f"{roofline_ms(c, p) / step:.1%}" if not isinstance(p, str) else "?"
                                for p in (peak_start, peak_end))
            ok = roofline / step >= PEAK_SHARE_BAR
            count(ok, f"{cid} at {roofline / step:.1%} of fma_peak < {PEAK_SHARE_BAR:.0%}")
            bar = f">= {PEAK_SHARE_BAR:.0%} (step <= {1 / PEAK_SHARE_BAR:.3f} x roofline)"
            out(row(cid, f"{gflop:.3g}", fmt(roofline), fmt_rounds(ours), f"{step / roofline:.3f}",
                    shares, bar, verdict(ok)))
        out("")

    latency = [c for c in configs if c["id"] in LATENCY_BARS_MS]
    if latency:
        out("## Batch-1 step time, one core")
        out("")
        out(header("config", "step (ms)", "bar", "result"))
        for c in latency:
            cid, bar = c["id"], LATENCY_BARS_MS[c["id"]]
            ours = rounds_of(cid, "fp32_t1")
            if ours is None:
                out(row(cid, "", f"<= {bar} ms", not_measured(why_missing(cid, "fp32_t1"))))
                continue
            ok = median(ours) <= bar
            count(ok, f"{cid} step {median(ours):.3g} ms > {bar} ms")
            out(row(cid, fmt_rounds(ours), f"<= {bar} ms", verdict(ok)))
        out("")

    threaded = [c for c in configs if c["id"] in THREAD_CONFIGS]
    if threaded:
        out("## Two threads against one (bench_lstm threads:2 vs threads:1)")
        out("")
        if load_start > BUSY_LOAD:
            out(f"(Load average {load_start:.2f} before the run: the second core was probably not "
                "free, so these rows say little about tapegrad.)")
            out("")
        out(header("config", "1 thread (ms)", "2 threads (ms)", "speed-up", "bar", "result"))
        for c in threaded:
            speedup_row(c["id"], "fp32_t1", "fp32_t2", THREAD_SPEEDUP_BAR, "2 threads")
        out("")

    if tutorial is not None:
        out(f"## The sine tutorial (examples/sine_forecast, defaults, {TUTORIAL_THREADS} threads)")
        out("")
        out(header("trained in (s)", "final training loss", "bar", "result"))
        bar = f"<= {TUTORIAL_SECONDS_BAR} s and loss {TUTORIAL_LOSS}"
        if isinstance(tutorial, str):
            out(row("", "", bar, not_measured(tutorial)))
        else:
            seconds = [s for s, _ in tutorial]
            losses = sorted({loss for _, loss in tutorial})
            fast, same_loss = median(seconds) <= TUTORIAL_SECONDS_BAR, losses == [TUTORIAL_LOSS]
            ok = fast and same_loss
            count(ok, f"sine tutorial trained in {median(seconds):.2f} s"
                  + ("" if fast else f" > {TUTORIAL_SECONDS_BAR} s")
                  + f", final loss {', '.join(losses)}"
                  + ("" if same_loss else f" (expected {TUTORIAL_LOSS})"))
            out(row(fmt_rounds(seconds), ", ".join(losses), bar, verdict(ok)))
        out("")

    if BF16_CONFIG in ids:
        out(f"## bfloat16 products: `{BF16_CONFIG}` step, one core")
        out("")
        out(header("config", "float32 step (ms)", "bfloat16 step (ms)", "speed-up", "bar",
                   "result"))
        speedup_row(BF16_CONFIG, "fp32_t1", "bf16_t1", BF16_SPEEDUP_BAR, "bf16")
        out("")

    out("## Summary")
    out("")
    out(f"{tally['PASS']} PASS, {tally['FAIL']} FAIL, {tally['not measured']} not measured"
        + (" (configs: " + ",".join(ids) + ")" if only else "") + ".")
    for what in failures:
        out(f"- FAIL: {what}")
    out("")
    out("## Command lines")
    out("")
    out("```")
    out(shlex.join([os.path.abspath(sys.argv[0])] + sys.argv[1:]))
    for line in recorder.commands:
        out(line)
    out("```")
    print("\n".join(lines))
    sys.exit(1 if tally["FAIL"] else 0)


if __name__ == "__main__":
    main()
