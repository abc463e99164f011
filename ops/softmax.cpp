// softmax, log_softmax and logsumexp over one dim, all through the shift s = max over the dim:
//   logsumexp(x) = s + log(sum exp(x - s)),  log_softmax(x) = x - logsumexp(x),
//   softmax(x) = exp(x - s) / sum exp(x - s).
// Every exp argument is <= 0 and the sum is >= 1, so nothing overflows or divides by zero at
// +-1000. Backward: softmax dx = y * (g - sum(g * y)); log_softmax dx = g - exp(y) * sum(g);
// logsumexp dx = g * exp(x - lse). Each uses a saved value whose exp is <= 1.
// The tensor is viewed as [outer, extent, inner] (extent = the reduced dim), and each loop runs
// over the contiguous inner lanes, so any dim is handled without transposing.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/node.h"
#include "ops/kernels/elementwise.h"
#include "ops/ops.h"

namespace tapegrad {

namespace {

struct ReductionLayout {
  std::int64_t outer = 1;
  std::int64_t extent = 1;
  std::int64_t inner = 1;
  std::int64_t block() const { return extent * inner; }
};

ReductionLayout reduction_layout(const char* op, const Shape& shape, std::int64_t dim) {
  const std::int64_t rank = static_cast<std::int64_t>(shape.size());
  const std::int64_t d = wrap_dim(op, dim, rank);
  ReductionLayout layout;
  if (rank == 0) return layout;  // a scalar is its own one-element dim
  for (std::int64_t i = 0; i < d; ++i) layout.outer *= shape[i];
  layout.extent = shape[d];
  for (std::int64_t i = d + 1; i < rank; ++i) layout.inner *= shape[i];
  return layout;
}

// shift[i] = max over the dim of lane i; an infinite max becomes 0 (PyTorch's rule), so a lane
// of all -inf gives logsumexp -inf instead of -inf - -inf = NaN.
void lane_shifts(const float* block, const ReductionLayout& layout, float* shift) {
  std::fill_n(shift, layout.inner, -std::numeric_limits<float>::infinity());
  for (std::int64_t e = 0; e < layout.extent; ++e) {
    const float* row = block + e * layout.inner;
    for (std::int64_t i = 0; i < layout.inner; ++i) shift[i] = std::max(shift[i], row[i]);
  }
  for (std::int64_t i = 0; i < layout.inner; ++i) {
    if (std::isinf(shift[i])) shift[i] = 0.0f;
  }
}

// out = exp(block - shift) (per lane) and sum[i] = the lane sums of out.
void shifted_exp(const float* block, const float* shift, const ReductionLayout& layout,
                 float* out, float* sum) {
  for (std::int64_t e = 0; e < layout.extent; ++e) {
    const float* row = block + e * layout.inner;
    float* out_row = out + e * layout.inner;
    for (std::int64_t i = 0; i < layout.inner; ++i) out_row[i] = row[i] - shift[i];
  }
  kernels::exp_forward(out, out, layout.block());
  std::fill_n(sum, layout.inner, 0.0f);
  for (std::int64_t e = 0; e < layout.extent; ++e) {
    const float* out_row = out + e * layout.inner;
    for (std::int64_t i = 0; i < layout.inner; ++i) sum[i] += out_row[i];
  }
}

}  // namespace

Tensor softmax(const Tensor& x, std::int64_t dim) {
  check_floating("softmax", "x", x);
  const ReductionLayout layout = reduction_layout("softmax", x.shape(), dim);
  Tensor out = Tensor::empty(x.shape());
  std::vector<float> shift(layout.inner), sum(layout.inner);
  for (std::int64_t o = 0; o < layout.outer; ++o) {
    const float* block = x.data() + o * layout.block();
    float* y = out.data() + o * layout.block();
    lane_shifts(block, layout, shift.data());
    shifted_exp(block, shift.data(), layout, y, sum.data());
    for (float& s : sum) s = 1.0f / s;
    for (std::int64_t e = 0; e < layout.extent; ++e) {
      for (std::int64_t i = 0; i < layout.inner; ++i) y[e * layout.inner + i] *= sum[i];
    }
  }

  record("softmax", {x}, {out}, {out}, [layout](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    const float* g = ctx.grad_output(0).data();
    const float* y = ctx.saved(0).data();
    Tensor grad_x = Tensor::empty(ctx.saved(0).shape());
    float* gx = grad_x.data();
    std::vector<float> dot(layout.inner);
    for (std::int64_t o = 0; o < layout.outer; ++o) {
      const std::int64_t base = o * layout.block();
      std::fill(dot.begin(), dot.end(), 0.0f);
      for (std::int64_t e = 0; e < layout.extent; ++e) {
        const std::int64_t row = base + e * layout.inner;
        for (std::int64_t i = 0; i < layout.inner; ++i) dot[i] += g[row + i] * y[row + i];
      }
      for (std::int64_t e = 0; e < layout.extent; ++e) {
        const std::int64_t row = base + e * layout.inner;
        for (std::int64_t i = 0; i < layout.inner; ++i) {
          gx[row + i] = y[row + i] * (g[row + i] - dot[i]);
        }
      }
    }
    ctx.accumulate(0, std::move(grad_x));
  });
  return out;
}

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  check_floating("log_softmax", "x", x);
  const ReductionLayout layout = reduction_layout("log_softmax", x.shape(), dim);
  Tensor out = Tensor::empty(x.shape());
  std::vector<float> shift(layout.inner), sum(layout.inner);
  for (std::int64_t o = 0; o < layout.outer; ++o) {
    const float* block = x.data() + o * layout.block();
    float* y = out.data() + o * layout.block();
    lane_shifts(block, layout, shift.data());
    shifted_exp(block, shift.data(), layout, y, sum.data());  // y is scratch until overwritten
    for (float& s : sum) s = std::log(s);
    // (x - s) - log(sum), not x - (s + log(sum)): near the max, x - s is exact, so the result
    // keeps float precision instead of the precision of a value near |s| (1000 in the tests).
    for (std::int64_t e = 0; e < layout.extent; ++e) {
      for (std::int64_t i = 0; i < layout.inner; ++i) {
        y[e * layout.inner + i] = (block[e * layout.inner + i] - shift[i]) - sum[i];
      }
    }
  }

