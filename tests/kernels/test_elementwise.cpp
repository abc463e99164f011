// Vectorised sigmoid/tanh/exp against their scalar references and against double-precision
// values, on sizes around the SIMD width (tails), at saturating inputs and with NaN.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "ops/kernels/elementwise.h"
#include "pointwise_test_util.h"

namespace {

using tapegrad::Generator;
using tapegrad::testing::random_floats;
using Kernel = void (*)(float*, const float*, std::int64_t);

struct PointwiseCase {
  const char* name;
  Kernel fast;
  Kernel reference;
  double (*truth)(double);
};

const PointwiseCase kCases[] = {
    {"sigmoid", tapegrad::kernels::sigmoid_forward, tapegrad::kernels::sigmoid_forward_reference,
     [](double x) { return 1.0 / (1.0 + std::exp(-x)); }},
    {"tanh", tapegrad::kernels::tanh_forward, tapegrad::kernels::tanh_forward_reference,
     [](double x) { return std::tanh(x); }},
    {"exp", tapegrad::kernels::exp_forward, tapegrad::kernels::exp_forward_reference,
     [](double x) { return std::exp(x); }},
};

std::vector<float> run(Kernel kernel, const std::vector<float>& x) {
  std::vector<float> out(x.size(), -7.0f);
  kernel(out.data(), x.data(), static_cast<std::int64_t>(x.size()));
  return out;
}

// 67 = 4 * 16 + 3: whatever the SIMD width (4, 8 or 16 lanes), each special value lands in full
// batches and in the scalar tail.
std::vector<float> cycled(const std::vector<float>& values, std::size_t n = 67) {
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = values[i % values.size()];
  return out;
}

}  // namespace

TEST_CASE("pointwise kernels match their references and double precision on awkward sizes",
          "[kernels][elementwise]") {
  const std::int64_t n = GENERATE(0, 1, 15, 16, 17, 1000, 4097);
  Generator gen(100 + static_cast<std::uint64_t>(n));
  const std::vector<float> x = random_floats(n, -20.0f, 20.0f, gen);
  for (const PointwiseCase& c : kCases) {
    INFO(c.name << " n=" << n);
    const std::vector<float> fast = run(c.fast, x);
    REQUIRE_FLOATS_CLOSE(fast, run(c.reference, x), 1e-6, 1e-37);
    std::vector<float> truth(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) truth[i] = static_cast<float>(c.truth(x[i]));
    REQUIRE_FLOATS_CLOSE(fast, truth, 1e-6, 0.0);
  }
}

TEST_CASE("pointwise kernels may write in place", "[kernels][elementwise]") {
  Generator gen(7);
  const std::vector<float> x = random_floats(37, -5.0f, 5.0f, gen);
  for (const PointwiseCase& c : kCases) {
    INFO(c.name);
    std::vector<float> in_place = x;
    c.fast(in_place.data(), in_place.data(), static_cast<std::int64_t>(in_place.size()));
    REQUIRE(in_place == run(c.fast, x));
  }
}

TEST_CASE("sigmoid saturates to exact limits without overflow", "[kernels][elementwise]") {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = cycled({50.0f, -50.0f, 100.0f, -100.0f, 1e30f, -1e30f, inf, -inf,
                                       89.0f, -89.0f, 0.0f, -0.0f});
  for (Kernel kernel :
       {tapegrad::kernels::sigmoid_forward, tapegrad::kernels::sigmoid_forward_reference}) {
    const std::vector<float> y = run(kernel, x);
    for (std::size_t i = 0; i < x.size(); ++i) {
      INFO("x = " << x[i] << ", sigmoid = " << y[i]);
      REQUIRE(std::isfinite(y[i]));
      REQUIRE(y[i] >= 0.0f);
      REQUIRE(y[i] <= 1.0f);
      if (x[i] >= 50.0f) REQUIRE(y[i] == 1.0f);  // exp(-50) is below half an ulp of 1
      if (x[i] == 0.0f) REQUIRE(y[i] == 0.5f);
      if (x[i] == -50.0f) REQUIRE(y[i] == Approx(std::exp(-50.0)).epsilon(1e-6));
      if (x[i] <= -100.0f) REQUIRE(y[i] < 1e-40f);
    }
  }
}

TEST_CASE("tanh and exp behave at +-50 and +-100", "[kernels][elementwise]") {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = cycled({50.0f, -50.0f, 100.0f, -100.0f, inf, -inf, 20.0f});
  const std::vector<float> t = run(tapegrad::kernels::tanh_forward, x);
  const std::vector<float> e = run(tapegrad::kernels::exp_forward, x);
  for (std::size_t i = 0; i < x.size(); ++i) {
    INFO("x = " << x[i] << ", tanh = " << t[i] << ", exp = " << e[i]);
    REQUIRE(t[i] == (x[i] > 0.0f ? 1.0f : -1.0f));  // 1 - tanh(20) = 8e-18 rounds away
    if (x[i] >= 100.0f) REQUIRE(e[i] == inf);  // exp overflows float at 88.7
    if (x[i] == 50.0f) REQUIRE(e[i] == Approx(std::exp(50.0)).epsilon(1e-6));
    if (x[i] <= -100.0f) REQUIRE((e[i] >= 0.0f && e[i] < 1e-40f));
  }
}

TEST_CASE("NaN inputs give NaN at the same places and nowhere else", "[kernels][elementwise]") {
  Generator gen(11);
  std::vector<float> x = random_floats(67, -30.0f, 30.0f, gen);
  const std::vector<std::size_t> nan_at = {0, 5, 15, 16, 17, 63, 64, 66};
  for (std::size_t i : nan_at) x[i] = std::numeric_limits<float>::quiet_NaN();
  for (const PointwiseCase& c : kCases) {
    for (Kernel kernel : {c.fast, c.reference}) {
      const std::vector<float> y = run(kernel, x);
      for (std::size_t i = 0; i < x.size(); ++i) {
        INFO(c.name << " element " << i << " = " << y[i]);
        REQUIRE(std::isnan(y[i]) == std::isnan(x[i]));
      }
    }
  }
}
