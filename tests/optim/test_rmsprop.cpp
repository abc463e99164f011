#include <catch2/catch.hpp>

#include <cmath>

#include "optim/rmsprop.h"
#include "optim_fixture.h"

using namespace tapegrad;
using optim::RMSprop;
using optim::RMSpropOptions;
using optim_testing::set_grad;

TEST_CASE("RMSprop matches PyTorch 1.13 on every fixture case", "[optim][rmsprop]") {
  const auto cases = optim_testing::optimizer_cases("RMSprop");
  REQUIRE(cases.size() >= 2);
  for (const auto* c : cases) optim_testing::replay_case(*c);
}

TEST_CASE("RMSprop first step by hand: eps outside the square root", "[optim][rmsprop]") {
  Tensor p = Tensor::from_vector({1.0f, 1.0f}, {2}, true);
  RMSprop rmsprop({p}, {.lr = 0.01f, .eps = 0.5f});
  set_grad(p, Tensor::from_vector({3.0f, -2.0f}, {2}));
  rmsprop.step();
  // v = 0.01 g^2, so p -= lr * g / (0.1 |g| + eps).
  REQUIRE(p.at({0}) == Approx(1.0 - 0.01 * 3.0 / (std::sqrt(0.01 * 9.0) + 0.5)));
  REQUIRE(p.at({1}) == Approx(1.0 + 0.01 * 2.0 / (std::sqrt(0.01 * 4.0) + 0.5)));
}

TEST_CASE("RMSprop centered with momentum by hand", "[optim][rmsprop]") {
  Tensor p = Tensor::from_vector({0.0f}, {1}, true);
  RMSprop rmsprop({p}, {.lr = 0.1f, .alpha = 0.5f, .eps = 0.0f, .momentum = 0.5f,
                        .centered = true});
  set_grad(p, Tensor::full({1}, 2.0f));
  rmsprop.step();
  // v = 0.5 * 4 = 2, g_avg = 1, denom = sqrt(2 - 1) = 1, buffer = 2.
  REQUIRE(p.item() == Approx(-0.2));
  set_grad(p, Tensor::full({1}, 1.0f));
  rmsprop.step();
  // v = 1 + 0.5 = 1.5, g_avg = 0.5 + 0.5 = 1, denom = sqrt(0.5); buffer = 1 + 1/sqrt(0.5).
  REQUIRE(p.item() == Approx(-0.2 - 0.1 * (1.0 + 1.0 / std::sqrt(0.5))));
  const auto state = rmsprop.state_tensors();
  REQUIRE(state.size() == 4);
  REQUIRE(state[1].first == "0.square_avg");
  REQUIRE(state[2].first == "0.momentum_buffer");
  REQUIRE(state[3].first == "0.grad_avg");
}

TEST_CASE("RMSprop rejects invalid options, naming option and value", "[optim][rmsprop]") {
  auto make = [](RMSpropOptions options) { RMSprop r({Tensor::ones({2}, true)}, options); };
  REQUIRE_THROWS_AS(make({.lr = -0.01f}), ValueError);
  REQUIRE_THROWS_WITH(make({.lr = -0.01f}), Catch::Contains("RMSprop: invalid lr: -0.01"));
  REQUIRE_THROWS_WITH(make({.alpha = -0.5f}), Catch::Contains("invalid alpha: -0.5"));
  REQUIRE_THROWS_WITH(make({.eps = -1.0f}), Catch::Contains("invalid eps: -1"));
  REQUIRE_THROWS_WITH(make({.weight_decay = -2.0f}), Catch::Contains("invalid weight_decay: -2"));
  REQUIRE_THROWS_WITH(make({.momentum = -0.1f}), Catch::Contains("invalid momentum: -0.1"));
}