  record("log_softmax", {x}, {out}, {out}, [layout](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    const float* g = ctx.grad_output(0).data();
    const Tensor& saved_out = ctx.saved(0);
    Tensor grad_x = Tensor::empty(saved_out.shape());
    float* gx = grad_x.data();
    kernels::exp_forward(gx, saved_out.data(), saved_out.numel());  // softmax, held in gx
    std::vector<float> grad_sum(layout.inner);
    for (std::int64_t o = 0; o < layout.outer; ++o) {
      const std::int64_t base = o * layout.block();
      std::fill(grad_sum.begin(), grad_sum.end(), 0.0f);
      for (std::int64_t e = 0; e < layout.extent; ++e) {
        for (std::int64_t i = 0; i < layout.inner; ++i) grad_sum[i] += g[base + e * layout.inner + i];
      }
      for (std::int64_t e = 0; e < layout.extent; ++e) {
        const std::int64_t row = base + e * layout.inner;
        for (std::int64_t i = 0; i < layout.inner; ++i) {
          gx[row + i] = g[row + i] - gx[row + i] * grad_sum[i];
        }
      }
    }
    ctx.accumulate(0, std::move(grad_x));
  });
  return out;
}

Tensor logsumexp(const Tensor& x, std::int64_t dim, bool keepdim) {
  check_floating("logsumexp", "x", x);
  const ReductionLayout layout = reduction_layout("logsumexp", x.shape(), dim);
  Shape out_shape = x.shape();
  if (!out_shape.empty()) {
    const std::int64_t d = wrap_dim("logsumexp", dim, x.dim());
    if (keepdim) {
      out_shape[d] = 1;
    } else {
      out_shape.erase(out_shape.begin() + d);
    }
  }
  // The output is [outer, inner] in memory whether or not the reduced dim is kept.
  Tensor out = Tensor::empty(out_shape);
  std::vector<float> scratch(layout.block()), sum(layout.inner);
  for (std::int64_t o = 0; o < layout.outer; ++o) {
    const float* block = x.data() + o * layout.block();
    float* lse = out.data() + o * layout.inner;
    lane_shifts(block, layout, lse);
    shifted_exp(block, lse, layout, scratch.data(), sum.data());
    for (std::int64_t i = 0; i < layout.inner; ++i) lse[i] += std::log(sum[i]);
  }

  record("logsumexp", {x}, {out}, {x, out}, [layout](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    const float* g = ctx.grad_output(0).data();
    const Tensor& saved_x = ctx.saved(0);
    const float* lse = ctx.saved(1).data();
    Tensor grad_x = Tensor::empty(saved_x.shape());
    float* gx = grad_x.data();
    const float* xv = saved_x.data();
    for (std::int64_t o = 0; o < layout.outer; ++o) {
      for (std::int64_t e = 0; e < layout.extent; ++e) {
        const std::int64_t row = (o * layout.extent + e) * layout.inner;
        for (std::int64_t i = 0; i < layout.inner; ++i) {
          gx[row + i] = xv[row + i] - lse[o * layout.inner + i];
        }
      }
    }
    kernels::exp_forward(gx, gx, grad_x.numel());  // softmax along the dim
    for (std::int64_t o = 0; o < layout.outer; ++o) {
      for (std::int64_t e = 0; e < layout.extent; ++e) {
        const std::int64_t row = (o * layout.extent + e) * layout.inner;
        for (std::int64_t i = 0; i < layout.inner; ++i) gx[row + i] *= g[o * layout.inner + i];
      }
    }
    ctx.accumulate(0, std::move(grad_x));
  });
  return out;
}

}  // namespace tapegrad
