#pragma once
// The one non-finite check of every example's training loop. A NaN or infinite loss (a learning
// rate too large for the model, NaN in the data) would otherwise turn every weight NaN at the
// next optimizer step and the run would go on and report NaN as its result.
#include <cstdint>
#include <stdexcept>

namespace examples {

class NonFiniteLossError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where a loss was computed. epoch and step count from 1; 0 means the loop has no such level
// (rnn_vs_lstm counts steps only, sine_forecast full-batch epochs only).
struct LossSite {
  const char* phase = "training";  // or e.g. "evaluation"
  std::int64_t epoch = 0;
  std::int64_t step = 0;
};

// Throws NonFiniteLossError ("non-finite training loss nan at epoch 3, step 7; training stopped
// ...") when loss is NaN or infinite. Training loops call it right after the forward pass, before
// backward and the optimizer step, so no parameter is updated from that loss.
void require_finite_loss(double loss, const LossSite& site);

}  // namespace examples
