// Fused LSTM gate math (see lstm_gates.h; B batch, H hidden, G = 4H). The fast kernels make one
// pass per row over H with xsimd batches: each block loads the four gate pre-activations and
// c_prev once and writes every output, instead of one memory pass per pointwise op. Rows are
// independent, so large batches split across TBB workers with bitwise-identical results.
#include "ops/kernels/lstm_gates.h"
#include "ops/kernels/isa_namespace.h"

#include <cmath>

#include "ops/kernels/pointwise_simd.h"

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA {

namespace {
float sigmoid(float v) {
  if (v >= 0.0f) return 1.0f / (1.0f + std::exp(-v));
  const float e = std::exp(v);
  return e / (1.0f + e);
}
}  // namespace

void lstm_gates_forward_reference(float* h, float* c, float* gates_act, float* tanh_c,
                                  const float* gates_pre, const float* c_prev, std::int64_t B,
                                  std::int64_t H) {
  for (std::int64_t row = 0; row < B; ++row) {
    const float* pre = gates_pre + row * 4 * H;
    float* act = gates_act + row * 4 * H;
    for (std::int64_t j = 0; j < H; ++j) {
      const float i = sigmoid(pre[j]);
      const float f = sigmoid(pre[H + j]);
      const float g = std::tanh(pre[2 * H + j]);
      const float o = sigmoid(pre[3 * H + j]);
      const float c_new = f * c_prev[row * H + j] + i * g;
      const float t = std::tanh(c_new);
      act[j] = i;
      act[H + j] = f;
      act[2 * H + j] = g;
      act[3 * H + j] = o;
      c[row * H + j] = c_new;
      tanh_c[row * H + j] = t;
      h[row * H + j] = o * t;
    }
  }
}

void lstm_gates_backward_reference(float* grad_gates_pre, float* grad_c_prev,
                                   const float* grad_h, const float* grad_c,
                                   const float* gates_act, const float* tanh_c,
                                   const float* c_prev, std::int64_t B, std::int64_t H) {
  for (std::int64_t row = 0; row < B; ++row) {
    const float* act = gates_act + row * 4 * H;
    float* grad_pre = grad_gates_pre + row * 4 * H;
    for (std::int64_t j = 0; j < H; ++j) {
      const std::int64_t at = row * H + j;
      const float i = act[j], f = act[H + j], g = act[2 * H + j], o = act[3 * H + j];
      const float t = tanh_c[at];
      const float dh = grad_h ? grad_h[at] : 0.0f;
      // dL/dc = dL/dc (from later steps) + dL/dh * o * (1 - tanh(c)^2)
      const float dc = (grad_c ? grad_c[at] : 0.0f) + dh * o * (1.0f - t * t);
      grad_pre[j] = dc * g * i * (1.0f - i);
      grad_pre[H + j] = dc * c_prev[at] * f * (1.0f - f);
      grad_pre[2 * H + j] = dc * i * (1.0f - g * g);
      grad_pre[3 * H + j] = dh * t * o * (1.0f - o);
      if (grad_c_prev) grad_c_prev[at] = dc * f;
    }
  }
}

void lstm_gates_forward(float* h, float* c, float* gates_act, float* tanh_c,
                        const float* gates_pre, const float* c_prev, std::int64_t B,
                        std::int64_t H) {
  using detail::FloatBatch;
  using In = std::array<const float*, 5>;    // pre i, f, g, o, c_prev
  using Out = std::array<float*, 7>;         // act i, f, g, o, c, tanh_c, h
  const auto block = [](const In& in, const Out& out) {
    const FloatBatch i = detail::sigmoid_batch(xsimd::load_unaligned(in[0]));
    const FloatBatch f = detail::sigmoid_batch(xsimd::load_unaligned(in[1]));
    const FloatBatch g = xsimd::tanh(xsimd::load_unaligned(in[2]));
    const FloatBatch o = detail::sigmoid_batch(xsimd::load_unaligned(in[3]));
    const FloatBatch c_new = xsimd::fma(f, xsimd::load_unaligned(in[4]), i * g);
    const FloatBatch t = xsimd::tanh(c_new);
    i.store_unaligned(out[0]);
    f.store_unaligned(out[1]);
    g.store_unaligned(out[2]);
    o.store_unaligned(out[3]);
    c_new.store_unaligned(out[4]);
    t.store_unaligned(out[5]);
    (o * t).store_unaligned(out[6]);
  };
  detail::for_rows(B, H, [&](std::int64_t row_begin, std::int64_t row_end) {
    for (std::int64_t row = row_begin; row < row_end; ++row) {
      const float* pre = gates_pre + row * 4 * H;
      float* act = gates_act + row * 4 * H;
      const std::int64_t at = row * H;
      detail::for_each_lane_block(H, In{pre, pre + H, pre + 2 * H, pre + 3 * H, c_prev + at},
                                  Out{act, act + H, act + 2 * H, act + 3 * H, c + at,
                                      tanh_c + at, h + at},
                                  block);
    }
  });
}

void lstm_gates_backward(float* grad_gates_pre, float* grad_c_prev, const float* grad_h,
                         const float* grad_c, const float* gates_act, const float* tanh_c,
                         const float* c_prev, std::int64_t B, std::int64_t H) {
  using detail::FloatBatch;
  using In = std::array<const float*, 8>;  // grad_h?, grad_c?, act i, f, g, o, tanh_c, c_prev
  using Out = std::array<float*, 5>;       // grad pre i, f, g, o, grad_c_prev?
  const auto block = [](const In& in, const Out& out) {
    const FloatBatch one(1.0f);
    const FloatBatch dh = detail::load_or_zero(in[0]);
    const FloatBatch i = xsimd::load_unaligned(in[2]);
    const FloatBatch f = xsimd::load_unaligned(in[3]);
    const FloatBatch g = xsimd::load_unaligned(in[4]);
    const FloatBatch o = xsimd::load_unaligned(in[5]);
    const FloatBatch t = xsimd::load_unaligned(in[6]);
    // dL/dc = dL/dc (from later steps) + dL/dh * o * (1 - tanh(c)^2)
    const FloatBatch dc = xsimd::fma(dh * o, xsimd::fnma(t, t, one), detail::load_or_zero(in[1]));
    (dc * g * i * (one - i)).store_unaligned(out[0]);
    (dc * xsimd::load_unaligned(in[7]) * f * (one - f)).store_unaligned(out[1]);
    (dc * i * xsimd::fnma(g, g, one)).store_unaligned(out[2]);
    (dh * t * o * (one - o)).store_unaligned(out[3]);
    if (out[4]) (dc * f).store_unaligned(out[4]);
  };
  detail::for_rows(B, H, [&](std::int64_t row_begin, std::int64_t row_end) {
    for (std::int64_t row = row_begin; row < row_end; ++row) {
      const float* act = gates_act + row * 4 * H;
      float* grad_pre = grad_gates_pre + row * 4 * H;
      const std::int64_t at = row * H;
      detail::for_each_lane_block(
          H,
          In{grad_h ? grad_h + at : nullptr, grad_c ? grad_c + at : nullptr, act, act + H,
             act + 2 * H, act + 3 * H, tanh_c + at, c_prev + at},
          Out{grad_pre, grad_pre + H, grad_pre + 2 * H, grad_pre + 3 * H,
              grad_c_prev ? grad_c_prev + at : nullptr},
          block);
    }
  });
}

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA
