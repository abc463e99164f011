#pragma once
// Resumable training in the examples: the options (the flags of cli::Program::add_resume_options)
// and the one rule of when a loop saves and stops. The state itself is an
// optim::TrainingCheckpoint that each loop fills with what it carries.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/tensor.h"

namespace examples {

struct ResumeOptions {
  std::string checkpoint;      // the training-state file ("": none)
  std::int64_t every = 0;      // save every N steps (0: never on a schedule)
  std::int64_t max_steps = 0;  // stop after N steps in all, saving if checkpoint is set (0: no limit)
  bool resume = false;         // load checkpoint first and continue from it
};

// Throws std::invalid_argument naming `who` for negative counts or a schedule or resume without
// a checkpoint path.
inline void check_resume_options(const ResumeOptions& options, const std::string& who) {
  if (options.every < 0 || options.max_steps < 0) {
    throw std::invalid_argument(who + ": checkpoint every and max_steps must be >= 0, got " +
                                std::to_string(options.every) + " and " +
                                std::to_string(options.max_steps));
  }
  if (options.checkpoint.empty() && (options.resume || options.every > 0)) {
    throw std::invalid_argument(who + ": resume and a checkpoint schedule need a checkpoint path");
  }
}

// After training step `step` (1-based, counting the steps of earlier, resumed runs).
struct AfterStep {
  bool save = false;  // write the checkpoint now
  bool stop = false;  // max_steps reached: end the run (after saving)
};
inline AfterStep after_step(const ResumeOptions& options, std::int64_t step) {
  AfterStep action;
  action.stop = options.max_steps > 0 && step >= options.max_steps;
  action.save = !options.checkpoint.empty() &&
                (action.stop || (options.every > 0 && step % options.every == 0));
  return action;
}

// A list of per-epoch numbers as a checkpoint tensor entry and back (undefined when empty).
inline tapegrad::Tensor to_entry(const std::vector<float>& values) {
  if (values.empty()) return {};
  return tapegrad::Tensor::from_vector(values, {static_cast<std::int64_t>(values.size())});
}
inline std::vector<float> from_entry(const tapegrad::Tensor& entry) {
  return entry.defined() ? entry.to_vector() : std::vector<float>{};
}

}  // namespace examples
