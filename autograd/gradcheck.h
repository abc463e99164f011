#pragma once
// Finite-difference gradient check for ops and models, public so users check their own ops.
//
// The output is projected onto fixed random signed weights w, L(x) = sum(w * fn(x)) accumulated in
// double, so a backward with a symmetric bug cannot pass by luck. Every input that requires grad is
// checked element by element against central differences:
//   dL/dx_j ~ (L(x + eps e_j) - L(x - eps e_j)) / (2 eps)
// or the 4-point formula (8(L(+e) - L(-e)) - (L(+2e) - L(-2e))) / (12 eps) when four_point is set.
// float32 forward passes need a wider eps and looser tolerances than PyTorch's double defaults.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad {

struct GradcheckOptions {
  double eps = 1e-3;
  double atol = 1e-3;
  double rtol = 1e-2;
  bool four_point = false;
  std::uint64_t seed = 1234;  // for the projection weights
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;
  std::string report;  // the worst mismatches: input, element, analytic, numeric
  explicit operator bool() const { return ok; }
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Checks the gradient of fn with respect to every input that requires grad. The inputs' values are
// perturbed temporarily and restored; their .grad is left as it was. Throws ValueError when no input
// requires grad or fn returns an undefined tensor.
GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace tapegrad
