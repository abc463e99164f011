#include <catch2/catch.hpp>

#include <cmath>

#include "optim/adam.h"
#include "optim_fixture.h"

using namespace tapegrad;
using optim::Adam;
using optim::AdamOptions;
using optim::AdamW;
using optim::AdamWOptions;
using optim_testing::set_grad;

TEST_CASE("Adam matches PyTorch 1.13 on every fixture case", "[optim][adam]") {
  const auto cases = optim_testing::optimizer_cases("Adam");
  REQUIRE(cases.size() >= 2);
  for (const auto* c : cases) optim_testing::replay_case(*c);
}

TEST_CASE("AdamW matches PyTorch 1.13 on every fixture case", "[optim][adam]") {
  const auto cases = optim_testing::optimizer_cases("AdamW");
  REQUIRE(cases.size() >= 1);
  for (const auto* c : cases) optim_testing::replay_case(*c);
}

TEST_CASE("Adam's first step moves each weight by about lr, whatever the gradient's scale",
          "[optim][adam]") {
  // After bias correction m_hat = g and v_hat = g^2, so the step is lr * g / (|g| + eps).
  Tensor p = Tensor::from_vector({1.0f, 1.0f, 1.0f}, {3}, true);
  Adam adam({p}, {.lr = 0.1f});
  set_grad(p, Tensor::from_vector({4.0f, -1e-3f, 0.0f}, {3}));
  adam.step();
  REQUIRE(p.at({0}) == Approx(1.0 - 0.1 * 4.0 / (4.0 + 1e-8)));
  REQUIRE(p.at({1}) == Approx(1.0 + 0.1 * 1e-3 / (1e-3 + 1e-8)));
  REQUIRE(p.at({2}) == 1.0f);  // zero gradient: 0 / (0 + eps)
}

TEST_CASE("Adam's second step uses bias-corrected moments by hand", "[optim][adam]") {
  Tensor p = Tensor::from_vector({0.0f}, {1}, true);
  Adam adam({p}, {.lr = 0.01f, .betas = {0.5f, 0.75f}, .eps = 0.0f});
  set_grad(p, Tensor::full({1}, 2.0f));
  adam.step();
  set_grad(p, Tensor::full({1}, -1.0f));
  adam.step();
  // m2 = 0.5*(0.5*2) + 0.5*(-1) = 0; so the second step does not move p from -0.01.
  REQUIRE(p.item() == Approx(-0.01));
  set_grad(p, Tensor::full({1}, 1.0f));
  adam.step();
  const double m3 = 0.5 * 0.0 + 0.5 * 1.0;
  const double v3 = 0.75 * (0.75 * (0.25 * 4.0) + 0.25 * 1.0) + 0.25 * 1.0;
  const double expected = -0.01 - 0.01 / (1 - std::pow(0.5, 3)) * m3 /
                                      (std::sqrt(v3) / std::sqrt(1 - std::pow(0.75, 3)));
  REQUIRE(p.item() == Approx(expected));
}

TEST_CASE("AdamW decays the weight before the Adam step while Adam adds it to the gradient",
          "[optim][adam]") {
  Tensor pw = Tensor::from_vector({2.0f}, {1}, true);
  AdamW adamw({pw}, {.lr = 0.1f, .weight_decay = 0.5f});
  set_grad(pw, Tensor::full({1}, 3.0f));
  adamw.step();
  REQUIRE(pw.item() == Approx(2.0 * (1 - 0.1 * 0.5) - 0.1 * 3.0 / (3.0 + 1e-8)));

  // Adam's L2 term only changes g = 3 + 0.5 * 2 = 4, and the first step is lr * sign(g).
  Tensor pa = Tensor::from_vector({2.0f}, {1}, true);
  Adam adam({pa}, {.lr = 0.1f, .weight_decay = 0.5f});
  set_grad(pa, Tensor::full({1}, 3.0f));
  adam.step();
  REQUIRE(pa.item() == Approx(2.0 - 0.1));
}

TEST_CASE("AdamW's defaults are PyTorch's", "[optim][adam]") {
  const AdamWOptions w;
  REQUIRE(w.weight_decay == 1e-2f);
  REQUIRE(w.lr == 1e-3f);
  const AdamOptions a;
  REQUIRE(a.weight_decay == 0.0f);
  REQUIRE(a.betas[0] == 0.9f);
  REQUIRE(a.betas[1] == 0.999f);
  REQUIRE(a.eps == 1e-8f);
}

TEST_CASE("Adam amsgrad state names", "[optim][adam]") {
  Tensor p = Tensor::ones({2}, true);
  Adam adam({p}, {.amsgrad = true});
  REQUIRE(adam.state_tensors().empty());  // created by the first step
  set_grad(p, Tensor::ones({2}));
  adam.step();
  const auto state = adam.state_tensors();
  REQUIRE(state.size() == 4);
  REQUIRE(state[0].first == "0.step");
  REQUIRE(state[0].second.item() == 1.0f);
  REQUIRE(state[1].first == "0.exp_avg");
  REQUIRE(state[2].first == "0.exp_avg_sq");
  REQUIRE(state[3].first == "0.max_exp_avg_sq");
}

TEST_CASE("Adam and AdamW reject invalid options, naming option and value", "[optim][adam]") {
  auto make = [](AdamOptions options) { Adam adam({Tensor::ones({2}, true)}, options); };
  REQUIRE_THROWS_AS(make({.lr = -1.0f}), ValueError);
  REQUIRE_THROWS_WITH(make({.lr = -1.0f}), Catch::Contains("Adam: invalid lr: -1"));
  REQUIRE_THROWS_WITH(make({.betas = {1.0f, 0.999f}}), Catch::Contains("invalid betas[0]: 1"));
  REQUIRE_THROWS_WITH(make({.betas = {0.9f, -0.5f}}), Catch::Contains("invalid betas[1]: -0.5"));
  REQUIRE_THROWS_WITH(make({.eps = -1e-8f}), Catch::Contains("invalid eps: -1e-08"));
  REQUIRE_THROWS_WITH(make({.weight_decay = -0.1f}), Catch::Contains("invalid weight_decay: -0.1"));
  REQUIRE_THROWS_WITH(make({.lr = NAN}), Catch::Contains("invalid lr: nan"));
  REQUIRE_NOTHROW(make({.betas = {0.0f, 0.0f}}));
  auto make_w = [](AdamWOptions options) { AdamW adamw({Tensor::ones({2}, true)}, options); };
  REQUIRE_THROWS_WITH(make_w({.betas = {0.9f, 1.5f}}), Catch::Contains("AdamW: invalid betas[1]"));
}
