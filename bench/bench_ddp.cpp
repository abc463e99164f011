// bench_ddp: data-parallel training throughput over MPI, one job per rank count:
//
//   mpirun -np 1 build/bench/bench_ddp --config mid
//   mpirun -np 2 build/bench/bench_ddp --config mid        (bench/compare_ddp_torch.py runs both)
//
// The step of bench_lstm's lstm_step on a configs.json id (LSTM L layers, Linear(H->1) on the last
// step, MSE, backward, Adam), with DistributedDataParallel's gradient sync between backward and
// the optimizer step. Weak scaling, as PyTorch's DDP counts batches: every rank takes B rows per
// step, so a job of N ranks processes N x B samples per step. One thread per rank by default
// (--threads, tapegrad's set_num_threads), so N ranks use N cores.
//
// Not a Google Benchmark: every rank must run the same number of steps (each one is collective),
// so the step counts are fixed. Phases, all on the same model:
//   local: --steps steps under no_sync() (no communication): the compute alone;
//   ddp:   --steps synchronised steps;
//   sync:  --steps gradient syncs alone (a barrier, then finish_gradient_sync() on the gradients
//          the last step left): every rank starts together, so this is the communication of the
//          bucket layout without the wait for a slower partner that a training step includes.
// and prints one JSON line from rank 0 with the medians over steps (rank 0's clock; the sync
// keeps the ranks within one step of each other) and DistributedDataParallel's own accounting:
// time inside MPI calls per step, of which blocked in the final wait.
//
//   mpirun -np 2 build/bench/bench_ddp --allreduce
// times the bare collective DistributedDataParallel uses (MPI_Iallreduce + MPI_Wait, in place,
// float sum) on messages of 4 B to 16 MiB, for the cost model of bench/README.md: one JSON line
// per size with the median and the minimum over repetitions (a barrier before each, so no rank
// starts late). On a loaded machine the minimum is the cost of an undisturbed transfer; the median
// includes the time slices a descheduled partner costs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mpi.h>
#include <sys/resource.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "autograd/threads.h"
#include "nn/distributed.h"
#include "nn/distributed_data_parallel.h"
#include "nn/layers.h"
#include "nn/rnn.h"
#include "ops/losses.h"
#include "ops/ops.h"
#include "optim/adam.h"

using namespace tapegrad;

