#include <catch2/catch.hpp>

#include <cmath>

#include "optim/adagrad.h"
#include "optim_fixture.h"

using namespace tapegrad;
using optim::Adagrad;
using optim::AdagradOptions;
using optim_testing::set_grad;

TEST_CASE("Adagrad matches PyTorch 1.13 on every fixture case", "[optim][adagrad]") {
  const auto cases = optim_testing::optimizer_cases("Adagrad");
  REQUIRE(cases.size() >= 1);
  for (const auto* c : cases) optim_testing::replay_case(*c);
}

TEST_CASE("Adagrad by hand: accumulated squares and lr decay", "[optim][adagrad]") {
  Tensor p = Tensor::from_vector({1.0f}, {1}, true);
  Adagrad adagrad({p}, {.lr = 0.1f, .lr_decay = 0.5f, .initial_accumulator_value = 7.0f,
                        .eps = 0.0f});
  set_grad(p, Tensor::full({1}, 3.0f));
  adagrad.step();  // sum = 7 + 9 = 16, clr = 0.1
  REQUIRE(p.item() == Approx(1.0 - 0.1 * 3.0 / 4.0));
  set_grad(p, Tensor::full({1}, 3.0f));
  adagrad.step();  // sum = 25, clr = 0.1 / 1.5
  REQUIRE(p.item() == Approx(0.925 - 0.1 / 1.5 * 3.0 / 5.0));
}

TEST_CASE("Adagrad creates its state in the constructor, as PyTorch does", "[optim][adagrad]") {
  Adagrad adagrad({Tensor::ones({2, 2}, true)}, {.initial_accumulator_value = 0.25f});
  const auto state = adagrad.state_tensors();
  REQUIRE(state.size() == 2);
  REQUIRE(state[0].first == "0.step");
  REQUIRE(state[0].second.item() == 0.0f);
  REQUIRE(state[1].first == "0.sum");
  REQUIRE_ALL_CLOSE(state[1].second, Tensor::full({2, 2}, 0.25f), 0.0, 0.0);
}

TEST_CASE("Adagrad rejects invalid options, naming option and value", "[optim][adagrad]") {
  auto make = [](AdagradOptions options) { Adagrad a({Tensor::ones({2}, true)}, options); };
  REQUIRE_THROWS_AS(make({.lr = -1.0f}), ValueError);
  REQUIRE_THROWS_WITH(make({.lr = -1.0f}), Catch::Contains("Adagrad: invalid lr: -1"));
  REQUIRE_THROWS_WITH(make({.lr_decay = -0.1f}), Catch::Contains("invalid lr_decay: -0.1"));
  REQUIRE_THROWS_WITH(make({.weight_decay = -0.1f}), Catch::Contains("invalid weight_decay"));
  REQUIRE_THROWS_WITH(make({.initial_accumulator_value = -1.0f}),
                      Catch::Contains("invalid initial_accumulator_value: -1"));
  REQUIRE_THROWS_WITH(make({.eps = -1e-10f}), Catch::Contains("invalid eps: -1e-10"));
}
