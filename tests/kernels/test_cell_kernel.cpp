// Kernels derived from a cell's math (ops/kernels/cell_kernel.h) against the hand-written LSTM,
// GRU and RNN kernels, forward and backward, on awkward B x H (SIMD tails), at +-50, and with
// more rows than the parallel cut-off; the row-wise (row_norm) kernels against the same step in
// double and, for a cell written to reach every path of the phase planner, against the cell
// composed from generic ops and finite differences. This file instantiates a kernel itself, so
// it is built with the library's SIMD flags (tests/CMakeLists.txt).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/kernels/cell_kernel.h"
#include "ops/kernels/elementwise.h"
#include "ops/kernels/gru_gates.h"
#include "ops/kernels/lstm_gates.h"
#include "ops/recurrent_cell.h"
#include "ops/recurrent_reference.h"
#include "ops/recurrent_test_util.h"
#include "pointwise_test_util.h"
#include "test_util.h"

namespace {

using tapegrad::CellKernel;
using tapegrad::Generator;
using tapegrad::derived_cell;
using tapegrad::testing::first_mismatch;
using tapegrad::testing::random_floats;
using Floats = std::vector<float>;

const float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kRtol = 1e-5, kAtol = 1e-6;

struct Sizes {
  std::int64_t B, H;
};
const Sizes kSizes[] = {{1, 1}, {3, 17}, {2, 33}, {5, 100}, {4, 128}, {700, 100}};

// Saved values, in the driver's layout: kept blocks 0..gates-1 in place in pre, the rest extra.
struct Derived {
  Floats pre, extra, h, c;
};

Derived derived_forward(const CellKernel& cell, const Floats& pre, const Floats& pre_h,
                        const Floats& h_prev, const Floats& c_prev, std::int64_t B,
                        std::int64_t H) {
  const auto n = static_cast<std::size_t>(B * H);
  const auto extra = static_cast<std::size_t>(std::max<std::int64_t>(0, cell.kept - cell.gates));
  Derived out{pre, Floats(extra * n, kNaN), Floats(n, kNaN), Floats(cell.cell_state ? n : 0, kNaN)};
  cell.forward({out.pre.data(), pre_h.empty() ? nullptr : pre_h.data(), h_prev.data(),
                c_prev.empty() ? nullptr : c_prev.data(), nullptr, out.h.data(),
                out.c.empty() ? nullptr : out.c.data(), extra ? out.extra.data() : nullptr, B, H});
  return out;
}

}  // namespace

TEST_CASE("derived LSTM kernel equals the hand-written one", "[cell_kernel]") {
  const CellKernel& cell = derived_cell("lstm");
  REQUIRE(cell.gates == 4);
  REQUIRE(cell.kept == 5);  // i, f, g, o, tanh(c): what lstm_gates saves, no more
  REQUIRE(cell.cell_state);
  REQUIRE_FALSE(cell.reads_h_prev);
  Generator gen(7);
  for (const Sizes& s : kSizes) {
    const std::int64_t B = s.B, H = s.H;
    INFO("B " << B << " H " << H);
    const auto n = static_cast<std::size_t>(B * H);
    Floats pre = random_floats(4 * B * H, -3, 3, gen);
    pre[0] = 50.0f;
    pre[n > 1 ? 1 : 0] = -50.0f;
    const Floats c_prev = random_floats(B * H, -2, 2, gen);
    const Floats h_prev(n, 0.0f);
    Floats h(n), c(n), act(4 * n), tanh_c(n);
    tapegrad::kernels::lstm_gates_forward(h.data(), c.data(), act.data(), tanh_c.data(),
                                          pre.data(), c_prev.data(), B, H);
    const Derived d = derived_forward(cell, pre, {}, h_prev, c_prev, B, H);
    CHECK(first_mismatch(d.h, h, kRtol, kAtol) == "");
    CHECK(first_mismatch(d.c, c, kRtol, kAtol) == "");
    CHECK(first_mismatch(d.pre, act, kRtol, kAtol) == "");
    CHECK(first_mismatch(d.extra, tanh_c, kRtol, kAtol) == "");

    const Floats grad_h = random_floats(B * H, -1, 1, gen);
    const Floats grad_c = random_floats(B * H, -1, 1, gen);
    for (const bool with_grad_c : {true, false}) {
      Floats grad_pre(4 * n), grad_c_prev(n);
      tapegrad::kernels::lstm_gates_backward(grad_pre.data(), grad_c_prev.data(), grad_h.data(),
                                             with_grad_c ? grad_c.data() : nullptr, act.data(),
                                             tanh_c.data(), c_prev.data(), B, H);
      Floats derived_grad_pre(4 * n, kNaN), derived_grad_c_prev(n, kNaN);
      cell.backward({derived_grad_pre.data(), nullptr, nullptr, derived_grad_c_prev.data(),
                     nullptr, grad_h.data(), with_grad_c ? grad_c.data() : nullptr, d.pre.data(),
                     d.extra.data(), h_prev.data(), c_prev.data(), nullptr, B, H});
      CHECK(first_mismatch(derived_grad_pre, grad_pre, kRtol, kAtol) == "");
      CHECK(first_mismatch(derived_grad_c_prev, grad_c_prev, kRtol, kAtol) == "");
    }
  }
}

