// neg, abs, clamp.
#include <cmath>
#include <optional>

#include "autograd/grad_mode.h"
#include "ops/ops.h"
#include "tests/test_util.h"

using namespace tapegrad;

namespace {

// Gradient of sum(g * op(x)) w.r.t. x for given values, through backward.
template <typename Op>
Tensor grad_of(Op op, const std::vector<float>& values) {
  Tensor x = Tensor::from_vector(values, {static_cast<std::int64_t>(values.size())}, true);
  op(x).backward(Tensor::ones(x.shape()));
  return x.grad();
}

// Samples on the grid k/4 + 1/8: never within 1/8 of 0 or of a bound that is a multiple of 1/4.
Tensor off_grid(const Shape& shape, Generator& generator) {
  Tensor t = Tensor::empty(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    t.data()[i] = std::floor(generator.uniform(-12.0f, 12.0f)) / 4.0f + 0.125f;
  }
  t.requires_grad_();
  return t;
}

}  // namespace

TEST_CASE("neg/abs: forward", "[abs_clamp_neg]") {
  Generator generator(51);
  Tensor x = Tensor::uniform({2, 5}, -3.0f, 3.0f, generator);
  Tensor n = neg(x);
  Tensor a = abs(x);
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    REQUIRE(n.data()[i] == -x.data()[i]);
    REQUIRE(a.data()[i] == std::fabs(x.data()[i]));
  }
  REQUIRE(abs(Tensor::scalar(-0.0f)).item() == 0.0f);
  REQUIRE_FALSE(std::signbit(abs(Tensor::scalar(-0.0f)).item()));
}

TEST_CASE("neg/abs: gradcheck and slopes", "[abs_clamp_neg]") {
  Generator generator(52);
  Tensor x = off_grid({3, 4}, generator);
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return neg(in[0]); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return abs(in[0]); }, {x});
  REQUIRE_ALL_CLOSE(grad_of([](const Tensor& t) { return neg(t); }, {1.0f, -2.0f}),
                    Tensor::full({2}, -1.0f));
  // abs'(0) = 0, as PyTorch's sign(0).
  REQUIRE_ALL_CLOSE(grad_of([](const Tensor& t) { return abs(t); }, {-2.0f, 0.0f, 3.0f}),
                    Tensor::from_vector({-1.0f, 0.0f, 1.0f}, {3}));
}

TEST_CASE("clamp: forward with both, min only and max only", "[abs_clamp_neg]") {
  Generator generator(53);
  Tensor x = Tensor::uniform({4, 6}, -3.0f, 3.0f, generator);
  Tensor both = clamp(x, -1.0f, 0.5f);
  Tensor lower = clamp(x, -1.0f, std::nullopt);
  Tensor upper = clamp(x, std::nullopt, 0.5f);
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const float v = x.data()[i];
    REQUIRE(both.data()[i] == std::min(std::max(v, -1.0f), 0.5f));
    REQUIRE(lower.data()[i] == std::max(v, -1.0f));
    REQUIRE(upper.data()[i] == std::min(v, 0.5f));
  }
  // min == max is allowed and gives a constant.
  REQUIRE_ALL_CLOSE(clamp(x, 0.25f, 0.25f), Tensor::full({4, 6}, 0.25f));
  // NaN stays NaN.
  REQUIRE(std::isnan(clamp(Tensor::scalar(NAN), 0.0f, 1.0f).item()));
}

TEST_CASE("clamp: gradcheck away from the bounds", "[abs_clamp_neg]") {
  Generator generator(54);
  Tensor x = off_grid({4, 5}, generator);
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return clamp(in[0], -1.0f, 0.5f); }, {x});
  REQUIRE_GRADCHECK(
      [](const std::vector<Tensor>& in) { return clamp(in[0], -0.5f, std::nullopt); }, {x});
  REQUIRE_GRADCHECK(
      [](const std::vector<Tensor>& in) { return clamp(in[0], std::nullopt, 1.0f); }, {x});
}

