#include <catch2/catch.hpp>

#include "optim/sgd.h"
#include "optim_fixture.h"

using namespace tapegrad;
using optim::SGD;
using optim::SGDOptions;
using optim_testing::set_grad;

TEST_CASE("SGD matches PyTorch 1.13 on every fixture case", "[optim][sgd]") {
  const auto cases = optim_testing::optimizer_cases("SGD");
  REQUIRE(cases.size() >= 3);
  for (const auto* c : cases) optim_testing::replay_case(*c);
}

TEST_CASE("SGD momentum and dampening by hand", "[optim][sgd]") {
  Tensor p = Tensor::from_vector({1.0f}, {1}, true);
  SGD sgd({p}, {.lr = 0.1f, .momentum = 0.9f, .dampening = 0.5f});
  set_grad(p, Tensor::full({1}, 2.0f));
  sgd.step();
  // First step: the buffer is the gradient itself, undampened.
  REQUIRE(p.item() == Approx(1.0 - 0.1 * 2.0));
  sgd.step();  // same grad: buffer = 0.9 * 2 + 0.5 * 2 = 2.8
  REQUIRE(p.item() == Approx(0.8 - 0.1 * 2.8));
}

TEST_CASE("SGD nesterov and weight decay by hand", "[optim][sgd]") {
  Tensor p = Tensor::from_vector({2.0f}, {1}, true);
  SGD sgd({p}, {.lr = 0.1f, .momentum = 0.5f, .weight_decay = 0.25f, .nesterov = true});
  set_grad(p, Tensor::full({1}, 1.0f));
  sgd.step();
  // g = 1 + 0.25 * 2 = 1.5; buffer = 1.5; nesterov step uses 1.5 + 0.5 * 1.5 = 2.25.
  REQUIRE(p.item() == Approx(2.0 - 0.1 * 2.25));
}

TEST_CASE("SGD maximize ascends", "[optim][sgd]") {
  Tensor p = Tensor::from_vector({0.0f, 0.0f}, {2}, true);
  SGD sgd({p}, {.lr = 0.5f, .maximize = true});
  set_grad(p, Tensor::from_vector({1.0f, -2.0f}, {2}));
  sgd.step();
  REQUIRE(p.at({0}) == Approx(0.5));
  REQUIRE(p.at({1}) == Approx(-1.0));
}

TEST_CASE("SGD keeps no state without momentum", "[optim][sgd]") {
  Tensor p = Tensor::ones({2}, true);
  SGD sgd({p}, {.lr = 0.1f});
  set_grad(p, Tensor::ones({2}));
  sgd.step();
  REQUIRE(sgd.state_tensors().empty());
}

TEST_CASE("SGD rejects invalid options, naming option and value", "[optim][sgd]") {
  auto make = [](SGDOptions options) { SGD sgd({Tensor::ones({2}, true)}, options); };
  REQUIRE_THROWS_AS(make({}), ValueError);
  REQUIRE_THROWS_WITH(make({}), Catch::Contains("SGD: lr is required"));
  REQUIRE_THROWS_WITH(make({.lr = -0.1f}), Catch::Contains("SGD: invalid lr: -0.1"));
  REQUIRE_THROWS_WITH(make({.lr = 0.1f, .momentum = -0.9f}),
                      Catch::Contains("invalid momentum: -0.9"));
  REQUIRE_THROWS_WITH(make({.lr = 0.1f, .weight_decay = -1.0f}),
                      Catch::Contains("invalid weight_decay: -1"));
  REQUIRE_THROWS_AS(make({.lr = 0.1f, .nesterov = true}), ValueError);
  REQUIRE_THROWS_WITH(make({.lr = 0.1f, .nesterov = true}),
                      Catch::Contains("nesterov") && Catch::Contains("momentum=0"));
  REQUIRE_THROWS_WITH(make({.lr = 0.1f, .momentum = 0.9f, .dampening = 0.1f, .nesterov = true}),
                      Catch::Contains("nesterov") && Catch::Contains("dampening=0.1"));
  REQUIRE_NOTHROW(make({.lr = 0.0f, .momentum = 0.9f, .nesterov = true}));
}
