#!/usr/bin/python3
"""Data-parallel training side by side: tapegrad's bench_ddp over MPI against PyTorch's
DistributedDataParallel on CPU (torch.distributed, gloo backend), 1 and 2 processes, on the same
configs of configs.json, one thread per process.

    /usr/bin/python3 bench/compare_ddp_torch.py --build build --only mid,large --steps 10

Both sides run the same step (LSTM L layers, Linear(H->1) on the last step, MSE, backward with the
gradient sync, Adam), weak scaling (every process takes B rows per step), the same bucket cap,
with the same protocol: warm-up steps, then --steps steps under no_sync() ("local": the compute
alone), then --steps synchronised steps ("ddp"); medians. For each config the four runs alternate
(tapegrad 1, torch 1, tapegrad 2, torch 2) so that load on the machine hits both alike. Processes
talk over shared memory and loopback only (--no-single-copy: Open MPI copies through shared
memory instead of its default zero-copy path). PyTorch's OpenBLAS runs its AVX-512 kernel with one
thread.

Needs python3-torch (Debian 12: 1.13.1) and tapegrad built with MPI (bench_ddp).
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--mca", "btl", "self,vader,tcp",
          "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"]
# --no-single-copy: Open MPI's copy-in/copy-out shared-memory path instead of its default zero-copy
# one (CMA). Which is faster here depends on the load (bench/README.md).
NO_SINGLE_COPY = ["--mca", "btl_vader_single_copy_mechanism", "none"]


def run_tapegrad(binary, config_id, ranks, steps, warmup, bucket_cap_mb, no_single_copy):
    out = subprocess.run(MPIRUN + (NO_SINGLE_COPY if no_single_copy else []) + ["-np", str(ranks), binary, "--config", config_id,
                                   "--steps", str(steps), "--warmup", str(warmup),
                                   "--bucket-cap-mb", str(bucket_cap_mb)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_torch(config, ranks, steps, warmup, bucket_cap_mb):
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
               WORLD_SIZE=str(ranks), GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    env.pop("OPENBLAS_CORETYPE", None)  # its AVX-512 kernel, as bench/compare_torch.py does
    env.pop("OPENBLAS_L2_SIZE", None)
    workers = [subprocess.Popen(["/usr/bin/python3", __file__, "--torch-worker", json.dumps(config),
                                 "--steps", str(steps), "--warmup", str(warmup),
                                 "--bucket-cap-mb", str(bucket_cap_mb)],
                                env=dict(env, RANK=str(rank)), stdout=subprocess.PIPE, text=True)
               for rank in range(ranks)]
    outputs = [w.communicate()[0] for w in workers]
    if any(w.returncode != 0 for w in workers):
        sys.exit(f"torch worker failed: {[w.returncode for w in workers]}")
    return json.loads(outputs[0].strip().splitlines()[-1])


def torch_worker(config, steps, warmup, bucket_cap_mb):
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, ranks = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(rank + 1)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(config["I"], config["H"], config["L"], batch_first=True)
            self.head = torch.nn.Linear(config["H"], 1)

        def forward(self, x):
            return self.head(self.lstm(x)[0][:, -1])

    model = DistributedDataParallel(Model(), bucket_cap_mb=bucket_cap_mb)
    adam = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(config["B"], config["T"], config["I"])
    y = torch.randn(config["B"], 1)

    def step(sync):
        start = time.perf_counter()
        adam.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        if sync:
            loss.backward()
        else:
            with model.no_sync():
                loss.backward()
        adam.step()
        return time.perf_counter() - start

    for _ in range(warmup):
        step(True)
    dist.barrier()
    local = [step(False) for _ in range(steps)]
    dist.barrier()
    synced = [step(True) for _ in range(steps)]
    if rank == 0:
        ddp_ms = 1e3 * statistics.median(synced)
        print(json.dumps({"config": config["id"], "ranks": ranks, "torch": torch.__version__,
                          "local_step_ms": 1e3 * statistics.median(local), "ddp_step_ms": ddp_ms,
                          "samples_per_s": ranks * config["B"] / (ddp_ms / 1e3)}), flush=True)
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    p.add_argument("--configs", default=os.path.join(HERE, "configs.json"))
    p.add_argument("--only", default="mid,large")
    p.add_argument("--ranks", default="1,2")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--bucket-cap-mb", type=float, default=4.0)
    p.add_argument("--no-single-copy", action="store_true",
                   help="Open MPI: btl_vader_single_copy_mechanism none (copy through shared memory)")
    p.add_argument("--torch-worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.torch_worker:
        torch_worker(json.loads(args.torch_worker), args.steps, args.warmup, args.bucket_cap_mb)
        return
    binary = os.path.join(args.build, "bench", "bench_ddp")
    with open(args.configs) as f:
        configs = {c["id"]: c for c in json.load(f)["configs"]}
    rank_counts = [int(r) for r in args.ranks.split(",")]
    print(f"{args.steps} steps per phase after {args.warmup} warm-up steps, bucket cap "
          f"{args.bucket_cap_mb} MiB, 1 thread per process, Open MPI single copy "
          f"{'off' if args.no_single_copy else 'default'}; medians; load average before: "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| config | ranks | samples/step | tapegrad local ms | tapegrad ddp ms | tapegrad samples/s "
          "| scaling | MPI time / step (min) | sync alone (min) | torch local ms | torch ddp ms | torch samples/s | scaling |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for config_id in args.only.split(","):
        config = configs[config_id]
        base = {}
        for ranks in rank_counts:
            ours = run_tapegrad(binary, config_id, ranks, args.steps, args.warmup, args.bucket_cap_mb,
                                args.no_single_copy)
            theirs = run_torch(config, ranks, args.steps, args.warmup, args.bucket_cap_mb)
            base.setdefault("ours", ours["samples_per_s"])
            base.setdefault("theirs", theirs["samples_per_s"])
            print(f"| {config_id} | {ranks} | {ranks * config['B']} | {ours['local_step_ms']:.1f} | "
                  f"{ours['ddp_step_ms']:.1f} | {ours['samples_per_s']:.1f} | "
                  f"{ours['samples_per_s'] / base['ours']:.2f}x | "
                  f"{100 * ours['communication_ms'] / ours['ddp_step_ms']:.1f}% "
                  f"({ours['communication_ms']:.1f} ms ({ours['communication_min_ms']:.1f}), "
                  f"wait {ours['wait_ms']:.1f}) | "
                  f"{ours['sync_only_ms']:.2f} ({ours['sync_only_min_ms']:.2f}) ms | "
                  f"{theirs['local_step_ms']:.1f} | {theirs['ddp_step_ms']:.1f} | "
                  f"{theirs['samples_per_s']:.1f} | {theirs['samples_per_s'] / base['theirs']:.2f}x |",
                  flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
