// The matmul precision bfloat16 (autograd/grad_mode.h): the guard, which ops honour it, that their
// backward multiplies at the precision recorded in the forward, and that a recurrent layer under
// it stays within bfloat16's error of float32 in its outputs and every gradient, fused and
// composed alike. (Finite-difference gradchecks cannot see through rounding to bfloat16; the
// float32 gradchecks of these ops stand, and the kernel's tests check the products themselves.)
#include <cmath>
#include <thread>
#include <vector>

#include "autograd/generator.h"
#include "autograd/grad_mode.h"
#include "nn/rnn.h"
#include "ops/losses.h"
#include "ops/ops.h"
#include "test_util.h"

using namespace tapegrad;

namespace {

// 1 + 2^-10 is 1 in bfloat16 (8 significant bits): a product of such numbers shows which
// precision it ran at.
constexpr float kOffGrid = 1.0f + 0x1p-10f;

Tensor filled(const Shape& shape, float value, bool requires_grad = false) {
  std::int64_t n = 1;
  for (const std::int64_t d : shape) n *= d;
  Tensor t = Tensor::from_vector(std::vector<float>(static_cast<std::size_t>(n), value), shape);
  if (requires_grad) t.requires_grad_(true);
  return t;
}

void require_all(const Tensor& t, float value) {
  for (std::int64_t i = 0; i < t.numel(); ++i) REQUIRE(t.data()[i] == value);
}

// max |a - b| / max |b|
double relative_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double worst = 0.0, scale = 0.0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    worst = std::max(worst, std::fabs(double(a.data()[i]) - double(b.data()[i])));
    scale = std::max(scale, std::fabs(double(b.data()[i])));
  }
  return worst / scale;
}

}  // namespace

TEST_CASE("MatmulPrecisionGuard sets the precision for its scope and its thread only",
          "[matmul_precision]") {
  REQUIRE(matmul_precision() == MatmulPrecision::float32);
  {
    const MatmulPrecisionGuard guard(MatmulPrecision::bfloat16);
    CHECK(matmul_precision() == MatmulPrecision::bfloat16);
    MatmulPrecision elsewhere = MatmulPrecision::bfloat16;
    std::thread([&] { elsewhere = matmul_precision(); }).join();
    CHECK(elsewhere == MatmulPrecision::float32);
    {
      const MatmulPrecisionGuard inner(MatmulPrecision::float32);
      CHECK(matmul_precision() == MatmulPrecision::float32);
    }
    CHECK(matmul_precision() == MatmulPrecision::bfloat16);
  }
  CHECK(matmul_precision() == MatmulPrecision::float32);
}

TEST_CASE("linear and matmul multiply bfloat16 operands under the guard, and backward too",
          "[matmul_precision]") {
  for (const bool bf16 : {false, true}) {
    INFO((bf16 ? "bfloat16" : "float32"));
    // Each output is a sum of 3 products of 1 + 2^-10 and 1 + 2^-10: 3 (1 + 2^-9 + 2^-20) in
    // float32, exactly 3 in bfloat16.
    const float product32 = kOffGrid * kOffGrid;
    const Tensor x = filled({2, 3}, kOffGrid, true), w = filled({4, 3}, kOffGrid, true);
    const Tensor b = filled({3, 5}, kOffGrid, true);
    Tensor y, z;
    {
      const MatmulPrecisionGuard guard(bf16 ? MatmulPrecision::bfloat16 : MatmulPrecision::float32);
      y = linear(x, w, Tensor());
      z = matmul(x, b);
    }
    require_all(y, bf16 ? 3.0f : 3.0f * product32);
    require_all(z, bf16 ? 3.0f : 3.0f * product32);
    // Backward runs outside the guard, at the recorded precision: dx = 1 . W sums 4 rows of W
    // and 5 columns of B, dW sums 2 rows of x, dB 2 rows of x.
    (sum(y) + sum(z)).backward();
    require_all(x.grad(), bf16 ? 9.0f : 9.0f * kOffGrid);
    require_all(w.grad(), bf16 ? 2.0f : 2.0f * kOffGrid);
    require_all(b.grad(), bf16 ? 2.0f : 2.0f * kOffGrid);
  }
}

