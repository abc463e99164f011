// pow(Tensor, float) and pow(Tensor, Tensor).
#include <cmath>

#include "autograd/grad_mode.h"
#include "ops/ops.h"
#include "tests/test_util.h"

using namespace tapegrad;

namespace {

// Gradient of sum(pow(base, exponent)) w.r.t. base, through backward.
Tensor pow_grad(const std::vector<float>& values, float exponent) {
  Tensor x = Tensor::from_vector(values, {static_cast<std::int64_t>(values.size())}, true);
  pow(x, exponent).backward(Tensor::ones(x.shape()));
  return x.grad();
}

}  // namespace

TEST_CASE("pow(Tensor, float): forward matches std::pow", "[pow]") {
  Generator generator(11);
  Tensor positive = Tensor::uniform({4, 5}, 0.1f, 3.0f, generator);
  for (float exponent : {2.0f, 3.0f, 0.5f, -1.0f, 1.7f, 0.0f, 1.0f, -2.5f}) {
    INFO("exponent " << exponent);
    Tensor out = pow(positive, exponent);
    REQUIRE(out.shape() == positive.shape());
    for (std::int64_t i = 0; i < out.numel(); ++i) {
      const double expected = std::pow(static_cast<double>(positive.data()[i]), exponent);
      REQUIRE(out.data()[i] == Approx(expected).epsilon(1e-6));
    }
  }
  // Negative bases with integral exponents are real.
  Tensor negative = Tensor::from_vector({-2.0f, -0.5f}, {2});
  REQUIRE_ALL_CLOSE(pow(negative, 3.0f), Tensor::from_vector({-8.0f, -0.125f}, {2}));
  REQUIRE_ALL_CLOSE(pow(negative, 2.0f), Tensor::from_vector({4.0f, 0.25f}, {2}));
  // ... and NaN with a fractional one, as in PyTorch.
  REQUIRE(std::isnan(pow(negative, 0.5f).data()[0]));
}

TEST_CASE("pow(Tensor, float): gradcheck", "[pow]") {
  Generator generator(12);
  for (float exponent : {2.0f, 3.0f, 0.5f, -1.0f, 1.7f, 1.0f, -2.5f}) {
    INFO("exponent " << exponent);
    Tensor x = Tensor::uniform({2, 3}, 0.5f, 2.0f, generator, true);
    REQUIRE_GRADCHECK([exponent](const std::vector<Tensor>& in) { return pow(in[0], exponent); },
                      {x});
  }
  // Integral exponents on negative bases too.
  Tensor negative = Tensor::uniform({5}, -2.0f, -0.5f, generator, true);
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return pow(in[0], 3.0f); }, {negative});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return pow(in[0], 2.0f); }, {negative});
}

TEST_CASE("pow(Tensor, float): gradient conventions at 0, as PyTorch", "[pow]") {
  // x^0 is constant: gradient 0 everywhere, including x = 0 (where 0 * 0^-1 would be NaN).
  REQUIRE_ALL_CLOSE(pow_grad({-2.0f, 0.0f, 3.0f}, 0.0f), Tensor::zeros({3}));
  // e * x^(e-1) at x = 0: 0 for e = 2, 1 for e = 1, inf for e = 0.5.
  REQUIRE(pow_grad({0.0f}, 2.0f).item() == 0.0f);
  REQUIRE(pow_grad({0.0f}, 3.0f).item() == 0.0f);
  REQUIRE(pow_grad({0.0f}, 1.0f).item() == 1.0f);
  const float sqrt_slope = pow_grad({0.0f}, 0.5f).item();
  REQUIRE(std::isinf(sqrt_slope));
  REQUIRE(sqrt_slope > 0.0f);
  // Away from 0, the closed form.
  REQUIRE(pow_grad({1.5f}, 3.0f).item() == Approx(3.0 * 1.5 * 1.5));
}

TEST_CASE("pow(Tensor, Tensor): forward broadcasts and matches std::pow", "[pow]") {
  Generator generator(13);
  Tensor base = Tensor::uniform({2, 3}, 0.2f, 3.0f, generator);
  Tensor exponent = Tensor::uniform({3}, -2.0f, 2.0f, generator);
  Tensor out = pow(base, exponent);
  REQUIRE(out.shape() == Shape{2, 3});
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      const double expected = std::pow(static_cast<double>(base.at({i, j})), exponent.at({j}));
      REQUIRE(out.at({i, j}) == Approx(expected).epsilon(1e-6));
    }
  }
  Tensor squared = pow(base, Tensor::scalar(2.0f));
  for (std::int64_t i = 0; i < 6; ++i) {
    REQUIRE(squared.data()[i] == Approx(base.data()[i] * base.data()[i]));
  }
}

