"""PyTorch's LSTM training step in float32 and under CPU autocast to bfloat16, interleaved.

The PyTorch side of bench/README.md's "bfloat16 products": the same step as bench_lstm's
lstm_step (LSTM + Linear head on the last step, MSE, backward, Adam) on a config of configs.json,
timed warm, float32 and autocast alternating round by round. Compare with
  bench_lstm --benchmark_filter='lstm_step/lstm(_bf16)?/large/threads:1'
Run: python3 bench/torch_autocast_step.py --config large --threads 1
"""
import argparse
import json
import os
import statistics
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default=os.path.join(HERE, "configs.json"))
    p.add_argument("--config", default="large", help="a config id of configs.json")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3, help="float32/bfloat16 rounds, alternating")
    p.add_argument("--steps", type=int, default=3, help="timed steps per round and precision")
    args = p.parse_args()
    # As torch_lstm_bench.py: OpenBLAS and libgomp size their pools when torch loads them, so
    # the thread counts are set first (OpenBLAS alone would take every core), and one thread
    # is pinned to one core.
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    if args.threads == 1:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import torch
    configs = {c["id"]: c for c in json.load(open(args.configs))["configs"]}
    if args.config not in configs:
        raise SystemExit(f"unknown config {args.config!r}; configs.json has {', '.join(configs)}")
    c = configs[args.config]
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(c["I"], c["H"], c["L"], batch_first=True)
    head = torch.nn.Linear(c["H"], 1)
    opt = torch.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=1e-3)
    x = torch.randn(c["B"], c["T"], c["I"])
    y = torch.randn(c["B"], 1)

    def step(bf16):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out, _ = lstm(x)
            prediction = head(out[:, -1])
        torch.nn.functional.mse_loss(prediction.float(), y).backward()
        opt.step()

    times = {False: [], True: []}
    for _ in range(args.rounds):
        for bf16 in (False, True):
            step(bf16)  # untimed: the first call after switching precision
            for _ in range(args.steps):
                started = time.perf_counter()
                step(bf16)
                times[bf16].append(time.perf_counter() - started)
    print(f"torch {torch.__version__}, config {args.config}, {args.threads} thread(s), "
          f"{args.rounds} x {args.steps} steps each")
    for bf16 in (False, True):
        ms = [t * 1e3 for t in times[bf16]]
        print(f"  {'bfloat16 autocast' if bf16 else 'float32':18s} median {statistics.median(ms):9.2f} ms "
              f"(min {min(ms):.2f}, max {max(ms):.2f})")


if __name__ == "__main__":
    main()