TEST_CASE("an LSTM under bfloat16 stays within its error of float32, fused and composed",
          "[matmul_precision]") {
  const bool fused = GENERATE(true, false);
  const std::int64_t proj_size = GENERATE(0, 10);  // 10: W_hr's products too
  INFO((fused ? "fused" : "composed") << ", proj_size " << proj_size);
  struct Run {
    Tensor output, h_n, c_n;
    std::vector<Tensor> grads;
  };
  const auto run = [&](MatmulPrecision precision) {
    Generator gen(21);
    nn::LSTM lstm({.input_size = 24, .hidden_size = 40, .num_layers = 2, .batch_first = true,
                   .proj_size = proj_size},
                  gen);
    lstm.set_fused(fused);
    const Tensor x = Tensor::normal({6, 12, 24}, 0.0f, 1.0f, gen).requires_grad_(true);
    const Tensor target =
        Tensor::normal({6, 12, proj_size > 0 ? proj_size : 40}, 0.0f, 0.5f, gen);
    const MatmulPrecisionGuard guard(precision);
    const nn::LSTMOutput out = lstm.forward(x);
    mse_loss(out.output, target).backward();
    Run result{out.output, out.state.h, out.state.c, {x.grad()}};
    for (const Tensor& p : lstm.parameters()) result.grads.push_back(p.grad());
    return result;
  };
  const Run exact = run(MatmulPrecision::float32), rounded = run(MatmulPrecision::bfloat16);
  // bfloat16 keeps 8 significant bits: each operand is off by up to 2^-9 of itself. What that
  // leaves after two layers and 12 steps measured 0.06-0.6% here; 3% fails a product left in
  // float32 everywhere (difference 0) or rounded wrong (differences of order 1).
  const auto within = [](const Tensor& a, const Tensor& b) {
    const double d = relative_difference(a, b);
    INFO("relative difference " << d);
    CHECK(d > 0.0);   // bfloat16 really ran
    CHECK(d < 0.03);  // and nothing worse than its rounding
  };
  within(rounded.output, exact.output);
  within(rounded.h_n, exact.h_n);
  within(rounded.c_n, exact.c_n);
  REQUIRE(rounded.grads.size() == exact.grads.size());
  for (std::size_t i = 0; i < exact.grads.size(); ++i) {
    INFO("gradient " << i);
    within(rounded.grads[i], exact.grads[i]);
  }
}

TEST_CASE("fused and composed LSTMs agree under bfloat16", "[matmul_precision]") {
  // Both round the same operands (x, h_{t-1}, the weights); they differ only in float32 summation
  // order, and where that moves an h across a bfloat16 rounding boundary. Measured: below 3e-7.
  // One product left in float32 on either side would differ by bfloat16's error, ~1e-3.
  const auto run = [](bool fused) {
    Generator gen(5);
    nn::LSTM lstm({.input_size = 8, .hidden_size = 16, .num_layers = 1}, gen);
    lstm.set_fused(fused);
    const Tensor x = Tensor::normal({7, 3, 8}, 0.0f, 1.0f, gen).requires_grad_(true);
    const MatmulPrecisionGuard guard(MatmulPrecision::bfloat16);
    const nn::LSTMOutput out = lstm.forward(x);
    sum(out.output * out.output).backward();
    std::vector<Tensor> result{out.output, x.grad()};
    for (const Tensor& p : lstm.parameters()) result.push_back(p.grad());
    return result;
  };
  const std::vector<Tensor> fused = run(true), composed = run(false);
  for (std::size_t i = 0; i < fused.size(); ++i) {
    INFO("tensor " << i);
    CHECK(relative_difference(fused[i], composed[i]) < 1e-4);
  }
}
