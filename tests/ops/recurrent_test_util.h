#pragma once
// Shared by the recurrent-layer tests (test_recurrent.cpp, test_recurrent_layer.cpp).
#include <vector>

#include "autograd/gradcheck.h"
#include "ops/ops.h"
#include "ops/recurrent.h"

namespace tapegrad::testing {

// All outputs of a layer flattened into one tensor, so gradcheck projects every one of them.
inline Tensor flatten_result(const RecurrentResult& r) {
  std::vector<Tensor> parts{reshape(r.output, {-1}), reshape(r.h_n, {-1})};
  if (r.c_n.defined()) parts.push_back(reshape(r.c_n, {-1}));
  return cat(parts, 0);
}

// float32 finite differences through a whole sequence need a wider step and tolerance.
inline GradcheckOptions recurrent_tolerances() {
  GradcheckOptions options;
  options.eps = 1e-2;
  options.atol = 2e-3;
  options.rtol = 2e-2;
  return options;
}

}  // namespace tapegrad::testing
