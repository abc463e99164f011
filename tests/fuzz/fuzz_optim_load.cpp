// libFuzzer target: loading an optimizer checkpoint (optim::load, with and without an LR
// scheduler) from arbitrary bytes. Properties: no crash or sanitizer report; a load either
// succeeds or throws tapegrad::Error; a load that throws changes neither the optimizer's state and
// lr nor the scheduler's state.
#include <cstdint>

#include "autograd/tensor.h"
#include "fuzz_support.h"
#include "optim/adam.h"
#include "optim/checkpoint.h"
#include "optim/lr_scheduler.h"
#include "ops/ops.h"

namespace {

using namespace tapegrad;

struct Snapshot {
  std::vector<std::vector<float>> state;
  float lr;
  optim::SchedulerState scheduler;
};

bool same(const Snapshot& a, const Snapshot& b) {
  return fuzz::same_bits(a.state, b.state) && a.lr == b.lr &&
         a.scheduler.last_epoch == b.scheduler.last_epoch &&
         a.scheduler.base_lrs == b.scheduler.base_lrs && a.scheduler.last_lrs == b.scheduler.last_lrs;
}

// Two parameters, one stepped once so that Adam has state for it and none for the other: a
// checkpoint may hold either form.
struct Setup {
  std::vector<Tensor> params{Tensor::ones({2, 3}, true), Tensor::ones({3}, true)};
  optim::Adam adam{params, {.lr = 0.01f}};
  optim::StepLR scheduler{adam, 2, 0.5f};
  Setup() {
    sum(params[0]).backward();
    adam.step();
  }
  Snapshot snapshot() const {
    std::vector<Tensor> state;
    for (const auto& [name, tensor] : adam.state_tensors()) state.push_back(tensor);
    return {fuzz::snapshot(state), adam.lr(), scheduler.state()};
  }
};

Setup& setup() {
  static Setup instance;
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = fuzz::scratch_path("optim_load");
  fuzz::write_file(path, data, size);
  Setup& s = setup();
  const auto reference_state = s.adam.state_tensors();
  const float reference_lr = s.adam.lr();
  const optim::SchedulerState reference_scheduler = s.scheduler.state();
  const Snapshot before = s.snapshot();
  for (bool with_scheduler : {false, true}) {
    try {
      if (with_scheduler) {
        optim::load(s.adam, s.scheduler, path);
      } else {
        optim::load(s.adam, path);
      }
    } catch (const Error&) {
      if (!same(before, s.snapshot())) fuzz::fail("a failed optim::load changed the optimizer");
      continue;
    }
    // A successful load: put the reference state back for the next input.
    s.adam.load_state_tensors(reference_state);
    s.adam.set_lr(reference_lr);
    s.scheduler.load_state(reference_scheduler);
  }
  return 0;
}
