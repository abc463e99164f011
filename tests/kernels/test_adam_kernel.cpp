// The vectorised Adam update against its scalar twin: the same bits for every option combination
// and awkward sizes (tails of every length), NaN and infinite gradients included. Its PyTorch
// parity is tested through the optimizer (tests/optim, fixtures made by PyTorch 1.13).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "ops/kernels/adam.h"

using tapegrad::kernels::AdamUpdate;

namespace {

struct State {
  std::vector<float> param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq;
};

State random_state(std::int64_t n, std::uint32_t seed, bool specials) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  State s;
  const auto fill = [&](std::vector<float>& v, bool non_negative) {
    v.resize(static_cast<std::size_t>(n));
    for (float& x : v) x = non_negative ? std::fabs(normal(gen)) : normal(gen);
  };
  fill(s.param, false);
  fill(s.grad, false);
  fill(s.exp_avg, false);
  fill(s.exp_avg_sq, true);
  fill(s.max_exp_avg_sq, true);
  if (specials && n >= 4) {
    s.grad[1] = std::numeric_limits<float>::quiet_NaN();
    s.grad[2] = std::numeric_limits<float>::infinity();
    s.max_exp_avg_sq[3] = std::numeric_limits<float>::quiet_NaN();
    s.max_exp_avg_sq[static_cast<std::size_t>(n - 1)] = std::numeric_limits<float>::quiet_NaN();
  }
  return s;
}

AdamUpdate view(State& s, bool amsgrad, bool maximize, float weight_decay, bool decoupled) {
  return {.param = s.param.data(), .grad = s.grad.data(), .exp_avg = s.exp_avg.data(),
          .exp_avg_sq = s.exp_avg_sq.data(),
          .max_exp_avg_sq = amsgrad ? s.max_exp_avg_sq.data() : nullptr,
          .n = static_cast<std::int64_t>(s.param.size()), .beta1 = 0.9f, .beta2 = 0.999f,
          .grad_weight = static_cast<float>(1.0 - 0.9), .grad_sq_weight = static_cast<float>(1.0 - 0.999),
          .eps = 1e-8f, .weight_decay = weight_decay, .decoupled_weight_decay = decoupled,
          .decay_factor = static_cast<float>(1.0 - 1e-3 * weight_decay), .maximize = maximize,
          .neg_step_size = static_cast<float>(-(1e-3 / (1.0 - std::pow(0.9, 3.0)))),
          .bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(0.999, 3.0)))};
}

