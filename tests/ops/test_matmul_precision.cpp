// The matmul precision bfloat16 (autograd/grad_mode.h): the guard, which ops honour it, that their
// backward multiplies at the precision recorded in the forward, and that a recurrent layer under
// it stays within bfloat16's error of float32 in its outputs and every gradient, fused and
// composed alike. (Finite-difference gradchecks cannot see through rounding to bfloat16; the
// float32 gradchecks of these ops stand, and the kernel's tests check the products themselves.)
// The statistical LSTM checks cannot see one product of a layer left in float32; the exact
// ReLU RNN test can, for every product but the LSTM's projection (W_hr), which only an LSTM has.
#include <algorithm>
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

// Under bfloat16 a sum of products of 1 + 2^-10 (which is 1 in bfloat16) counts its terms
// exactly; in float32 it does not come out whole.
void require_counts(const Tensor& t, float count, bool bf16) {
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const float v = t.data()[i];
    if (bf16) {
      REQUIRE(v == count);
    } else {
      REQUIRE(v != std::round(v));
      REQUIRE(std::fabs(v - count) < count * 0x1p-8f);
    }
  }
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
    // Every product here has more than one row, more than 4 columns and a depth above 1, so it
    // runs in bfloat16 under the guard (kernels::bf16_pays).
    const Tensor x = filled({6, 7}, kOffGrid, true), w = filled({5, 7}, kOffGrid, true);
    const Tensor b = filled({7, 5}, kOffGrid, true);
    Tensor y, z;
    {
      const MatmulPrecisionGuard guard(bf16 ? MatmulPrecision::bfloat16 : MatmulPrecision::float32);
      y = linear(x, w, Tensor());
      z = matmul(x, b);
    }
    require_counts(y, 7.0f, bf16);
    require_counts(z, 7.0f, bf16);
    // Backward runs outside the guard, at the recorded precision: dx sums 5 rows of W and
    // 5 columns of B, dW and dB 6 rows of x.
    (sum(y) + sum(z)).backward();
    require_counts(x.grad(), 10.0f, bf16);
    require_counts(w.grad(), 6.0f, bf16);
    require_counts(b.grad(), 6.0f, bf16);
  }
}

TEST_CASE("thin products stay float32 under the guard, forward and backward alike",
          "[matmul_precision]") {
  // At most 4 rows (a small batch), columns (a small head) or depth (few input features):
  // bfloat16 would only lose digits. The backward's products trade M, N and K, and stay
  // float32 with their forward.
  struct Case {
    std::int64_t rows, in_features, out_features;
  };
  for (const Case c : {Case{1, 7, 5}, Case{4, 7, 5}, Case{6, 7, 4}, Case{6, 3, 5}}) {
    INFO(c.rows << " x " << c.in_features << " -> " << c.out_features);
    const Tensor x = filled({c.rows, c.in_features}, kOffGrid, true);
    const Tensor w = filled({c.out_features, c.in_features}, kOffGrid, true);
    Tensor y;
    {
      const MatmulPrecisionGuard guard(MatmulPrecision::bfloat16);
      y = linear(x, w, Tensor());
    }
    require_counts(y, float(c.in_features), false);
    sum(y).backward();
    require_counts(x.grad(), float(c.out_features), false);
    require_counts(w.grad(), float(c.rows), false);
  }
}

TEST_CASE("a batch-1 recurrent layer under bfloat16 gives float32's bits", "[matmul_precision]") {
  // One row per step product, T = 3 rows for the input product and the weight gradients: every
  // product is thin, so the guard changes nothing, fused or composed.
  const bool fused = GENERATE(true, false);
  INFO((fused ? "fused" : "composed"));
  const auto run = [&](MatmulPrecision precision) {
    Generator gen(9);
    nn::LSTM lstm({.input_size = 6, .hidden_size = 8}, gen);
    lstm.set_fused(fused);
    const Tensor x = Tensor::normal({3, 1, 6}, 0.0f, 1.0f, gen).requires_grad_(true);
    const MatmulPrecisionGuard guard(precision);
    const nn::LSTMOutput out = lstm.forward(x);
    sum(out.output * out.output).backward();
    std::vector<float> values = out.output.to_vector();
    for (const Tensor& t : {x.grad(), lstm.parameters()[0].grad(), lstm.parameters()[1].grad()}) {
      const std::vector<float> v = t.to_vector();
      values.insert(values.end(), v.begin(), v.end());
    }
    return values;
  };
  CHECK(run(MatmulPrecision::bfloat16) == run(MatmulPrecision::float32));
}

