// Fused GRU gate math (see gru_gates.h; B batch, H hidden, G = 3H), reference and xsimd twins.
// Backward, with a_n = xn + r * hn the pre-activation of n:
//   dn = dh (1 - z), dz = dh (h_prev - n), d a_n = dn (1 - n^2), dr = d a_n * hn,
//   d xr = d hr = dr r (1 - r), d xz = d hz = dz z (1 - z), d xn = d a_n, d hn = d a_n * r,
//   d h_prev (direct) = dh z.
// Every factor comes from saved activations in [0,1] or [-1,1], so nothing overflows at +-50.
#include "ops/kernels/gru_gates.h"
#include "ops/kernels/isa_namespace.h"

#include <cmath>

#include "ops/kernels/pointwise_simd.h"

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA {

void gru_gates_forward_reference(float* h, float* gates_act, float* hn_saved,
                                 const float* gates_x, const float* gates_h, const float* h_prev,
                                 std::int64_t B, std::int64_t H) {
  for (std::int64_t row = 0; row < B; ++row) {
    const float* gx = gates_x + row * 3 * H;
    const float* gh = gates_h + row * 3 * H;
    float* act = gates_act + row * 3 * H;
    for (std::int64_t j = 0; j < H; ++j) {
      const std::int64_t at = row * H + j;
      const float r = detail::sigmoid_scalar(gx[j] + gh[j]);
      const float z = detail::sigmoid_scalar(gx[H + j] + gh[H + j]);
      const float hn = gh[2 * H + j];
      const float n = std::tanh(gx[2 * H + j] + r * hn);
      act[j] = r;
      act[H + j] = z;
      act[2 * H + j] = n;
      hn_saved[at] = hn;
      h[at] = (1.0f - z) * n + z * h_prev[at];
    }
  }
}

void gru_gates_backward_reference(float* grad_gates_x, float* grad_gates_h, float* grad_h_prev,
                                  const float* grad_h, const float* gates_act,
                                  const float* hn_saved, const float* h_prev, std::int64_t B,
                                  std::int64_t H) {
  for (std::int64_t row = 0; row < B; ++row) {
    const float* act = gates_act + row * 3 * H;
    float* gx = grad_gates_x + row * 3 * H;
    float* gh = grad_gates_h + row * 3 * H;
    for (std::int64_t j = 0; j < H; ++j) {
      const std::int64_t at = row * H + j;
      const float r = act[j], z = act[H + j], n = act[2 * H + j];
      const float dh = grad_h[at];
      const float grad_a_n = dh * (1.0f - z) * (1.0f - n * n);
      const float grad_a_r = grad_a_n * hn_saved[at] * r * (1.0f - r);
      const float grad_a_z = dh * (h_prev[at] - n) * z * (1.0f - z);
      gx[j] = grad_a_r;
      gh[j] = grad_a_r;
      gx[H + j] = grad_a_z;
      gh[H + j] = grad_a_z;
      gx[2 * H + j] = grad_a_n;
      gh[2 * H + j] = grad_a_n * r;
      if (grad_h_prev) grad_h_prev[at] = dh * z;
    }
  }
}

void gru_gates_forward(float* h, float* gates_act, float* hn_saved, const float* gates_x,
                       const float* gates_h, const float* h_prev, std::int64_t B, std::int64_t H) {
  using detail::FloatBatch;
  using In = std::array<const float*, 7>;  // x r, z, n; h r, z, n; h_prev
  using Out = std::array<float*, 5>;       // act r, z, n; hn_saved; h
  const auto block = [](const In& in, const Out& out) {
    const auto load = [&](std::size_t k) { return xsimd::load_unaligned(in[k]); };
    const FloatBatch r = detail::sigmoid_batch(load(0) + load(3));
    const FloatBatch z = detail::sigmoid_batch(load(1) + load(4));
    const FloatBatch hn = load(5);
    const FloatBatch n = xsimd::tanh(xsimd::fma(r, hn, load(2)));
    r.store_unaligned(out[0]);
    z.store_unaligned(out[1]);
    n.store_unaligned(out[2]);
    hn.store_unaligned(out[3]);
    // (1 - z) n + z h_prev, rewritten as n + z (h_prev - n) to save a multiply
    xsimd::fma(z, load(6) - n, n).store_unaligned(out[4]);
  };
  detail::for_rows(B, H, [&](std::int64_t row_begin, std::int64_t row_end) {
    for (std::int64_t row = row_begin; row < row_end; ++row) {
      const float* gx = gates_x + row * 3 * H;
      const float* gh = gates_h + row * 3 * H;
      float* act = gates_act + row * 3 * H;
      const std::int64_t at = row * H;
      detail::for_each_lane_block(
          H, In{gx, gx + H, gx + 2 * H, gh, gh + H, gh + 2 * H, h_prev + at},
          Out{act, act + H, act + 2 * H, hn_saved + at, h + at}, block);
    }
  });
}

void gru_gates_backward(float* grad_gates_x, float* grad_gates_h, float* grad_h_prev,
                        const float* grad_h, const float* gates_act, const float* hn_saved,
                        const float* h_prev, std::int64_t B, std::int64_t H) {
  using detail::FloatBatch;
  using In = std::array<const float*, 6>;  // grad_h, act r, z, n, hn_saved, h_prev
  using Out = std::array<float*, 7>;       // grad x r, z, n; grad h r, z, n; grad_h_prev?
  const auto block = [](const In& in, const Out& out) {
    const FloatBatch one(1.0f);
    const FloatBatch dh = xsimd::load_unaligned(in[0]);
    const FloatBatch r = xsimd::load_unaligned(in[1]);
    const FloatBatch z = xsimd::load_unaligned(in[2]);
    const FloatBatch n = xsimd::load_unaligned(in[3]);
    const FloatBatch grad_a_n = dh * (one - z) * xsimd::fnma(n, n, one);
    const FloatBatch grad_a_r = grad_a_n * xsimd::load_unaligned(in[4]) * r * (one - r);
    const FloatBatch grad_a_z = dh * (xsimd::load_unaligned(in[5]) - n) * z * (one - z);
    grad_a_r.store_unaligned(out[0]);
    grad_a_z.store_unaligned(out[1]);
    grad_a_n.store_unaligned(out[2]);
    grad_a_r.store_unaligned(out[3]);
    grad_a_z.store_unaligned(out[4]);
    (grad_a_n * r).store_unaligned(out[5]);
    if (out[6]) (dh * z).store_unaligned(out[6]);
  };
  detail::for_rows(B, H, [&](std::int64_t row_begin, std::int64_t row_end) {
    for (std::int64_t row = row_begin; row < row_end; ++row) {
      const float* act = gates_act + row * 3 * H;
      float* gx = grad_gates_x + row * 3 * H;
      float* gh = grad_gates_h + row * 3 * H;
      const std::int64_t at = row * H;
      detail::for_each_lane_block(
          H, In{grad_h + at, act, act + H, act + 2 * H, hn_saved + at, h_prev + at},
          Out{gx, gx + H, gx + 2 * H, gh, gh + H, gh + 2 * H,
              grad_h_prev ? grad_h_prev + at : nullptr},
          block);
    }
  });
}

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA
