// Faults in a data-parallel job, run by ctest through mpirun (tests/distributed/run_mpi.cmake
// checks the exit code, the message and that the job ended promptly):
//   fault_drill throw      rank 1 throws at step 3 inside dist::run: the job must end at once,
//                          naming rank 1 and the error, while rank 0 waits in a gradient sync
//   fault_drill uncaught   rank 1 throws outside dist::run (after init_process_group): the
//                          terminate handler must end the job the same way
//   fault_drill stop       rank 1 stops training after 2 steps without join() (its data ran out
//                          and nobody used DistributedSampler): rank 0 must give up after the
//                          DistributedDataParallel timeout (here 3 s), naming itself and the cause
//   fault_drill ok         both ranks train 4 steps and exit 0 (the drill's own control)
#include <iostream>
#include <stdexcept>
#include <string>

#include "nn/distributed.h"
#include "nn/distributed_data_parallel.h"
#include "nn/layers.h"
#include "ops/losses.h"
#include "optim/sgd.h"

using namespace tapegrad;

namespace {

// Trains a Linear(4 -> 1) on this rank's rows; `stop_after` < 0 means all steps.
void train(int steps, int fail_at_step, int stop_after) {
  const int rank = dist::get_rank();
  Generator gen(static_cast<std::uint64_t>(rank));
  nn::Linear model({.in_features = 4, .out_features = 1}, gen);
  nn::DistributedDataParallel ddp(model, {.timeout_seconds = 3.0});
  optim::SGD sgd(model.parameters(), {.lr = 0.1f});
  for (int step = 0; step < steps; ++step) {
    if (rank == 1 && step == stop_after) return;
    if (rank == 1 && step == fail_at_step) {
      throw std::runtime_error("injected fault at step " + std::to_string(step));
    }
    Tensor x = Tensor::normal({8, 4}, 0, 1, gen);
    Tensor y = Tensor::normal({8, 1}, 0, 1, gen);
    sgd.zero_grad();
    mse_loss(model.forward(x), y).backward();
    ddp.finish_gradient_sync();
    sgd.step();
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc == 2 ? argv[1] : "";
  if (mode == "throw") return dist::run([] { train(10, 3, -1); return 0; });
  if (mode == "stop") return dist::run([] { train(10, -1, 2); return 0; });
  if (mode == "ok") {
    return dist::run([] {
      train(4, -1, -1);
      std::cout << "rank " << dist::get_rank() << " ok\n";
      return 0;
    });
  }
  if (mode == "uncaught") {
    dist::init_process_group();
    train(10, 3, -1);  // rank 1 throws, nothing catches it: std::terminate
    dist::destroy_process_group();
    return 0;
  }
  std::cerr << "usage: fault_drill throw|uncaught|stop|ok\n";
  return 2;
}
