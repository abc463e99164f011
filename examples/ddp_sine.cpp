// ddp_sine: data-parallel training over MPI. The sine forecaster of sine_forecast (recurrent layer
// + Linear head on the last step, windows of a sine wave, MSE, Adam), trained on mini-batches by
// every rank of an mpirun job: each rank reads its own shard of the windows
// (data::DistributedSampler), and nn::DistributedDataParallel averages the gradients, so every
// rank takes the same optimizer step, as one process with a batch of batch-size x ranks would.
//
//   mpirun -np 2 ./build/examples/ddp_sine --threads 1
//   mpirun --hostfile hosts -np 8 ./build/examples/ddp_sine --threads 4   (README: several hosts)
//
// Rank 0 prints; every rank trains. A failure on any rank (a bad --init file, a non-finite loss)
// ends the whole job with that rank named (dist::run).
#include <cmath>
#include <iomanip>
#include <iostream>
#include <memory>

#include "autograd/grad_mode.h"
#include "data/loader.h"
#include "data/sequences.h"
#include "example_util.h"
#include "nn/distributed.h"
#include "nn/distributed_data_parallel.h"
#include "nn/serialize.h"
#include "ops/losses.h"
#include "optim/adam.h"
#include "support/cli.h"
#include "support/loss_guard.h"
#include "support/sine_forecast.h"

namespace cli = examples::cli;
using namespace tapegrad;

namespace {

struct Config {
  std::int64_t points = 2000;
  std::int64_t seq_length = 10;
  std::int64_t hidden = 32;
  std::string cell = "lstm";
  std::int64_t epochs = 20;
  std::int64_t batch_size = 32;  // per rank, as in PyTorch's DDP examples
  std::int64_t accumulate = 1;   // micro-batches per optimizer step (no_sync for all but the last)
  float lr = 0.01f;
  std::uint64_t seed = 0;
  double bucket_cap_mb = 4.0;
  std::string init_path, save_path;
};

int train(const Config& config) {
  const int rank = dist::get_rank(), ranks = dist::get_world_size();
  std::vector<float> series(static_cast<std::size_t>(config.points));
  for (std::int64_t i = 0; i < config.points; ++i) {
    series[static_cast<std::size_t>(i)] =
        std::sin(100.0f * static_cast<float>(i) / static_cast<float>(config.points - 1));
  }
  auto [inputs, targets] = data::create_sequences(series, config.seq_length);
  const data::TensorDataset windows({inputs, targets});
  auto sampler = std::make_shared<data::DistributedSampler>(
      windows.size(), data::DistributedSamplerOptions{.num_replicas = ranks, .rank = rank,
                                                      .shuffle = true, .seed = config.seed});
  data::DataLoader loader(windows, sampler, {.batch_size = config.batch_size});

  // Every rank builds the model from the same seed, but DistributedDataParallel would make them
  // equal anyway: it broadcasts rank 0's parameters.
  Generator gen(config.seed);
  examples::Forecaster model(config.cell, config.hidden, /*layers=*/1, gen);
  if (!config.init_path.empty()) {
    dist::load_on_all([&] { nn::load(model, config.init_path); });
  }
  nn::DistributedDataParallel ddp(model, {.bucket_cap_mb = config.bucket_cap_mb});
  optim::Adam adam(model.parameters(), {.lr = config.lr});
  if (rank == 0) {
    std::cout << "ddp_sine: " << ranks << " rank(s), " << config.cell << " hidden "
              << config.hidden << ", " << windows.size() << " windows of " << config.seq_length
              << ", " << sampler->size() << " per rank in batches of " << config.batch_size
              << " (" << config.batch_size * ranks * config.accumulate
              << " windows per optimizer step), " << ddp.buckets().size()
              << " gradient bucket(s), " << model.num_parameters() << " parameters" << std::endl;
  }

  examples::Stopwatch clock;
  double step_seconds = 0;  // this rank's time in training steps, to compare communication with
  float last_loss = 0;
  for (std::int64_t epoch = 1; epoch <= config.epochs; ++epoch) {
    sampler->set_epoch(epoch);  // a new shuffle each epoch, the same on every rank
    model.train();
    double loss_sum = 0;
    std::int64_t batch = 0;
    for (const data::Batch& rows : loader) {
      examples::Stopwatch step_clock;
      ++batch;
      const bool sync = batch % config.accumulate == 0 || batch == loader.size();
      if (batch % config.accumulate == 1 || config.accumulate == 1) adam.zero_grad();
      Tensor loss = mse_loss(model.forward(rows[0]), rows[1]);
      examples::require_finite_loss(loss.item(), {.epoch = epoch, .step = batch});
      if (sync) {
        loss.backward();
        ddp.finish_gradient_sync();
        adam.step();
      } else {
        auto local_only = ddp.no_sync();  // accumulate; the next sync averages the sum
        loss.backward();
      }
      step_seconds += step_clock.seconds();
      loss_sum += loss.item();
    }
    // Every rank ran loader.size() batches (DistributedSampler's equal shards): average them.
    Tensor mean_loss = Tensor::full({1}, static_cast<float>(loss_sum / static_cast<double>(batch)));
    dist::all_reduce(mean_loss);
    last_loss = mean_loss.item() / static_cast<float>(ranks);
    if (rank == 0) {
      std::cout << "epoch " << std::setw(4) << epoch << "/" << config.epochs << "  train MSE "
                << std::scientific << std::setprecision(3) << last_loss << std::defaultfloat
                << "  " << std::fixed << std::setprecision(2) << clock.seconds() << " s"
                << std::defaultfloat << std::endl;
    }
  }

  // Every replica holds the same parameters, so any rank could evaluate; rank 0 reports.
  model.eval();
  float eval_mse = 0;
  {
    NoGradGuard no_grad;
    eval_mse = mse_loss(model.forward(inputs), targets).item();
  }
  examples::require_finite_loss(eval_mse, {.phase = "evaluation (after the last epoch)"});
  const nn::DistributedDataParallel::SyncStats& stats = ddp.stats();
  if (rank == 0) {
    std::cout << "final train MSE " << std::scientific << std::setprecision(3) << last_loss
              << ", eval MSE on all windows " << eval_mse << std::defaultfloat << "; "
              << std::fixed << std::setprecision(1)
              << static_cast<double>(windows.size() * config.epochs) / clock.seconds()
              << " windows/s in all; rank 0 spent " << std::setprecision(1)
              << 100.0 * stats.communication_seconds / step_seconds
              << "% of its step time in gradient communication (" << stats.syncs << " syncs, "
              << std::setprecision(2) << static_cast<double>(stats.bytes) / 1e6 << " MB sent)"
              << std::defaultfloat << std::endl;
  }
  if (!config.save_path.empty()) {
    dist::save_on_root([&] { nn::save(model, config.save_path); });
    if (rank == 0) std::cout << "rank 0 saved the parameters to " << config.save_path << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  cli::Program program("ddp_sine",
                       "data-parallel training over MPI: the sine forecaster trained by every rank "
                       "of `mpirun -np N ddp_sine` on its own shard of the data");
  CLI::App& app = program.app();
  Config config;
  app.add_option("--points", config.points, "samples of sin(t), t evenly spaced over [0, 100]")
      ->check(cli::integer_in(2, 10'000'000));
  app.add_option("--seq-length", config.seq_length, "window length fed to the model (< --points)")
      ->check(cli::integer_in(1, 100'000));
  app.add_option("--hidden", config.hidden, "hidden size")->check(cli::integer_in(1, 4096));
  app.add_option("--cell", config.cell, "recurrent cell")->check(cli::one_of({"lstm", "gru", "rnn"}));
  program.add_epochs(config.epochs, "passes over the windows");
  app.add_option("--batch-size", config.batch_size, "windows per batch on each rank")
      ->check(cli::integer_in(1, 1'000'000));
  app.add_option("--accumulate", config.accumulate,
                 "batches per optimizer step: all but the last only accumulate gradients locally "
                 "(no_sync), so ranks communicate once per step")
      ->check(cli::integer_in(1, 1'000));
  program.add_lr(config.lr);
  program.add_seed(config.seed, "seed of the initialisation and of the shuffle");
  app.add_option("--bucket-cap-mb", config.bucket_cap_mb,
                 "gradient bucket size in MiB (one all-reduce per bucket)")
      ->check(cli::real_in(1e-6, 1024.0));
  program.add_threads();
  app.add_option("--init", config.init_path,
                 "optional safetensors file with starting parameters, read by every rank")
      ->check(cli::existing_regular_file());
  program.add_output_file("--save", config.save_path,
                          "optional path where rank 0 saves the trained parameters (safetensors)");
  app.callback([&] {
    if (config.seq_length >= config.points) {
      throw CLI::ValidationError("--seq-length", "expected fewer than --points (" +
                                                     std::to_string(config.points) + "), got \"" +
                                                     std::to_string(config.seq_length) + "\"");
    }
  });
  return program.run(argc, argv, [&] { return dist::run([&] { return train(config); }); });
}
