#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "optim/clip.h"
#include "optim_fixture.h"

using namespace tapegrad;
using optim::clip_grad_norm_;
using optim::clip_grad_value_;
using optim_testing::json;
using optim_testing::set_grad;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

Tensor param_with_grad(const std::vector<float>& grad, const Shape& shape) {
  Tensor p = Tensor::zeros(shape, true);
  set_grad(p, Tensor::from_vector(grad, shape));
  return p;
}

}  // namespace

TEST_CASE("clip_grad_norm_ matches PyTorch 1.13", "[optim][clip]") {
  const json& cases = optim_testing::fixtures().at("clip_grad_norm");
  REQUIRE(cases.size() >= 3);
  for (const json& c : cases) {
    const float norm_type = c.at("norm_type").is_string() ? kInf : c.at("norm_type").get<float>();
    INFO("norm_type " << norm_type << ", max_norm " << c.at("max_norm").get<float>());
    std::vector<Tensor> params;
    for (std::size_t i = 0; i < c.at("shapes").size(); ++i) {
      params.push_back(param_with_grad(c.at("grads")[i].get<std::vector<float>>(),
                                       optim_testing::shape_of(c.at("shapes")[i])));
    }
    const float total = clip_grad_norm_(params, c.at("max_norm").get<float>(), norm_type);
    REQUIRE(total == Approx(c.at("total_norm").get<double>()).epsilon(1e-6));
    for (std::size_t i = 0; i < params.size(); ++i) {
      REQUIRE_ALL_CLOSE(params[i].grad(),
                        optim_testing::tensor_of(c.at("clipped_grads")[i], c.at("shapes")[i]),
                        1e-6, 1e-7);
    }
  }
}

TEST_CASE("clip_grad_norm_ by hand", "[optim][clip]") {
  Tensor a = param_with_grad({3.0f, 0.0f}, {2});
  Tensor b = param_with_grad({-4.0f}, {1});
  Tensor no_grad = Tensor::zeros({3}, true);
  const float total = clip_grad_norm_({a, no_grad, b}, 1.0f);
  REQUIRE(total == Approx(5.0f));  // the norm before clipping
  const double coef = 1.0 / (5.0 + 1e-6);
  REQUIRE(a.grad().at({0}) == Approx(3.0 * coef));
  REQUIRE(b.grad().at({0}) == Approx(-4.0 * coef));
  REQUIRE_FALSE(no_grad.grad().defined());

  Tensor c = param_with_grad({3.0f, -7.0f}, {2});
  REQUIRE(clip_grad_norm_({c}, 2.0f, kInf) == 7.0f);
  REQUIRE(c.grad().at({1}) == Approx(-7.0 * 2.0 / (7.0 + 1e-6)));
}

TEST_CASE("clip_grad_norm_ leaves small gradients alone", "[optim][clip]") {
  Tensor a = param_with_grad({0.1f, -0.2f}, {2});
  REQUIRE(clip_grad_norm_({a}, 10.0f) == Approx(std::sqrt(0.05)));
  REQUIRE(a.grad().at({0}) == 0.1f);
  REQUIRE(a.grad().at({1}) == -0.2f);
}

TEST_CASE("clip_grad_norm_ with no gradients returns 0", "[optim][clip]") {
  REQUIRE(clip_grad_norm_({Tensor::ones({2}, true)}, 1.0f) == 0.0f);
  REQUIRE(clip_grad_norm_({}, 1.0f) == 0.0f);
}

TEST_CASE("a non-finite norm throws naming the first non-finite gradient", "[optim][clip]") {
  Tensor fine = param_with_grad({1.0f, 2.0f}, {2});
  Tensor bad = param_with_grad({1.0f, kNaN}, {2});
  bad.set_name("decoder.weight");
  Tensor also_bad = param_with_grad({kInf}, {1});
  const std::vector<Tensor> params{fine, bad, also_bad};
  REQUIRE_THROWS_AS(clip_grad_norm_(params, 1.0f), ValueError);
  REQUIRE_THROWS_WITH(clip_grad_norm_(params, 1.0f),
                      Catch::Contains("clip_grad_norm_") && Catch::Contains("non-finite") &&
                          Catch::Contains("parameter 1 ('decoder.weight')"));
  REQUIRE_THROWS_WITH(clip_grad_norm_({fine, also_bad}, 1.0f, kInf),
                      Catch::Contains("parameter 1") && !Catch::Contains("('"));
  // Nothing was scaled.
  REQUIRE(fine.grad().at({1}) == 2.0f);
}

TEST_CASE("a norm that overflows float is reported as such", "[optim][clip]") {
  Tensor huge = param_with_grad({3e38f, 3e38f}, {2});
  REQUIRE_THROWS_WITH(clip_grad_norm_({huge}, 1.0f), Catch::Contains("overflow"));
}

TEST_CASE("error_if_nonfinite = false returns the non-finite norm and scales anyway",
          "[optim][clip]") {
  Tensor with_inf = param_with_grad({2.0f, kInf}, {2});
  const float inf_total = clip_grad_norm_({with_inf}, 1.0f, 2.0f, false);
  REQUIRE(std::isinf(inf_total));
  // PyTorch's coefficient is max_norm / inf = 0: finite entries become 0, inf * 0 is NaN.
  REQUIRE(with_inf.grad().at({0}) == 0.0f);
  REQUIRE(std::isnan(with_inf.grad().at({1})));

  Tensor with_nan = param_with_grad({2.0f, kNaN}, {2});
  REQUIRE(std::isnan(clip_grad_norm_({with_nan}, 1.0f, kInf, false)));
  REQUIRE(std::isnan(with_nan.grad().at({0})));
}

TEST_CASE("clip_grad_norm_ rejects bad arguments", "[optim][clip]") {
  Tensor a = param_with_grad({1.0f}, {1});
  REQUIRE_THROWS_AS(clip_grad_norm_({a}, -1.0f), ValueError);
  REQUIRE_THROWS_WITH(clip_grad_norm_({a}, -1.0f), Catch::Contains("invalid max_norm: -1"));
  REQUIRE_THROWS_WITH(clip_grad_norm_({a}, 1.0f, 0.0f), Catch::Contains("invalid norm_type: 0"));
  REQUIRE_THROWS_WITH(clip_grad_norm_({a}, 1.0f, kNaN), Catch::Contains("invalid norm_type"));
  REQUIRE_THROWS_AS(clip_grad_norm_({a, Tensor()}, 1.0f), ValueError);
}

TEST_CASE("clip_grad_value_ clamps each gradient entry", "[optim][clip]") {
  Tensor a = param_with_grad({-3.0f, -0.5f, 0.25f, 9.0f, kNaN}, {5});
  Tensor no_grad = Tensor::zeros({2}, true);
  clip_grad_value_({a, no_grad}, 1.0f);
  REQUIRE(a.grad().at({0}) == -1.0f);
  REQUIRE(a.grad().at({1}) == -0.5f);
  REQUIRE(a.grad().at({2}) == 0.25f);
  REQUIRE(a.grad().at({3}) == 1.0f);
  REQUIRE(std::isnan(a.grad().at({4})));
  REQUIRE_FALSE(no_grad.grad().defined());
  REQUIRE_THROWS_AS(clip_grad_value_({a}, -1.0f), ValueError);
  REQUIRE_THROWS_WITH(clip_grad_value_({a}, -1.0f), Catch::Contains("clip_grad_value_"));
}
