// Fused GRU gates: fast kernels against the scalar references on awkward B x H, the reference
// forward against double precision, both backwards against finite differences of the forward,
// saturation at +-50/+-100, and thread-count independence of the parallel split.
#include <catch2/catch.hpp>
#include <tbb/task_arena.h>

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "ops/kernels/gru_gates.h"
#include "pointwise_test_util.h"
#include "thread_test_util.h"

namespace {

using tapegrad::Generator;
using tapegrad::testing::random_floats;
using Floats = std::vector<float>;
using Forward = void (*)(float*, float*, float*, const float*, const float*, const float*,
                         std::int64_t, std::int64_t);
using Backward = void (*)(float*, float*, float*, const float*, const float*, const float*,
                          const float*, std::int64_t, std::int64_t);

constexpr Forward kFastForward = tapegrad::kernels::gru_gates_forward;
constexpr Forward kReferenceForward = tapegrad::kernels::gru_gates_forward_reference;
constexpr Backward kFastBackward = tapegrad::kernels::gru_gates_backward;
constexpr Backward kReferenceBackward = tapegrad::kernels::gru_gates_backward_reference;

const float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Inputs {
  Floats gates_x, gates_h, h_prev;
};
struct ForwardOut {
  Floats h, act, hn;
};
struct BackwardOut {
  Floats grad_x, grad_h, grad_h_prev;
};

Inputs random_inputs(std::int64_t B, std::int64_t H, float gate_range, Generator& gen,
                     bool grid = false) {
  return {random_floats(3 * B * H, -gate_range, gate_range, gen, grid),
          random_floats(3 * B * H, -gate_range, gate_range, gen, grid),
          random_floats(B * H, -1.0f, 1.0f, gen, grid)};
}

// Outputs start as NaN, so an element a kernel forgets to write cannot pass as close.
ForwardOut forward(Forward kernel, const Inputs& in, std::int64_t B, std::int64_t H) {
  const auto n = static_cast<std::size_t>(B * H);
  ForwardOut out{Floats(n, kNaN), Floats(3 * n, kNaN), Floats(n, kNaN)};
  kernel(out.h.data(), out.act.data(), out.hn.data(), in.gates_x.data(), in.gates_h.data(),
         in.h_prev.data(), B, H);
  return out;
}

BackwardOut backward(Backward kernel, const Floats& grad_h, const ForwardOut& saved,
                     const Inputs& in, bool want_grad_h_prev, std::int64_t B, std::int64_t H) {
  const auto n = static_cast<std::size_t>(B * H);
  BackwardOut out{Floats(3 * n, kNaN), Floats(3 * n, kNaN),
                  want_grad_h_prev ? Floats(n, kNaN) : Floats()};
  kernel(out.grad_x.data(), out.grad_h.data(),
         want_grad_h_prev ? out.grad_h_prev.data() : nullptr, grad_h.data(), saved.act.data(),
         saved.hn.data(), in.h_prev.data(), B, H);
  return out;
}

}  // namespace

TEST_CASE("fast GRU gates match the reference on awkward sizes", "[kernels][gru_gates]") {
  // 300 x 256 is above the parallel cut-off, so the TBB split is compared too.
  const auto [B, H] = GENERATE(std::pair<std::int64_t, std::int64_t>{1, 1}, std::pair{3, 17},
                               std::pair{5, 100}, std::pair{64, 128}, std::pair{0, 7},
                               std::pair{300, 256});
  INFO("B=" << B << " H=" << H);
  Generator gen(static_cast<std::uint64_t>(B * 1000 + H));
  const Inputs in = random_inputs(B, H, 4.0f, gen);
  const ForwardOut fast = forward(kFastForward, in, B, H);
  const ForwardOut ref = forward(kReferenceForward, in, B, H);
  // n = tanh(xn + r hn) with |xn|, |r hn| up to 4 can cancel to a small value: the fused
  // multiply-add and the rounded product differ by about an ulp of 4 there, hence the atol.
  REQUIRE_FLOATS_CLOSE(fast.act, ref.act, 1e-6, 1e-6);
  REQUIRE(fast.hn == ref.hn);
  REQUIRE_FLOATS_CLOSE(fast.h, ref.h, 1e-6, 1e-6);

  const Floats grad_h = random_floats(B * H, -1.0f, 1.0f, gen);
  const BackwardOut f = backward(kFastBackward, grad_h, ref, in, true, B, H);
  const BackwardOut r = backward(kReferenceBackward, grad_h, ref, in, true, B, H);
  REQUIRE_FLOATS_CLOSE(f.grad_x, r.grad_x, 1e-6, 1e-6);
  REQUIRE_FLOATS_CLOSE(f.grad_h, r.grad_h, 1e-6, 1e-6);
  REQUIRE_FLOATS_CLOSE(f.grad_h_prev, r.grad_h_prev, 1e-6, 1e-6);
  // without grad_h_prev the gate grads are unchanged (and nothing is written through null)
  const BackwardOut f_no_prev = backward(kFastBackward, grad_h, ref, in, false, B, H);
  REQUIRE(f_no_prev.grad_x == f.grad_x);
  REQUIRE(f_no_prev.grad_h == f.grad_h);
  REQUIRE(backward(kReferenceBackward, grad_h, ref, in, false, B, H).grad_h == r.grad_h);
}

TEST_CASE("reference GRU gates forward matches the formula in double", "[kernels][gru_gates]") {
  const std::int64_t B = 3, H = 17;
  Generator gen(5);
  const Inputs in = random_inputs(B, H, 4.0f, gen);
  const ForwardOut out = forward(kReferenceForward, in, B, H);
  Floats h(B * H), hn(B * H);
  const auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t j = 0; j < H; ++j) {
      const float* x = in.gates_x.data() + b * 3 * H + j;
      const float* hh = in.gates_h.data() + b * 3 * H + j;
      const double r = sigmoid(double{x[0]} + hh[0]);
      const double z = sigmoid(double{x[H]} + hh[H]);
      const double n = std::tanh(x[2 * H] + r * hh[2 * H]);
      h[b * H + j] = static_cast<float>((1.0 - z) * n + z * in.h_prev[b * H + j]);
      hn[b * H + j] = hh[2 * H];
    }
  }
  REQUIRE_FLOATS_CLOSE(out.h, h, 1e-5, 1e-6);
  REQUIRE(out.hn == hn);
}

TEST_CASE("GRU gates backward matches finite differences of the forward",
          "[kernels][gru_gates]") {
  const auto sizes = GENERATE(std::pair<std::int64_t, std::int64_t>{2, 3}, std::pair{3, 17});
  const std::int64_t B = sizes.first, H = sizes.second;  // the loss lambda captures these
  const bool fast = GENERATE(false, true);
  INFO((fast ? "fast" : "reference") << " B=" << B << " H=" << H);
  const Forward forward_kernel = fast ? kFastForward : kReferenceForward;
  const Backward backward_kernel = fast ? kFastBackward : kReferenceBackward;
  Generator gen(static_cast<std::uint64_t>(31 * B + H));
  Inputs in = random_inputs(B, H, 2.0f, gen, /*grid=*/true);
  const Floats w = random_floats(B * H, -1.0f, 1.0f, gen);
  const ForwardOut saved = forward(forward_kernel, in, B, H);
  const auto loss = [&] {
    const ForwardOut out = forward(forward_kernel, in, B, H);
    double total = 0.0;
    for (std::size_t i = 0; i < out.h.size(); ++i) total += double{w[i]} * out.h[i];
    return total;
  };
  const BackwardOut grads = backward(backward_kernel, w, saved, in, true, B, H);
  const auto check = [&](Floats& input, const Floats& analytic, const char* name) {
    Floats numeric(input.size());
    for (std::size_t k = 0; k < input.size(); ++k) {
      numeric[k] = static_cast<float>(tapegrad::testing::central_difference(input, k, loss));
    }
    INFO("d L / d " << name << ": analytic vs numeric");
    REQUIRE_FLOATS_CLOSE(analytic, numeric, 1e-3, 2e-4);
  };
  check(in.gates_x, grads.grad_x, "gates_x");
  check(in.gates_h, grads.grad_h, "gates_h");
  check(in.h_prev, grads.grad_h_prev, "h_prev");
}

TEST_CASE("GRU gates stay finite and exact at +-50 and +-100", "[kernels][gru_gates]") {
  const std::int64_t B = 2, H = 35;  // 35 = 2 * 16 + 3: batches and tail
  const Floats extremes = {50.0f, -50.0f, 100.0f, -100.0f, 0.0f};
  Inputs in{Floats(3 * B * H), Floats(3 * B * H), Floats(B * H)};
  for (std::size_t k = 0; k < in.gates_x.size(); ++k) {
    in.gates_x[k] = extremes[(k * 7 + k / 5) % 5];
    in.gates_h[k] = extremes[(k * 3) % 5] * 0.5f;  // sums reach +-150
  }
  for (std::size_t k = 0; k < in.h_prev.size(); ++k) in.h_prev[k] = (k % 3 == 0) ? 1.0f : -0.5f;
  const Floats ones(B * H, 1.0f);
  for (const bool fast : {false, true}) {
    INFO((fast ? "fast" : "reference"));
    const ForwardOut out = forward(fast ? kFastForward : kReferenceForward, in, B, H);
    for (std::size_t k = 0; k < out.act.size(); ++k) {
      REQUIRE(std::isfinite(out.act[k]));
      REQUIRE(std::abs(out.act[k]) <= 1.0f);
      const bool is_n = (k / H) % 3 == 2;
      if (!is_n && in.gates_x[k] + in.gates_h[k] >= 50.0f) REQUIRE(out.act[k] == 1.0f);
    }
    for (float x : out.h) REQUIRE(std::isfinite(x));
    const BackwardOut grads =
        backward(fast ? kFastBackward : kReferenceBackward, ones, out, in, true, B, H);
    for (const Floats* v : {&grads.grad_x, &grads.grad_h, &grads.grad_h_prev}) {
      for (float g : *v) REQUIRE(std::isfinite(g));
    }
  }
}

TEST_CASE("fast GRU gates give the same bits on one thread and on two",
          "[kernels][gru_gates][two_threads]") {
  const std::int64_t B = 300, H = 256;  // above the parallel cut-off
  Generator gen(77);
  const Inputs in = random_inputs(B, H, 4.0f, gen);
  const Floats grad_h = random_floats(B * H, -1.0f, 1.0f, gen);
  const auto run = [&] {
    std::pair<ForwardOut, BackwardOut> result;
    result.first = forward(kFastForward, in, B, H);
    result.second = backward(kFastBackward, grad_h, result.first, in, true, B, H);
    return result;
  };
  std::pair<ForwardOut, BackwardOut> serial, parallel;
  tbb::task_arena(1).execute([&] { serial = run(); });
  if (!tapegrad::testing::run_on_two_threads([&] { parallel = run(); })) return;
  REQUIRE(serial.first.h == parallel.first.h);
  REQUIRE(serial.first.act == parallel.first.act);
  REQUIRE(serial.second.grad_x == parallel.second.grad_x);
  REQUIRE(serial.second.grad_h == parallel.second.grad_h);
  REQUIRE(serial.second.grad_h_prev == parallel.second.grad_h_prev);
}