TEST_CASE("pow(Tensor, Tensor): gradcheck w.r.t. base and exponent (base > 0)", "[pow]") {
  const std::vector<std::pair<Shape, Shape>> shape_pairs = {
      {{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{3}, {2, 3}}, {{2, 1, 4}, {3, 1}}, {{2, 3}, {}}, {{}, {4}}};
  Generator generator(14);
  for (const auto& [base_shape, exponent_shape] : shape_pairs) {
    INFO(format_shape(base_shape) << " ^ " << format_shape(exponent_shape));
    Tensor base = Tensor::uniform(base_shape, 0.5f, 2.0f, generator, true);
    Tensor exponent = Tensor::uniform(exponent_shape, -2.0f, 2.0f, generator, true);
    REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return pow(in[0], in[1]); },
                      {base, exponent});
  }
  // One side only.
  Tensor base = Tensor::uniform({3}, 0.5f, 2.0f, generator, false);
  Tensor exponent = Tensor::uniform({2, 3}, -2.0f, 2.0f, generator, true);
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return pow(in[0], in[1]); },
                    {base, exponent});
}

TEST_CASE("pow(Tensor, Tensor): exponent gradient is y*log(base), masked as PyTorch", "[pow]") {
  Tensor base = Tensor::from_vector({2.0f, 0.0f, 0.0f, -2.0f}, {4}, true);
  Tensor exponent = Tensor::from_vector({3.0f, 2.0f, 0.0f, 2.0f}, {4}, true);
  pow(base, exponent).backward(Tensor::ones({4}));
  const Tensor grad_e = exponent.grad();
  REQUIRE(grad_e.data()[0] == Approx(8.0 * std::log(2.0)));
  REQUIRE(grad_e.data()[1] == 0.0f);         // base 0, exponent >= 0: masked to 0
  REQUIRE(grad_e.data()[2] == 0.0f);
  REQUIRE(std::isnan(grad_e.data()[3]));     // log of a negative base
  const Tensor grad_b = base.grad();
  REQUIRE(grad_b.data()[0] == Approx(3.0 * 4.0));
  REQUIRE(grad_b.data()[1] == 0.0f);         // 2 * 0^1
  REQUIRE(grad_b.data()[2] == 0.0f);         // exponent 0: masked to 0
  REQUIRE(grad_b.data()[3] == Approx(-4.0)); // 2 * (-2)^1
}

TEST_CASE("pow(x, x): the gradients through base and exponent accumulate", "[pow]") {
  // pow(x, x) = x^x; d/dx = x^x (log x + 1).
  Tensor x = Tensor::from_vector({0.5f, 1.5f}, {2}, true);
  pow(x, x).backward(Tensor::ones({2}));
  for (int i = 0; i < 2; ++i) {
    const double v = x.data()[i];
    REQUIRE(x.grad().data()[i] == Approx(std::pow(v, v) * (std::log(v) + 1.0)).epsilon(1e-5));
  }
}

TEST_CASE("pow: nothing is recorded under NoGradGuard", "[pow]") {
  Tensor x = Tensor::full({3}, 2.0f, true);
  NoGradGuard no_grad;
  Tensor scalar_power = pow(x, 2.0f);
  Tensor tensor_power = pow(x, x);
  REQUIRE_FALSE(scalar_power.requires_grad());
  REQUIRE(scalar_power.grad_fn() == nullptr);
  REQUIRE_FALSE(tensor_power.requires_grad());
  REQUIRE(tensor_power.grad_fn() == nullptr);
}

TEST_CASE("pow: bad input", "[pow]") {
  Tensor undefined;
  Tensor x = Tensor::ones({2, 3});
  REQUIRE_THROWS_AS(pow(undefined, 2.0f), ValueError);
  REQUIRE_THROWS_WITH(pow(undefined, 2.0f), Catch::StartsWith("pow:"));
  REQUIRE_THROWS_AS(pow(x, NAN), ValueError);
  REQUIRE_THROWS_WITH(pow(x, NAN), Catch::StartsWith("pow:") && Catch::Contains("NaN"));
  REQUIRE_THROWS_AS(pow(x, undefined), ValueError);
  REQUIRE_THROWS_WITH(pow(x, undefined), Catch::Contains("exponent"));
  REQUIRE_THROWS_AS(pow(undefined, x), ValueError);
  REQUIRE_THROWS_AS(pow(x, Tensor::ones({2})), ShapeError);
  REQUIRE_THROWS_WITH(pow(x, Tensor::ones({2})), Catch::StartsWith("pow:") &&
                                                     Catch::Contains("[2, 3]") &&
                                                     Catch::Contains("[2]"));
}