TEST_CASE("a ReLU RNN under bfloat16 rounds every product of its layer, fused and composed",
          "[matmul_precision]") {
  // With every weight, input and h0 1 + 2^-10 and no bias, a ReLU RNN is linear and all its values
  // stay positive: in bfloat16 every product counts terms exactly, so outputs and gradients are
  // whole numbers (h: 10, 55, 280; d pre: 1, 6, 31, all exact in bfloat16's 8 bits). A single
  // product of the forward, the step backward, the weight or the input gradients left in float32
  // makes a result fractional (checked by mutation: the step forward, the step backward, dx,
  // dW_ih each forced to float32 fail here; dW_hh reads h0, fractional in float32). B = 5: every
  // product has more than 4 rows, columns and depth (kernels::bf16_pays).
  const bool fused = GENERATE(true, false);
  INFO((fused ? "fused" : "composed"));
  Generator gen(1);
  nn::RecurrentBase rnn = nn::make_recurrent("rnn_relu", {.input_size = 5, .hidden_size = 5}, gen);
  rnn.set_fused(fused);
  {
    NoGradGuard no_grad;
    for (const auto& [name, parameter] : rnn.named_parameters()) {
      Tensor values = parameter;
      values.fill_(name.rfind("bias", 0) == 0 ? 0.0f : kOffGrid);
    }
  }
  for (const bool bf16 : {true, false}) {
    INFO((bf16 ? "bfloat16" : "float32"));
    rnn.zero_grad();
    const Tensor x = filled({3, 5, 5}, kOffGrid, true);  // T = 3, B = 5
    const Tensor h0 = filled({1, 5, 5}, kOffGrid);
    Tensor output;
    {
      const MatmulPrecisionGuard guard(bf16 ? MatmulPrecision::bfloat16 : MatmulPrecision::float32);
      output = rnn.forward(x, {h0, Tensor()}).output;
    }
    sum(output).backward();
    const auto whole = [&](const Tensor& t, const char* what) {
      INFO(what);
      bool all_whole = true;
      for (std::int64_t i = 0; i < t.numel(); ++i)
        all_whole = all_whole && t.data()[i] == std::round(t.data()[i]);
      CHECK(all_whole == bf16);
    };
    whole(output, "output");
    whole(x.grad(), "input gradient");
    // The bias gradients too: they sum d pre unrounded, so they are where a step backward
    // (d h_{t-1} = d pre W_hh) left in float32 shows; the products after it round its small
    // excess away again.
    for (const auto& [name, parameter] : rnn.named_parameters())
      whole(parameter.grad(), name.c_str());
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
  // Both round the same operands (x, h_{t-1}, the weights); they differ in float32 summation order,
  // and a last-bit difference that moves a value across a bfloat16 rounding boundary shows as
  // ~1e-3 in a gradient (measured up to 1.5e-3 across cells and options; this one 3e-7). A
  // bypassed product is not told apart at this level: the exact ReLU RNN test above does that.
  // B = 5: with B <= 4 a composed cell's step-by-step input products (B rows) stay float32 where
  // the fused layer's all-steps one (T * B rows) runs in bfloat16 (kernels::bf16_pays).
  const auto run = [](bool fused) {
    Generator gen(5);
    nn::LSTM lstm({.input_size = 8, .hidden_size = 16, .num_layers = 1}, gen);
    lstm.set_fused(fused);
    const Tensor x = Tensor::normal({7, 5, 8}, 0.0f, 1.0f, gen).requires_grad_(true);
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
    CHECK(relative_difference(fused[i], composed[i]) < 5e-3);
  }
}
