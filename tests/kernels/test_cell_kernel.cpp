// Kernels derived from a cell's math (ops/kernels/cell_kernel.h) against the hand-written LSTM,
// GRU and RNN kernels, forward and backward, on awkward B x H (SIMD tails), at +-50, and with
// more rows than the parallel cut-off.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/kernels/elementwise.h"
#include "ops/kernels/gru_gates.h"
#include "ops/kernels/lstm_gates.h"
#include "ops/recurrent_cell.h"
#include "pointwise_test_util.h"

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