TEST_CASE("derived GRU kernel equals the hand-written one", "[cell_kernel]") {
  const CellKernel& cell = derived_cell("gru");
  REQUIRE(cell.gates == 3);
  REQUIRE(cell.kept == 4);  // r, z, n and hn: what gru_gates saves
  REQUIRE(cell.split_recurrent);
  REQUIRE(cell.reads_h_prev);
  Generator gen(8);
  for (const Sizes& s : kSizes) {
    const std::int64_t B = s.B, H = s.H;
    INFO("B " << B << " H " << H);
    const auto n = static_cast<std::size_t>(B * H);
    Floats pre = random_floats(3 * B * H, -3, 3, gen);
    pre[0] = 50.0f;
    const Floats pre_h = random_floats(3 * B * H, -3, 3, gen);
    const Floats h_prev = random_floats(B * H, -1, 1, gen);
    Floats h(n), act(3 * n), hn(n);
    tapegrad::kernels::gru_gates_forward(h.data(), act.data(), hn.data(), pre.data(),
                                         pre_h.data(), h_prev.data(), B, H);
    const Derived d = derived_forward(cell, pre, pre_h, h_prev, {}, B, H);
    CHECK(first_mismatch(d.h, h, kRtol, kAtol) == "");
    CHECK(first_mismatch(d.pre, act, kRtol, kAtol) == "");
    CHECK(first_mismatch(d.extra, hn, kRtol, kAtol) == "");

    const Floats grad_h = random_floats(B * H, -1, 1, gen);
    Floats grad_x(3 * n), grad_hh(3 * n), grad_h_prev(n);
    tapegrad::kernels::gru_gates_backward(grad_x.data(), grad_hh.data(), grad_h_prev.data(),
                                          grad_h.data(), act.data(), hn.data(), h_prev.data(), B,
                                          H);
    Floats derived_grad_x(3 * n, kNaN), derived_grad_hh(3 * n, kNaN), derived_grad_h_prev(n, kNaN);
    cell.backward({derived_grad_x.data(), derived_grad_hh.data(), derived_grad_h_prev.data(),
                   nullptr, nullptr, grad_h.data(), nullptr, d.pre.data(), d.extra.data(),
                   h_prev.data(), nullptr, nullptr, B, H});
    CHECK(first_mismatch(derived_grad_x, grad_x, kRtol, kAtol) == "");
    CHECK(first_mismatch(derived_grad_hh, grad_hh, kRtol, kAtol) == "");
    CHECK(first_mismatch(derived_grad_h_prev, grad_h_prev, kRtol, kAtol) == "");
  }
}

TEST_CASE("derived RNN kernels: tanh and relu from their saved outputs", "[cell_kernel]") {
  Generator gen(9);
  for (const char* name : {"rnn_tanh", "rnn_relu"}) {
    const CellKernel& cell = derived_cell(name);
    REQUIRE(cell.kept == 1);
    const bool relu = std::string(name) == "rnn_relu";
    for (const Sizes& s : kSizes) {
      const std::int64_t B = s.B, H = s.H;
      INFO(name << " B " << B << " H " << H);
      const auto n = static_cast<std::size_t>(B * H);
      Floats pre = random_floats(B * H, -3, 3, gen);
      pre[0] = -50.0f;
      Floats expected(n);
      if (relu) {
        for (std::size_t i = 0; i < n; ++i) expected[i] = std::max(pre[i], 0.0f);
      } else {
        tapegrad::kernels::tanh_forward(expected.data(), pre.data(), B * H);
      }
      const Derived d = derived_forward(cell, pre, {}, Floats(n, 0.0f), {}, B, H);
      CHECK(first_mismatch(d.h, expected, kRtol, kAtol) == "");
      CHECK(first_mismatch(d.pre, expected, kRtol, kAtol) == "");
      const Floats grad_h = random_floats(B * H, -1, 1, gen);
      Floats expected_grad(n), grad(n, kNaN);
      for (std::size_t i = 0; i < n; ++i) {
        expected_grad[i] = relu ? (expected[i] > 0.0f ? grad_h[i] : 0.0f)
                                : grad_h[i] * (1.0f - expected[i] * expected[i]);
      }
      cell.backward({grad.data(), nullptr, nullptr, nullptr, nullptr, grad_h.data(), nullptr,
                     d.pre.data(), nullptr, nullptr, nullptr, nullptr, B, H});
      CHECK(first_mismatch(grad, expected_grad, kRtol, kAtol) == "");
    }
  }
}

// ---- row-wise steps (row_norm): the layer-normalised LSTM's kernel against the same step in
// double, written out by hand here, forward and backward ----