TEST_CASE("clamp: gradient passes inside and at the bounds (inclusive)", "[abs_clamp_neg]") {
  const auto clamp_both = [](const Tensor& t) { return clamp(t, -1.0f, 1.0f); };
  REQUIRE_ALL_CLOSE(grad_of(clamp_both, {-2.0f, -1.0f, 0.0f, 1.0f, 2.0f}),
                    Tensor::from_vector({0.0f, 1.0f, 1.0f, 1.0f, 0.0f}, {5}));
  const auto clamp_min = [](const Tensor& t) { return clamp(t, 0.0f, std::nullopt); };
  REQUIRE_ALL_CLOSE(grad_of(clamp_min, {-1.0f, 0.0f, 100.0f}),
                    Tensor::from_vector({0.0f, 1.0f, 1.0f}, {3}));
  const auto clamp_max = [](const Tensor& t) { return clamp(t, std::nullopt, 0.0f); };
  REQUIRE_ALL_CLOSE(grad_of(clamp_max, {-100.0f, 0.0f, 1.0f}),
                    Tensor::from_vector({1.0f, 1.0f, 0.0f}, {3}));
  // A NaN input gets no gradient (its mask comparisons are false).
  REQUIRE(grad_of(clamp_both, {NAN}).item() == 0.0f);
}

TEST_CASE("neg/abs/clamp: the same tensor used twice accumulates", "[abs_clamp_neg]") {
  Tensor x = Tensor::from_vector({-3.0f, 0.5f}, {2}, true);
  mul(abs(x), clamp(x, -1.0f, 1.0f)).backward(Tensor::ones({2}));
  // d/dx |x| clamp(x) = sign(x) clamp(x) + |x| [-1 <= x <= 1]
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::from_vector({1.0f, 1.0f}, {2}));
}

TEST_CASE("neg/abs/clamp: nothing is recorded under NoGradGuard", "[abs_clamp_neg]") {
  Tensor x = Tensor::ones({3}, true);
  NoGradGuard no_grad;
  for (const Tensor& out : {neg(x), abs(x), clamp(x, 0.0f, 0.5f)}) {
    REQUIRE_FALSE(out.requires_grad());
    REQUIRE(out.grad_fn() == nullptr);
  }
}

TEST_CASE("neg/abs/clamp: bad input", "[abs_clamp_neg]") {
  Tensor undefined;
  Tensor x = Tensor::ones({2});
  REQUIRE_THROWS_AS(neg(undefined), ValueError);
  REQUIRE_THROWS_WITH(neg(undefined), Catch::StartsWith("neg:"));
  REQUIRE_THROWS_AS(abs(undefined), ValueError);
  REQUIRE_THROWS_WITH(abs(undefined), Catch::StartsWith("abs:"));
  REQUIRE_THROWS_AS(clamp(undefined, 0.0f, 1.0f), ValueError);
  REQUIRE_THROWS_WITH(clamp(undefined, 0.0f, 1.0f), Catch::StartsWith("clamp:"));

  REQUIRE_THROWS_AS(clamp(x, std::nullopt, std::nullopt), ValueError);
  REQUIRE_THROWS_WITH(clamp(x, std::nullopt, std::nullopt),
                      Catch::StartsWith("clamp:") && Catch::Contains("min=none max=none"));
  REQUIRE_THROWS_AS(clamp(x, 2.0f, 1.0f), ValueError);
  REQUIRE_THROWS_WITH(clamp(x, 2.0f, 1.0f),
                      Catch::StartsWith("clamp:") && Catch::Contains("min=2 max=1"));
  REQUIRE_THROWS_AS(clamp(x, NAN, 1.0f), ValueError);
  REQUIRE_THROWS_WITH(clamp(x, NAN, 1.0f), Catch::StartsWith("clamp:") && Catch::Contains("NaN"));
  REQUIRE_THROWS_AS(clamp(x, std::nullopt, NAN), ValueError);
  REQUIRE_THROWS_AS(clamp(x, 0.0f, NAN), ValueError);
}
