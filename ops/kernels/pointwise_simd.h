#pragma once
// Internal to ops/kernels/*.cpp (includes xsimd and TBB, so never include it from a public header):
// the stable sigmoid shared by the pointwise and gate kernels, a lane-block loop whose tail runs the
// same SIMD body on zero-padded copies, and the serial/parallel row split for the gate kernels.
#include "autograd/threads.h"
#include "ops/kernels/isa_namespace.h"
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

// In a namespace per instruction set (isa_namespace.h): these inline functions compile to other
// code under other flags, so they must not share names across builds.
namespace tapegrad::kernels {
inline namespace TAPEGRAD_KERNEL_ISA {
namespace detail {

using Arch = xsimd::default_arch;
using FloatBatch = xsimd::batch<float, Arch>;
constexpr std::int64_t kLanes = static_cast<std::int64_t>(FloatBatch::size);

// sigmoid(x) = 1/(1+e) for x >= 0 and e/(1+e) for x < 0, with e = exp(-|x|) in (0, 1]: neither
// branch can overflow, so +-100 gives exactly 1 and a tiny positive value (or 0) instead of NaN.
// NaN fails x >= 0 and comes out of e * (...) as NaN.
inline float sigmoid_scalar(float x) {
  const float e = std::exp(-std::fabs(x));
  const float positive = 1.0f / (1.0f + e);
  return x >= 0.0f ? positive : e * positive;
}

inline FloatBatch sigmoid_batch(const FloatBatch& x) {
  const FloatBatch one(1.0f);
  const FloatBatch e = xsimd::exp(-xsimd::abs(x));
  const FloatBatch positive = one / (one + e);
  return xsimd::select(x >= FloatBatch(0.0f), positive, e * positive);
}

// Calls body(in, out) on pointers to consecutive blocks of kLanes floats, offset from the given
// row pointers, for n elements. A null pointer stays null (an absent optional input or output).
// The last partial block runs the same body on zero-padded stack copies, so every element gets the
// same SIMD math (xsimd 8.1 has no masked load/store) and a short row (H = 100: 6 blocks + 4)
// does not pay for scalar exp/tanh calls in its tail.
template <std::size_t NumIn, std::size_t NumOut, class Body>
inline void for_each_lane_block(std::int64_t n, std::array<const float*, NumIn> in,
                                std::array<float*, NumOut> out, Body&& body) {
  std::int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    std::array<const float*, NumIn> in_block;
    std::array<float*, NumOut> out_block;
    for (std::size_t k = 0; k < NumIn; ++k) in_block[k] = in[k] ? in[k] + j : nullptr;
    for (std::size_t k = 0; k < NumOut; ++k) out_block[k] = out[k] ? out[k] + j : nullptr;
    body(in_block, out_block);
  }
  const std::int64_t rest = n - j;
  if (rest == 0) return;
  const std::size_t rest_bytes = static_cast<std::size_t>(rest) * sizeof(float);
  alignas(64) float in_pad[NumIn][kLanes] = {};
  alignas(64) float out_pad[NumOut][kLanes] = {};
  std::array<const float*, NumIn> in_block;
  std::array<float*, NumOut> out_block;
  for (std::size_t k = 0; k < NumIn; ++k) {
    in_block[k] = nullptr;
    if (!in[k]) continue;
    std::memcpy(in_pad[k], in[k] + j, rest_bytes);
    in_block[k] = in_pad[k];
  }
  for (std::size_t k = 0; k < NumOut; ++k) out_block[k] = out[k] ? out_pad[k] : nullptr;
  body(in_block, out_block);
  for (std::size_t k = 0; k < NumOut; ++k) {
    if (out[k]) std::memcpy(out[k] + j, out_pad[k], rest_bytes);
  }
}

// As for_each_lane_block, but body(in, out, j) gets the row pointers themselves and the block's
// offset j (0 for the padded tail), so a full block costs no per-pointer rebuild: the derived
// cell kernels, whose few FLOPs per block made rebuilding up to 16 pointers a visible share.
// The body must offset only the pointers that are not null.
template <std::size_t NumIn, std::size_t NumOut, class Body>
inline void for_each_lane_offset(std::int64_t n, const std::array<const float*, NumIn>& in,
                                 const std::array<float*, NumOut>& out, Body&& body) {
  std::int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) body(in, out, j);
  const std::int64_t rest = n - j;
  if (rest == 0) return;
  const std::size_t rest_bytes = static_cast<std::size_t>(rest) * sizeof(float);
  alignas(64) float in_pad[NumIn][kLanes] = {};
  alignas(64) float out_pad[NumOut][kLanes] = {};
  std::array<const float*, NumIn> in_block{};
  std::array<float*, NumOut> out_block{};
  for (std::size_t k = 0; k < NumIn; ++k) {
    if (!in[k]) continue;
    std::memcpy(in_pad[k], in[k] + j, rest_bytes);
    in_block[k] = in_pad[k];
  }
  for (std::size_t k = 0; k < NumOut; ++k) out_block[k] = out[k] ? out_pad[k] : nullptr;
  body(in_block, out_block, std::int64_t{0});
  for (std::size_t k = 0; k < NumOut; ++k) {
    if (out[k]) std::memcpy(out[k] + j, out_pad[k], rest_bytes);
  }
}

inline FloatBatch load_or_zero(const float* p) {
  return p ? xsimd::load_unaligned(p) : FloatBatch(0.0f);
}

// Runs rows(begin, end) over [0, rows_total), serially below kParallelElements cell positions
// (rows_total * row_elements). In bench_gates on this shared 2-core machine, splitting the
// per-step sizes up to 64x512 (25-110 us of serial work) measured 0.6-1.1x of serial: the second
// core is rarely free, and a sleeping TBB worker takes 30-70 us to wake. 990x100 (the sine config,
// ~400 us forward) gained up to 2.1x. So the split starts at 65536 positions, where even a slow
// wake-up is amortised, with chunks of at least kMinTaskElements. Each element is computed the
// same way on whichever thread, so results do not depend on the split.
constexpr std::int64_t kParallelElements = 1 << 16;
constexpr std::int64_t kMinTaskElements = 1 << 14;

template <class Rows>
inline void for_rows(std::int64_t rows_total, std::int64_t row_elements, Rows&& rows) {
  if (rows_total < 2 || rows_total * row_elements < kParallelElements) {
    rows(std::int64_t{0}, rows_total);
    return;
  }
  const std::int64_t grain = std::max<std::int64_t>(1, kMinTaskElements / row_elements);
  tapegrad::detail::apply_thread_settings();
  tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, rows_total, grain),
                    [&](const tbb::blocked_range<std::int64_t>& r) { rows(r.begin(), r.end()); });
}

}  // namespace detail
}  // namespace TAPEGRAD_KERNEL_ISA
}  // namespace tapegrad::kernels