namespace {

struct LayerNormStep {
  Floats h, c, mean, rstd;                   // forward
  Floats grad_pre, grad_c_prev, grad_params;  // backward: [B, 4H], [B, H], [B, 2H] per row
};

// i, f, g, o = s(a0), s(a1), tanh(a2), s(a3); c = f c_prev + i g; y = (c - mean) rstd over the
// row; h = o tanh(gain y + bias). Backward from grad_h and grad_c.
LayerNormStep layer_norm_lstm_step(const Floats& pre, const Floats& c_prev, const Floats& params,
                                   const Floats& grad_h, const Floats& grad_c, std::int64_t B,
                                   std::int64_t H) {
  const auto n = static_cast<std::size_t>(B * H);
  LayerNormStep out{Floats(n), Floats(n), Floats(static_cast<std::size_t>(B)),
                    Floats(static_cast<std::size_t>(B)), Floats(4 * n), Floats(n), Floats(2 * n)};
  const auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  for (std::int64_t b = 0; b < B; ++b) {
    const auto U = static_cast<std::size_t>(H);
    std::vector<double> i(U), f(U), g(U), o(U), c(U), y(U), t(U);
    double mean = 0, var = 0;
    for (std::size_t j = 0; j < U; ++j) {
      const auto at = [&](std::size_t k) { return static_cast<double>(pre[(static_cast<std::size_t>(b) * 4 + k) * U + j]); };
      i[j] = sigmoid(at(0));
      f[j] = sigmoid(at(1));
      g[j] = std::tanh(at(2));
      o[j] = sigmoid(at(3));
      c[j] = f[j] * c_prev[static_cast<std::size_t>(b) * U + j] + i[j] * g[j];
      mean += c[j] / static_cast<double>(H);
    }
    for (std::size_t j = 0; j < U; ++j) var += (c[j] - mean) * (c[j] - mean) / static_cast<double>(H);
    const double rstd = 1.0 / std::sqrt(var + 1e-5);
    out.mean[static_cast<std::size_t>(b)] = static_cast<float>(mean);
    out.rstd[static_cast<std::size_t>(b)] = static_cast<float>(rstd);
    std::vector<double> dy(U);
    double mean_dy = 0, mean_dy_y = 0;
    for (std::size_t j = 0; j < U; ++j) {
      const std::size_t at = static_cast<std::size_t>(b) * U + j;
      y[j] = (c[j] - mean) * rstd;
      t[j] = std::tanh(params[j] * y[j] + params[U + j]);
      out.h[at] = static_cast<float>(o[j] * t[j]);
      out.c[at] = static_cast<float>(c[j]);
      const double dz = grad_h[at] * o[j] * (1 - t[j] * t[j]);
      out.grad_params[static_cast<std::size_t>(b) * 2 * U + j] = static_cast<float>(dz * y[j]);
      out.grad_params[static_cast<std::size_t>(b) * 2 * U + U + j] = static_cast<float>(dz);
      dy[j] = dz * params[j];
      mean_dy += dy[j] / static_cast<double>(H);
      mean_dy_y += dy[j] * y[j] / static_cast<double>(H);
    }
    for (std::size_t j = 0; j < U; ++j) {
      const std::size_t at = static_cast<std::size_t>(b) * U + j;
      const double dc = grad_c[at] + rstd * (dy[j] - mean_dy - y[j] * mean_dy_y);
      const double d_o = grad_h[at] * t[j];
      const double di = dc * g[j], df = dc * c_prev[at], dg = dc * i[j];
      float* row = out.grad_pre.data() + static_cast<std::size_t>(b) * 4 * U;
      row[j] = static_cast<float>(di * i[j] * (1 - i[j]));
      row[U + j] = static_cast<float>(df * f[j] * (1 - f[j]));
      row[2 * U + j] = static_cast<float>(dg * (1 - g[j] * g[j]));
      row[3 * U + j] = static_cast<float>(d_o * o[j] * (1 - o[j]));
      out.grad_c_prev[at] = static_cast<float>(dc * f[j]);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("derived layer-normalised LSTM kernel: two phases against the step in double",
          "[cell_kernel]") {
  const CellKernel& cell = derived_cell("ln_lstm");
  REQUIRE(cell.gates == 4);
  REQUIRE(cell.kept == 6);       // i, f, g, o, tanh(LN(c)), and c: the normalised operand
  REQUIRE(cell.row_stats == 2);  // mean and rstd of c's row
  REQUIRE(cell.norm_ih);
  REQUIRE(cell.norm_hh);
  REQUIRE_FALSE(cell.reads_h_prev);
  Generator gen(10);
  for (const Sizes& s : kSizes) {
    const std::int64_t B = s.B, H = s.H;
    INFO("B " << B << " H " << H);
    const auto n = static_cast<std::size_t>(B * H);
    Floats pre = random_floats(4 * B * H, -3, 3, gen);
    pre[0] = 50.0f;
    pre[n > 1 ? 1 : 0] = -50.0f;
    const Floats c_prev = random_floats(B * H, -2, 2, gen);
    Floats params = random_floats(H, 0.5f, 1.5f, gen);  // gain, then bias
    const Floats bias = random_floats(H, -0.3f, 0.3f, gen);
    params.insert(params.end(), bias.begin(), bias.end());
    const Floats grad_h = random_floats(B * H, -1, 1, gen);
    const Floats grad_c = random_floats(B * H, -1, 1, gen);
    const LayerNormStep expected = layer_norm_lstm_step(pre, c_prev, params, grad_h, grad_c, B, H);

    Floats kept = pre, extra(2 * n, kNaN), h(n, kNaN), c(n, kNaN), stats(2 * static_cast<std::size_t>(B), kNaN);
    const Floats h_prev(n, 0.0f);
    cell.forward({kept.data(), nullptr, h_prev.data(), c_prev.data(), params.data(), h.data(),
                  c.data(), extra.data(), B, H, stats.data()});
    // H = 1: the row is constant, so y = 0 and h = o tanh(bias): finite, as torch's LayerNorm
    constexpr double rtol = 1e-4, atol = 1e-5;
    CHECK(first_mismatch(h, expected.h, rtol, atol) == "");
    CHECK(first_mismatch(c, expected.c, rtol, atol) == "");
    Floats means, rstds;
    for (std::int64_t b = 0; b < B; ++b) {
      means.push_back(stats[static_cast<std::size_t>(2 * b)]);
      rstds.push_back(stats[static_cast<std::size_t>(2 * b + 1)]);
    }
    CHECK(first_mismatch(means, expected.mean, rtol, atol) == "");
    CHECK(first_mismatch(rstds, expected.rstd, rtol, atol) == "");

    Floats grad_pre(4 * n, kNaN), grad_c_prev(n, kNaN), grad_params(2 * n, kNaN);
    cell.backward({grad_pre.data(), nullptr, nullptr, grad_c_prev.data(), grad_params.data(),
                   grad_h.data(), grad_c.data(), kept.data(), extra.data(), h_prev.data(),
                   c_prev.data(), params.data(), B, H, stats.data()});
    // rstd (up to 316 for a constant row) scales c's gradient: a looser absolute tolerance
    CHECK(first_mismatch(grad_pre, expected.grad_pre, 1e-3, 1e-4) == "");
    CHECK(first_mismatch(grad_c_prev, expected.grad_c_prev, 1e-3, 1e-4) == "");
    CHECK(first_mismatch(grad_params, expected.grad_params, 1e-3, 1e-4) == "");
  }
}

// ---- the phase planner on a cell written to reach all of its paths ----

namespace {

// No one would train this cell. Its math exercises every path of the planner: a gate input read
// after a row_norm (phase 0 overwrites the gate rows in place, so it must be kept), a row_norm
// of a row_norm (three phases), c_prev read in phases 0 and 2 (its gradient summed across
// them), a phase-0 value read in phase 2 (its adjoint crossing phase 1 through scratch), a
// row_norm of an input, and h_prev read by the cell itself.
namespace cell = tapegrad::cell;

struct PhaseTestCell {
  static constexpr cell::Spec spec{.name = "phase_test",
                                   .gates = 2,
                                   .cell_state = true,
                                   .params = 1,
                                   .param_names = {"weight_test"}};
  template <class V>
  static constexpr cell::Out<V> step(const cell::In<V>& in) {
    const V a = tanh(in.gate[0]);
    const V s = sigmoid(in.gate[1]);
    const V first = row_norm(a + in.c_prev);
    const V second = row_norm(first * in.gate[1] + in.param[0]);
    const V c = second * in.c_prev * 0.5f + s * a;
    return {.h = tanh(c) + 0.5f * row_norm(in.h_prev), .c = c};
  }
};

}  // namespace

TEST_CASE("row-wise phases: a three-phase cell, fused against composed and finite differences",
          "[cell_kernel]") {
  using Planned = tapegrad::kernels::cell_detail::Derived<PhaseTestCell>;
  STATIC_REQUIRE(Planned::p.phases == 3);
  STATIC_REQUIRE(Planned::p.norms == 3);
  const CellKernel& kernel = tapegrad::kernels::derived_cell_kernel<PhaseTestCell>();
  REQUIRE(kernel.reads_h_prev);
  REQUIRE(kernel.row_stats == 6);
  const std::int64_t T = 3, B = 2, I = 2, H = 4;
  Generator gen(41);
  for (const bool reverse : {false, true}) {
    const std::vector<std::int64_t> lengths = reverse ? std::vector<std::int64_t>{2, 3}
                                                      : std::vector<std::int64_t>{3, 1};
    INFO("reverse " << reverse);
    const auto uniform = [&](const tapegrad::Shape& shape) {
      return tapegrad::Tensor::uniform(shape, -1, 1, gen, true);
    };
    const std::vector<tapegrad::Tensor> inputs{uniform({T, B, I}), uniform({B, H}), uniform({B, H}),
                                               uniform({2 * H, I}),  uniform({2 * H, H}),
                                               uniform({2 * H}),     uniform({2 * H}),
                                               uniform({H})};
    const auto weights = [](const std::vector<tapegrad::Tensor>& in) {
      return tapegrad::RecurrentWeights{in[3], in[4], in[5], in[6], tapegrad::Tensor(), {in[7]}};
    };
    const auto fused = [&](const std::vector<tapegrad::Tensor>& in) {
      return tapegrad::testing::flatten_result(
          tapegrad::recurrent_layer("test", kernel, in[0], in[1], in[2], weights(in), lengths, reverse));
    };
    REQUIRE_GRADCHECK(fused, inputs, tapegrad::testing::recurrent_tolerances());
    const auto gradients = [&](bool use_fused) {
      std::vector<tapegrad::Tensor> in;
      for (const tapegrad::Tensor& t : inputs) in.push_back(t.detach().clone().requires_grad_(true));
      const tapegrad::Tensor flat =
          use_fused ? fused(in)
                    : tapegrad::testing::flatten_result(tapegrad::composed_cell_layer<PhaseTestCell>(
                          in[0], in[1], in[2], weights(in), lengths, reverse));
      Generator projection(7);
      tapegrad::sum(tapegrad::mul(flat, tapegrad::Tensor::uniform(flat.shape(), -1, 1, projection))).backward();
      std::vector<tapegrad::Tensor> out{flat};
      for (const tapegrad::Tensor& t : in) out.push_back(t.grad());
      return out;
    };
    const std::vector<tapegrad::Tensor> a = gradients(true), b = gradients(false);
    for (std::size_t k = 0; k < a.size(); ++k) {
      INFO("value " << k << " (0: outputs, then the gradient of input k-1)");
      REQUIRE_ALL_CLOSE(a[k], b[k], 1e-4, 1e-5);
    }
  }
}