// Bitwise equality, except that any NaN equals any NaN: a NaN's sign and payload carry no meaning
// (x86 makes them differ between scalar and vector instructions).
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k) {
    if (std::isnan(a[k]) && std::isnan(b[k])) continue;
    if (std::memcmp(&a[k], &b[k], sizeof(float)) != 0) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("adam_update equals its scalar twin bit for bit: every option, every tail length",
          "[kernels][adam]") {
  for (const std::int64_t n : {1, 3, 7, 8, 15, 16, 17, 31, 33, 100, 1000}) {
    for (const bool amsgrad : {false, true}) {
      for (const bool maximize : {false, true}) {
        for (const float weight_decay : {0.0f, 0.01f}) {
          for (const bool decoupled : {false, true}) {
            for (const bool specials : {false, true}) {
              INFO("n " << n << " amsgrad " << amsgrad << " maximize " << maximize << " decay "
                        << weight_decay << " decoupled " << decoupled << " NaN/inf " << specials);
              State fast = random_state(n, static_cast<std::uint32_t>(n), specials);
              State slow = fast;
              tapegrad::kernels::adam_update(view(fast, amsgrad, maximize, weight_decay, decoupled));
              tapegrad::kernels::adam_update_reference(
                  view(slow, amsgrad, maximize, weight_decay, decoupled));
              CHECK(same_bits(fast.param, slow.param));
              CHECK(same_bits(fast.exp_avg, slow.exp_avg));
              CHECK(same_bits(fast.exp_avg_sq, slow.exp_avg_sq));
              CHECK(same_bits(fast.max_exp_avg_sq, slow.max_exp_avg_sq));
              // the state moved: the update did run
              CHECK_FALSE(same_bits(fast.param, random_state(n, static_cast<std::uint32_t>(n), specials).param));
            }
          }
        }
      }
    }
  }
}

TEST_CASE("adam_update keeps a NaN running maximum (torch.maximum propagates NaN)", "[kernels][adam]") {
  State s = random_state(64, 7, false);
  s.max_exp_avg_sq[20] = std::numeric_limits<float>::quiet_NaN();
  tapegrad::kernels::adam_update(view(s, true, false, 0.0f, false));
  CHECK(std::isnan(s.max_exp_avg_sq[20]));
  CHECK(std::isnan(s.param[20]));
  CHECK_FALSE(std::isnan(s.param[21]));
}

TEST_CASE("adam_update divides by sqrt(1 - beta2^t) with the bits of the division at every step",
          "[kernels][adam]") {
  // The vector loop computes sqrt(v) / sqrt(1 - beta2^t) from the divisor's reciprocal; it must
  // give the division's bits, as the scalar twin does, for the divisor of every step count. With
  // a zero gradient and parameter and eps = -0, the new parameter is step * m / (that quotient),
  // so its last bits show the quotient's. Moments span 2^-100..2^100. Amsgrad's running maximum
  // holds them (it is what the division reads): a -0 there is kept (-0 >= +0), and its quotient
  // must stay -0, so that the step's infinity has the twin's sign; +0 sits in the same vector,
  // infinity in another.
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> significand(1.0f, 2.0f);
  std::uniform_int_distribution<int> exponent(-100, 100);
  for (const double beta2 : {0.999, 0.99, 0.9999}) {
    for (int t = 1; t <= 3000; ++t) {
      State fast = random_state(67, static_cast<std::uint32_t>(t), false);
      std::fill(fast.param.begin(), fast.param.end(), 0.0f);
      std::fill(fast.grad.begin(), fast.grad.end(), 0.0f);
      std::fill(fast.exp_avg_sq.begin(), fast.exp_avg_sq.end(), 0.0f);
      for (float& v : fast.max_exp_avg_sq) {
        const float fraction = significand(gen);  // two statements: a fixed order of draws
        v = std::ldexp(fraction, exponent(gen));
      }
      fast.max_exp_avg_sq[20] = -0.0f;
      fast.max_exp_avg_sq[21] = 0.0f;
      fast.max_exp_avg_sq[40] = std::numeric_limits<float>::infinity();
      State slow = fast;
      const auto with_step = [&](State& s) {
        AdamUpdate u = view(s, true, false, 0.0f, false);
        u.beta2 = static_cast<float>(beta2);
        u.grad_sq_weight = static_cast<float>(1.0 - beta2);
        u.eps = -0.0f;
        u.bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, t)));
        return u;
      };
      tapegrad::kernels::adam_update(with_step(fast));
      tapegrad::kernels::adam_update_reference(with_step(slow));
      INFO("beta2 " << beta2 << " t " << t);
      REQUIRE(same_bits(fast.param, slow.param));
      REQUIRE(std::isinf(fast.param[20]));  // the -0 reached the division
    }
  }
}

TEST_CASE("adam_update with an infinite, zero, subnormal or negative divisor matches its twin",
          "[kernels][adam]") {
  // Divisors optim::Adam never passes, but the kernel takes: each must give the division's bits.
  // 1.5 * 2^90 with eps = -0 makes subnormal quotients, which Markstein's correction rounds the
  // wrong way at ties.
  for (const float divisor : {std::numeric_limits<float>::infinity(), 0.0f, -0.0f, 1e-40f,
                              -0.37f, 3.0e38f, 0x1.8p90f, 0x1p-70f,
                              std::numeric_limits<float>::quiet_NaN()}) {
    INFO("bias_correction2_sqrt " << divisor);
    State fast = random_state(200, 3, true);
    // second moments from 2^-150 to 2^100 and no gradient to swamp the small ones: quotients
    // from subnormal to large
    std::mt19937 gen(5);
    std::uniform_real_distribution<float> significand(1.0f, 2.0f);
    std::uniform_int_distribution<int> exponent(-150, 100);
    for (float& v : fast.exp_avg_sq) {
      const float fraction = significand(gen);  // two statements: a fixed order of draws
      v = std::ldexp(fraction, exponent(gen));
    }
    std::fill(fast.grad.begin() + 3, fast.grad.end(), 0.0f);  // keeps the NaN and inf at 1, 2
    // Ties: with beta2 = 1 the moment stays as set, and sqrt(v) = 3 (2j + 1) 2^-61 over
    // 1.5 * 2^90 is (2j + 1) 2^-150, halfway between two subnormals. A first moment of 2^-40
    // keeps step * m / quotient finite (~2^100 / j), so a quotient off by one subnormal shows.
    for (int j = 0; j < 8; ++j) {
      const auto k = static_cast<std::size_t>(100 + j);
      fast.exp_avg_sq[k] = std::ldexp(static_cast<float>(9 * (2 * j + 1) * (2 * j + 1)), -122);
      fast.exp_avg[k] = 0x1p-40f;
    }
    // A zero moment: its quotient by a negative divisor is -0, the denominator with eps = -0
    // too, and the sign of the step's infinity shows it.
    fast.exp_avg_sq[110] = 0.0f;
    State slow = fast;
    AdamUpdate u_fast = view(fast, false, false, 0.0f, false);
    AdamUpdate u_slow = view(slow, false, false, 0.0f, false);
    u_fast.bias_correction2_sqrt = u_slow.bias_correction2_sqrt = divisor;
    u_fast.eps = u_slow.eps = -0.0f;
    u_fast.beta2 = u_slow.beta2 = 1.0f;
    u_fast.grad_sq_weight = u_slow.grad_sq_weight = 0.0f;
    tapegrad::kernels::adam_update(u_fast);
    tapegrad::kernels::adam_update_reference(u_slow);
    CHECK(same_bits(fast.param, slow.param));
    if (divisor == 0x1.8p90f) CHECK(std::isfinite(fast.param[101]));  // the ties are visible
  }
}

TEST_CASE("x times 1/c with Markstein's correction is x / c for every significand of x",
          "[.][exhaustive][adam]") {
  // The identity adam_update's vector loop relies on (adam.cpp, SharedDivisor), for the
  // divisors sqrt(1 - beta2^t) of t <= 300 at five betas, random ones in [0.5, 1) and the
  // all-ones significand: every float x in [1, 2) (the rounding of x / c depends on x's
  // significand only, for normal results). ~50 s; run with "[exhaustive]".
  std::vector<float> divisors{1.0f, std::nextafter(1.0f, 0.0f), std::nextafter(2.0f, 0.0f)};
  for (int t = 1; t <= 300; ++t)
    for (const double beta2 : {0.999, 0.99, 0.9, 0.95, 0.9999})
      divisors.push_back(static_cast<float>(std::sqrt(1.0 - std::pow(beta2, t))));
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> unit(0.5f, 1.0f);
  for (int i = 0; i < 200; ++i) divisors.push_back(unit(gen));
  std::int64_t wrong = 0;
  for (const float c : divisors) {
    const float c_inverse = 1.0f / c;
    for (float x = 1.0f; x < 2.0f; x = std::nextafter(x, 2.0f)) {
      const float q = x * c_inverse;
      const float remainder = std::fma(-q, c, x);
      const float rounded = std::fma(remainder, c_inverse, q);
      if (rounded != x / c) ++wrong;
    }
  }
  CHECK(wrong == 0);
}
