// max over one dim, max over everything, argmax
// (https://pytorch.org/docs/stable/generated/torch.max.html, torch.amax, torch.argmax).
//   max(x, dim): y = x[argmax]; dy/dx routes grad_out to the first maximal element (torch.max).
//   max(x):      y = max_i x_i; the gradient is split evenly over ties (torch.amax), the
//                symmetric subgradient, so equal inputs get equal updates.
// NaN counts as the maximum (as in PyTorch), so a NaN in x shows up in y instead of being skipped.
#include <algorithm>
#include <cmath>
#include <string>

#include "autograd/node.h"
#include "ops/ops.h"

namespace tapegrad {

namespace {

bool beats(float candidate, float best) {
  return candidate > best || (std::isnan(candidate) && !std::isnan(best));
}

// x viewed as [outer, extent, inner] around the reduced dim; a 0-D tensor is [1, 1, 1].
struct AroundDim {
  std::int64_t outer = 1;
  std::int64_t extent = 1;
  std::int64_t inner = 1;
};

AroundDim around_dim(const char* op, const Tensor& x, std::int64_t dim) {
  const Shape& shape = x.shape();
  const auto rank = static_cast<std::int64_t>(shape.size());
  const std::int64_t d = wrap_dim(op, dim, rank);
  AroundDim view;
  if (rank == 0) return view;
  for (std::int64_t k = 0; k < d; ++k) view.outer *= shape[static_cast<std::size_t>(k)];
  view.extent = shape[static_cast<std::size_t>(d)];
  for (std::int64_t k = d + 1; k < rank; ++k) view.inner *= shape[static_cast<std::size_t>(k)];
  if (view.extent == 0) {
    throw IndexError(std::string(op) + ": cannot reduce over dim " + std::to_string(dim) +
                     " of size 0 (input shape " + format_shape(shape) + ")");
  }
  return view;
}

// Index along the dim of the first maximal element, for each of the outer*inner positions.
// Walks x in memory order, keeping a running best per inner position.
std::vector<std::int64_t> argmax_around(const Tensor& x, const AroundDim& view) {
  std::vector<std::int64_t> best_index(static_cast<std::size_t>(view.outer * view.inner), 0);
  std::vector<float> best(static_cast<std::size_t>(view.inner));
  const float* values = x.data();
  for (std::int64_t o = 0; o < view.outer; ++o) {
    const float* block = values + o * view.extent * view.inner;
    std::int64_t* index = best_index.data() + o * view.inner;
    std::copy_n(block, view.inner, best.begin());
    for (std::int64_t k = 1; k < view.extent; ++k) {
      const float* row = block + k * view.inner;
      for (std::int64_t i = 0; i < view.inner; ++i) {
        if (beats(row[i], best[static_cast<std::size_t>(i)])) {
          best[static_cast<std::size_t>(i)] = row[i];
          index[i] = k;
        }
      }
    }
  }
  return best_index;
}

Shape without_dim(const Shape& shape, std::int64_t dim, bool keepdim) {
  if (shape.empty()) return shape;
  Shape out = shape;
  const auto d =
      static_cast<std::size_t>(wrap_dim("max", dim, static_cast<std::int64_t>(shape.size())));
  if (keepdim) {
    out[d] = 1;
  } else {
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(d));
  }
  return out;
}

}  // namespace

std::vector<std::int64_t> argmax(const Tensor& x, std::int64_t dim) {
  check_floating("argmax", "x", x);
  return argmax_around(x, around_dim("argmax", x, dim));
}

Tensor max(const Tensor& x, std::int64_t dim, bool keepdim) {
  check_floating("max", "x", x);
  const AroundDim view = around_dim("max", x, dim);
  std::vector<std::int64_t> winners = argmax_around(x, view);
  Tensor out = Tensor::empty(without_dim(x.shape(), dim, keepdim));
  const float* values = x.data();
  float* result = out.data();
  for (std::int64_t o = 0; o < view.outer; ++o) {
    for (std::int64_t i = 0; i < view.inner; ++i) {
      const std::int64_t j = o * view.inner + i;
      result[j] = values[(o * view.extent + winners[static_cast<std::size_t>(j)]) * view.inner + i];
    }
  }
  record("max", {x}, {out}, {},
         [x_shape = x.shape(), view, winners = std::move(winners)](BackwardContext& ctx) {
           if (!ctx.needs_grad(0)) return;
           const float* grad_out = ctx.grad_output(0).data();
           Tensor grad_x = Tensor::zeros(x_shape);
           float* grad = grad_x.data();
           for (std::int64_t o = 0; o < view.outer; ++o) {
             for (std::int64_t i = 0; i < view.inner; ++i) {
               const std::int64_t j = o * view.inner + i;
               grad[(o * view.extent + winners[static_cast<std::size_t>(j)]) * view.inner + i] =
                   grad_out[j];
             }
           }
           ctx.accumulate(0, std::move(grad_x));
         });
  return out;
}

Tensor max(const Tensor& x) {
  check_floating("max", "x", x);
  const std::int64_t n = x.numel();
  if (n == 0) {
    throw ValueError("max: cannot reduce an empty tensor (shape " + format_shape(x.shape()) +
                     ") without a dim");
  }
  const float* values = x.data();
  float best = values[0];
  for (std::int64_t i = 1; i < n; ++i) {
    if (beats(values[i], best)) best = values[i];
  }
  // Positions tied with the maximum (all NaNs when the maximum is NaN) share its gradient.
  std::vector<std::int64_t> ties;
  const bool best_is_nan = std::isnan(best);
  for (std::int64_t i = 0; i < n; ++i) {
    if (best_is_nan ? std::isnan(values[i]) : values[i] == best) ties.push_back(i);
  }
  Tensor out = Tensor::scalar(best);
  record("max", {x}, {out}, {},
         [x_shape = x.shape(), ties = std::move(ties)](BackwardContext& ctx) {
           if (!ctx.needs_grad(0)) return;
           const float share = ctx.grad_output(0).item() / static_cast<float>(ties.size());
           Tensor grad_x = Tensor::zeros(x_shape);
           float* grad = grad_x.data();
           for (std::int64_t i : ties) grad[i] = share;
           ctx.accumulate(0, std::move(grad_x));
         });
  return out;
}

}  // namespace tapegrad
