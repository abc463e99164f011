// Fused LSTM gates: fast kernels against the scalar references on awkward B x H, the reference
// forward against double precision, both backwards against finite differences of the forward,
// saturation at +-50/+-100, and thread-count independence of the parallel split.
#include <catch2/catch.hpp>
#include <tbb/task_arena.h>

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "ops/kernels/lstm_gates.h"
#include "pointwise_test_util.h"
#include "thread_test_util.h"

namespace {

using tapegrad::Generator;
using tapegrad::testing::random_floats;
using Floats = std::vector<float>;
using Forward = void (*)(float*, float*, float*, float*, const float*, const float*, std::int64_t,
                         std::int64_t);
using Backward = void (*)(float*, float*, const float*, const float*, const float*, const float*,
                          const float*, std::int64_t, std::int64_t);

constexpr Forward kFastForward = tapegrad::kernels::lstm_gates_forward;
constexpr Forward kReferenceForward = tapegrad::kernels::lstm_gates_forward_reference;
constexpr Backward kFastBackward = tapegrad::kernels::lstm_gates_backward;
constexpr Backward kReferenceBackward = tapegrad::kernels::lstm_gates_backward_reference;

const float kNaN = std::numeric_limits<float>::quiet_NaN();

struct ForwardOut {
  Floats h, c, act, tanh_c;
};
struct BackwardOut {
  Floats grad_pre, grad_c_prev;
};

// Outputs start as NaN, so an element a kernel forgets to write cannot pass as close.
ForwardOut forward(Forward kernel, const Floats& pre, const Floats& c_prev, std::int64_t B,
                   std::int64_t H) {
  const auto n = static_cast<std::size_t>(B * H);
  ForwardOut out{Floats(n, kNaN), Floats(n, kNaN), Floats(4 * n, kNaN), Floats(n, kNaN)};
  kernel(out.h.data(), out.c.data(), out.act.data(), out.tanh_c.data(), pre.data(),
         c_prev.data(), B, H);
  return out;
}

BackwardOut backward(Backward kernel, const Floats* grad_h, const Floats* grad_c,
                     const ForwardOut& saved, const Floats& c_prev, bool want_grad_c_prev,
                     std::int64_t B, std::int64_t H) {
  const auto n = static_cast<std::size_t>(B * H);
  BackwardOut out{Floats(4 * n, kNaN), want_grad_c_prev ? Floats(n, kNaN) : Floats()};
  kernel(out.grad_pre.data(), want_grad_c_prev ? out.grad_c_prev.data() : nullptr,
         grad_h ? grad_h->data() : nullptr, grad_c ? grad_c->data() : nullptr, saved.act.data(),
         saved.tanh_c.data(), c_prev.data(), B, H);
  return out;
}

double dot(const Floats& weights, const Floats& values) {
  double total = 0.0;
  for (std::size_t i = 0; i < values.size(); ++i) total += double{weights[i]} * values[i];
  return total;
}

}  // namespace

TEST_CASE("fast LSTM gates match the reference on awkward sizes", "[kernels][lstm_gates]") {
  // 300 x 256 is above the parallel cut-off, so the TBB split is compared too.
  const auto [B, H] = GENERATE(std::pair<std::int64_t, std::int64_t>{1, 1}, std::pair{3, 17},
                               std::pair{5, 100}, std::pair{64, 128}, std::pair{0, 7},
                               std::pair{300, 256});
  INFO("B=" << B << " H=" << H);
  Generator gen(static_cast<std::uint64_t>(B * 1000 + H));
  const Floats pre = random_floats(4 * B * H, -6.0f, 6.0f, gen);
  const Floats c_prev = random_floats(B * H, -3.0f, 3.0f, gen);
  const ForwardOut fast = forward(kFastForward, pre, c_prev, B, H);
  const ForwardOut ref = forward(kReferenceForward, pre, c_prev, B, H);
  REQUIRE_FLOATS_CLOSE(fast.act, ref.act, 1e-6, 1e-7);
  REQUIRE_FLOATS_CLOSE(fast.c, ref.c, 1e-6, 1e-6);
  REQUIRE_FLOATS_CLOSE(fast.tanh_c, ref.tanh_c, 1e-6, 1e-6);
  REQUIRE_FLOATS_CLOSE(fast.h, ref.h, 1e-6, 1e-6);

  const Floats grad_h = random_floats(B * H, -1.0f, 1.0f, gen);
  const Floats grad_c = random_floats(B * H, -1.0f, 1.0f, gen);
  for (const Floats* gh : {&grad_h, static_cast<const Floats*>(nullptr)}) {
    for (const Floats* gc : {&grad_c, static_cast<const Floats*>(nullptr)}) {
      INFO("grad_h " << (gh ? "given" : "null") << ", grad_c " << (gc ? "given" : "null"));
      const BackwardOut f = backward(kFastBackward, gh, gc, ref, c_prev, true, B, H);
      const BackwardOut r = backward(kReferenceBackward, gh, gc, ref, c_prev, true, B, H);
      REQUIRE_FLOATS_CLOSE(f.grad_pre, r.grad_pre, 1e-6, 1e-6);
      REQUIRE_FLOATS_CLOSE(f.grad_c_prev, r.grad_c_prev, 1e-6, 1e-6);
      // without grad_c_prev the gate grads are unchanged (and nothing is written through null)
      REQUIRE(backward(kFastBackward, gh, gc, ref, c_prev, false, B, H).grad_pre == f.grad_pre);
      REQUIRE(backward(kReferenceBackward, gh, gc, ref, c_prev, false, B, H).grad_pre ==
              r.grad_pre);
    }
  }
}

TEST_CASE("LSTM gates forward may activate the pre-activations in place", "[kernels][lstm_gates]") {
  const auto [B, H] = GENERATE(std::pair<std::int64_t, std::int64_t>{3, 17}, std::pair{2, 100},
                               std::pair{300, 256});
  Generator gen(static_cast<std::uint64_t>(B + H));
  const Floats pre = random_floats(4 * B * H, -6.0f, 6.0f, gen);
  const Floats c_prev = random_floats(B * H, -3.0f, 3.0f, gen);
  for (Forward kernel : {kFastForward, kReferenceForward}) {
    const ForwardOut separate = forward(kernel, pre, c_prev, B, H);
    Floats in_place = pre;
    Floats h(static_cast<std::size_t>(B * H)), c(h.size()), tanh_c(h.size());
    kernel(h.data(), c.data(), in_place.data(), tanh_c.data(), in_place.data(), c_prev.data(), B, H);
    REQUIRE(in_place == separate.act);
    REQUIRE(h == separate.h);
    REQUIRE(c == separate.c);
  }
}

TEST_CASE("reference LSTM gates forward matches the formula in double", "[kernels][lstm_gates]") {
  const std::int64_t B = 3, H = 17;
  Generator gen(5);
  const Floats pre = random_floats(4 * B * H, -6.0f, 6.0f, gen);
  const Floats c_prev = random_floats(B * H, -3.0f, 3.0f, gen);
  const ForwardOut out = forward(kReferenceForward, pre, c_prev, B, H);
  Floats h(B * H), c(B * H);
  const auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t j = 0; j < H; ++j) {
      const float* p = pre.data() + b * 4 * H + j;
      const double c_new = sigmoid(p[H]) * c_prev[b * H + j] + sigmoid(p[0]) * std::tanh(p[2 * H]);
      c[b * H + j] = static_cast<float>(c_new);
      h[b * H + j] = static_cast<float>(sigmoid(p[3 * H]) * std::tanh(c_new));
    }
  }
  REQUIRE_FLOATS_CLOSE(out.c, c, 1e-5, 1e-6);
  REQUIRE_FLOATS_CLOSE(out.h, h, 1e-5, 1e-6);
}

TEST_CASE("LSTM gates backward matches finite differences of the forward",
          "[kernels][lstm_gates]") {
  const auto sizes = GENERATE(std::pair<std::int64_t, std::int64_t>{2, 3}, std::pair{3, 17});
  const std::int64_t B = sizes.first, H = sizes.second;  // the loss lambda captures these
  const bool fast = GENERATE(false, true);
  const Forward forward_kernel = fast ? kFastForward : kReferenceForward;
  const Backward backward_kernel = fast ? kFastBackward : kReferenceBackward;
  Generator gen(static_cast<std::uint64_t>(31 * B + H));
  Floats pre = random_floats(4 * B * H, -3.0f, 3.0f, gen, /*grid=*/true);
  Floats c_prev = random_floats(B * H, -2.0f, 2.0f, gen, /*grid=*/true);
  const Floats w_h = random_floats(B * H, -1.0f, 1.0f, gen);
  const Floats w_c = random_floats(B * H, -1.0f, 1.0f, gen);
  const ForwardOut saved = forward(forward_kernel, pre, c_prev, B, H);

  // L = w_h . h + w_c . c, and the two one-sided losses that null grad_h / grad_c stand for.
  const int which = GENERATE(0, 1, 2);
  const bool use_h = which != 2, use_c = which != 1;
  INFO((fast ? "fast" : "reference") << " B=" << B << " H=" << H << " loss uses"
                                     << (use_h ? " h" : "") << (use_c ? " c" : ""));
  const auto loss = [&] {
    const ForwardOut out = forward(forward_kernel, pre, c_prev, B, H);
    return (use_h ? dot(w_h, out.h) : 0.0) + (use_c ? dot(w_c, out.c) : 0.0);
  };
  const BackwardOut grads = backward(backward_kernel, use_h ? &w_h : nullptr,
                                     use_c ? &w_c : nullptr, saved, c_prev, true, B, H);
  const auto check = [&](Floats& input, const Floats& analytic, const char* name) {
    Floats numeric(input.size());
    for (std::size_t k = 0; k < input.size(); ++k) {
      numeric[k] = static_cast<float>(tapegrad::testing::central_difference(input, k, loss));
    }
    INFO("d L / d " << name << ": analytic vs numeric");
    REQUIRE_FLOATS_CLOSE(analytic, numeric, 1e-3, 2e-4);
  };
  check(pre, grads.grad_pre, "gates_pre");
  check(c_prev, grads.grad_c_prev, "c_prev");
}

TEST_CASE("LSTM gates stay finite and exact at +-50 and +-100", "[kernels][lstm_gates]") {
  const std::int64_t B = 2, H = 35;  // 35 = 2 * 16 + 3: batches and tail
  const Floats extremes = {50.0f, -50.0f, 100.0f, -100.0f, 0.0f};
  Floats pre(4 * B * H), c_prev(B * H);
  for (std::size_t k = 0; k < pre.size(); ++k) pre[k] = extremes[(k * 7 + k / 5) % 5];
  for (std::size_t k = 0; k < c_prev.size(); ++k) c_prev[k] = extremes[k % 5];
  const Floats ones(B * H, 1.0f);
  for (const bool fast : {false, true}) {
    INFO((fast ? "fast" : "reference"));
    const ForwardOut out = forward(fast ? kFastForward : kReferenceForward, pre, c_prev, B, H);
    for (std::size_t k = 0; k < pre.size(); ++k) {
      INFO("pre " << pre[k] << " act " << out.act[k]);
      REQUIRE(std::isfinite(out.act[k]));
      const bool is_g = (k / H) % 4 == 2;
      if (pre[k] >= 50.0f) REQUIRE(out.act[k] == 1.0f);
      if (pre[k] <= -50.0f) REQUIRE(out.act[k] == Approx(is_g ? -1.0f : 0.0f).margin(1e-20));
    }
    for (const Floats* v : {&out.h, &out.c, &out.tanh_c}) {
      for (float x : *v) REQUIRE(std::isfinite(x));
    }
    const BackwardOut grads = backward(fast ? kFastBackward : kReferenceBackward, &ones, &ones, out,
                                       c_prev, true, B, H);
    for (float g : grads.grad_pre) REQUIRE(std::isfinite(g));
    for (float g : grads.grad_c_prev) REQUIRE(std::isfinite(g));
  }
}

TEST_CASE("fast LSTM gates give the same bits on one thread and on two",
          "[kernels][lstm_gates][two_threads]") {
  const std::int64_t B = 300, H = 256;  // above the parallel cut-off
  Generator gen(77);
  const Floats pre = random_floats(4 * B * H, -6.0f, 6.0f, gen);
  const Floats c_prev = random_floats(B * H, -3.0f, 3.0f, gen);
  const Floats grad_h = random_floats(B * H, -1.0f, 1.0f, gen);
  const auto run = [&] {
    std::pair<ForwardOut, BackwardOut> result;
    result.first = forward(kFastForward, pre, c_prev, B, H);
    result.second = backward(kFastBackward, &grad_h, nullptr, result.first, c_prev, true, B, H);
    return result;
  };
  std::pair<ForwardOut, BackwardOut> serial, parallel;
  tbb::task_arena(1).execute([&] { serial = run(); });
  if (!tapegrad::testing::run_on_two_threads([&] { parallel = run(); })) return;
  REQUIRE(serial.first.h == parallel.first.h);
  REQUIRE(serial.first.c == parallel.first.c);
  REQUIRE(serial.first.act == parallel.first.act);
  REQUIRE(serial.second.grad_pre == parallel.second.grad_pre);
  REQUIRE(serial.second.grad_c_prev == parallel.second.grad_c_prev);
}