namespace {

struct Config {
  std::string id;
  std::int64_t T = 0, B = 0, I = 0, H = 0, L = 0;
};

Config find_config(const std::string& id) {
  std::ifstream file(TAPEGRAD_BENCH_CONFIGS);
  const nlohmann::json doc = nlohmann::json::parse(file);
  for (const auto& c : doc.at("configs")) {
    if (c.at("id") == id) return {c.at("id"), c.at("T"), c.at("B"), c.at("I"), c.at("H"), c.at("L")};
  }
  throw ValueError("bench_ddp: no config '" + id + "' in " TAPEGRAD_BENCH_CONFIGS);
}

struct Model : nn::Module {
  nn::LSTM* lstm;
  nn::Linear* head;
  Model(const Config& c, Generator& gen)
      : lstm(&register_module("lstm", nn::LSTM({.input_size = c.I, .hidden_size = c.H,
                                                .num_layers = c.L, .batch_first = true}, gen))),
        head(&register_module("head", nn::Linear({.in_features = c.H, .out_features = 1}, gen))) {}
  Tensor forward(const Tensor& x) const { return head->forward(select(lstm->forward(x).output, 1, -1)); }
};

// Minor page faults of this process so far: memory mapped afresh is what makes a VM's step slow.
long minor_page_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

using Clock = std::chrono::steady_clock;

int run(const Config& c, int steps, int warmup, double bucket_cap_mb,
        nn::ReductionOrder reduction_order) {
  const int rank = dist::get_rank(), ranks = dist::get_world_size();
  Generator gen(static_cast<std::uint64_t>(rank) + 1);  // each rank its own data
  Model model(c, gen);
  const Tensor x = Tensor::normal({c.B, c.T, c.I}, 0, 1, gen);
  const Tensor y = Tensor::normal({c.B, 1}, 0, 1, gen);
  nn::DistributedDataParallel ddp(model, {.bucket_cap_mb = bucket_cap_mb,
                                         .reduction_order = reduction_order});
  optim::Adam adam(model.parameters(), {.lr = 1e-4f});

  // One step; returns its wall time and the sync's MPI time and final wait (0 for local steps).
  struct StepTime {
    double step = 0, communication = 0, wait = 0;
  };
  auto step = [&](bool sync) {
    const nn::DistributedDataParallel::SyncStats before = ddp.stats();
    const Clock::time_point start = Clock::now();
    adam.zero_grad();
    Tensor loss = mse_loss(model.forward(x), y);
    if (sync) {
      loss.backward();
      ddp.finish_gradient_sync();
    } else {
      auto local = ddp.no_sync();
      loss.backward();
    }
    adam.step();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return StepTime{seconds, ddp.stats().communication_seconds - before.communication_seconds,
                    ddp.stats().wait_seconds - before.wait_seconds};
  };
  for (int i = 0; i < warmup; ++i) step(true);
  std::vector<double> local_steps, ddp_steps, communication, wait;
  dist::barrier();
  for (int i = 0; i < steps; ++i) local_steps.push_back(step(false).step);
  dist::barrier();
  const std::int64_t bytes_before = ddp.stats().bytes;
  for (int i = 0; i < steps; ++i) {
    const StepTime t = step(true);
    ddp_steps.push_back(t.step);
    communication.push_back(t.communication);
    wait.push_back(t.wait);
  }
  std::vector<double> syncs, sync_waits;
  const long faults_before_syncs = minor_page_faults();
  for (int i = 0; i < steps; ++i) {
    dist::barrier();
    const double wait_before = ddp.stats().wait_seconds;
    const Clock::time_point start = Clock::now();
    ddp.finish_gradient_sync();
    syncs.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    sync_waits.push_back(ddp.stats().wait_seconds - wait_before);
  }
  const double faults_per_sync =
      static_cast<double>(minor_page_faults() - faults_before_syncs) / steps;
  if (rank == 0) {
    const double step_ms = 1e3 * median(ddp_steps);
    nlohmann::json result = {
        {"config", c.id}, {"T", c.T}, {"B_per_rank", c.B}, {"I", c.I}, {"H", c.H}, {"L", c.L},
        {"ranks", ranks}, {"threads_per_rank", num_threads()}, {"steps", steps},
        {"buckets", ddp.buckets().size()}, {"parameters", model.num_parameters()},
        {"bytes_per_step", (ddp.stats().bytes - bytes_before) / steps},
        {"local_step_ms", 1e3 * median(local_steps)}, {"ddp_step_ms", step_ms},
        {"communication_ms", 1e3 * median(communication)}, {"wait_ms", 1e3 * median(wait)},
        {"communication_min_ms", 1e3 * *std::min_element(communication.begin(), communication.end())},
        {"sync_only_ms", 1e3 * median(syncs)},
        {"sync_only_min_ms", 1e3 * *std::min_element(syncs.begin(), syncs.end())},
        {"sync_only_wait_ms", 1e3 * median(sync_waits)},
        {"sync_only_page_faults", faults_per_sync},
        {"samples_per_s", static_cast<double>(ranks * c.B) / (step_ms / 1e3)},
        {"buckets_launched_in_backward_per_step",
         static_cast<double>(ddp.stats().buckets_launched_in_backward) / (warmup + steps)}};
    std::cout << result.dump() << std::endl;
  }
  return 0;
}

int time_allreduce(int repetitions) {
  const int rank = dist::get_rank(), ranks = dist::get_world_size();
  for (std::int64_t count : {std::int64_t{1}, std::int64_t{256}, std::int64_t{16384},
                             std::int64_t{262144}, std::int64_t{1048576}, std::int64_t{4194304}}) {
    std::vector<float> buffer(static_cast<std::size_t>(count), 1.0f);
    std::vector<double> seconds;
    for (int r = 0; r < repetitions + 2; ++r) {
      dist::barrier();
      const Clock::time_point start = Clock::now();
      MPI_Request request;
      MPI_Iallreduce(MPI_IN_PLACE, buffer.data(), static_cast<int>(count), MPI_FLOAT, MPI_SUM,
                     MPI_COMM_WORLD, &request);
      MPI_Wait(&request, MPI_STATUS_IGNORE);
      if (r >= 2) seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    if (rank == 0) {
      std::cout << nlohmann::json{{"allreduce_bytes", count * 4}, {"ranks", ranks},
                                  {"median_us", 1e6 * median(seconds)},
                                  {"min_us", 1e6 * *std::min_element(seconds.begin(), seconds.end())}}
                       .dump()
                << std::endl;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string id = "mid";
  int steps = 10, warmup = 2;
  double bucket_cap_mb = 4.0;
  int threads = 1;
  nn::ReductionOrder reduction_order = nn::ReductionOrder::mpi;
  if (argc == 2 && std::string(argv[1]) == "--allreduce") {
    return dist::run([] { return time_allreduce(30); });
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--config") id = value;
    else if (flag == "--steps") steps = std::stoi(value);
    else if (flag == "--warmup") warmup = std::stoi(value);
    else if (flag == "--bucket-cap-mb") bucket_cap_mb = std::stod(value);
    else if (flag == "--threads") threads = std::stoi(value);
    else if (flag == "--reduction-order" && (value == "mpi" || value == "rank_order"))
      reduction_order = value == "mpi" ? nn::ReductionOrder::mpi : nn::ReductionOrder::rank_order;
    else {
      std::cerr << "usage: bench_ddp [--config ID] [--steps N] [--warmup N] [--bucket-cap-mb X] [--threads N]"
                   " [--reduction-order mpi|rank_order] | --allreduce\n";
      return 2;
    }
  }
  if (argc % 2 == 0 || steps < 1 || warmup < 0) {
    std::cerr << "usage: bench_ddp [--config ID] [--steps N >= 1] [--warmup N >= 0] [--bucket-cap-mb X] [--threads N]\n";
    return 2;
  }
  set_num_threads(threads);
  const Config config = find_config(id);
  return dist::run([&] { return run(config, steps, warmup, bucket_cap_mb, reduction_order); });
}
