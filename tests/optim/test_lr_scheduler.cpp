#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <numbers>

#include "optim/lr_scheduler.h"
#include "optim/sgd.h"
#include "optim_fixture.h"

using namespace tapegrad;
using namespace tapegrad::optim;
using optim_testing::json;

namespace {

// PyTorch keeps the lr as a double; tapegrad's optimizer holds a float. A few float ulps apart.
void require_lr(float actual, double expected) {
  REQUIRE(actual == Approx(expected).epsilon(1e-6).margin(1e-12));
}

// Drives `scheduler` through the fixture's epochs (metrics for ReduceLROnPlateau) and compares
// the optimizer's lr and get_last_lr() at every epoch.
template <typename Scheduler, typename Step>
void require_sequence(const json& c, Optimizer& optimizer, Scheduler& scheduler, Step step) {
  const json& lrs = c.at("lrs");
  INFO(c.at("name").get<std::string>());
  require_lr(optimizer.lr(), lrs[0].get<double>());
  require_lr(scheduler.get_last_lr(), lrs[0].get<double>());
  for (std::size_t epoch = 1; epoch < lrs.size(); ++epoch) {
    INFO("epoch " << epoch);
    step(epoch - 1);
    require_lr(optimizer.lr(), lrs[epoch].get<double>());
    REQUIRE(scheduler.get_last_lr() == optimizer.lr());
    REQUIRE(scheduler.last_epoch() == static_cast<int>(epoch));
  }
}

SGD make_sgd(const json& c) {
  return SGD({Tensor::zeros({1}, true)}, {.lr = c.at("base_lr").get<float>()});
}

}  // namespace

TEST_CASE("StepLR matches PyTorch 1.13", "[optim][lr_scheduler]") {
  const json& c = optim_testing::scheduler_case("step_lr");
  SGD sgd = make_sgd(c);
  StepLR scheduler(sgd, c.at("options").at("step_size").get<int>(),
                   c.at("options").at("gamma").get<float>());
  require_sequence(c, sgd, scheduler, [&](std::size_t) { scheduler.step(); });
}

TEST_CASE("ExponentialLR matches PyTorch 1.13", "[optim][lr_scheduler]") {
  const json& c = optim_testing::scheduler_case("exponential_lr");
  SGD sgd = make_sgd(c);
  ExponentialLR scheduler(sgd, c.at("options").at("gamma").get<float>());
  require_sequence(c, sgd, scheduler, [&](std::size_t) { scheduler.step(); });
}

TEST_CASE("CosineAnnealingLR matches PyTorch 1.13's recursive form past T_max",
          "[optim][lr_scheduler]") {
  for (const char* name : {"cosine_annealing_lr", "cosine_annealing_lr_default_eta_min"}) {
    const json& c = optim_testing::scheduler_case(name);
    SGD sgd = make_sgd(c);
    CosineAnnealingLR scheduler(sgd, c.at("options").at("T_max").get<int>(),
                                c.at("options").at("eta_min").get<float>());
    require_sequence(c, sgd, scheduler, [&](std::size_t) { scheduler.step(); });
  }
}

TEST_CASE("LambdaLR matches PyTorch 1.13", "[optim][lr_scheduler]") {
  const json& c = optim_testing::scheduler_case("lambda_lr");
  SGD sgd = make_sgd(c);
  // The same function as lambda_factor in make_optim_fixtures.py.
  LambdaLR scheduler(sgd, [](int epoch) { return 1.0f / (1.0f + 0.5f * epoch); });
  require_sequence(c, sgd, scheduler, [&](std::size_t) { scheduler.step(); });
}

TEST_CASE("ReduceLROnPlateau matches PyTorch 1.13", "[optim][lr_scheduler]") {
  for (const char* name : {"reduce_lr_on_plateau_min_rel", "reduce_lr_on_plateau_max_abs"}) {
    const json& c = optim_testing::scheduler_case(name);
    const json& o = c.at("options");
    SGD sgd = make_sgd(c);
    ReduceLROnPlateau scheduler(
        sgd, {.mode = o.at("mode") == "min" ? PlateauMode::min : PlateauMode::max,
              .factor = o.at("factor").get<float>(),
              .patience = o.at("patience").get<int>(),
              .threshold = o.at("threshold").get<float>(),
              .threshold_mode = o.at("threshold_mode") == "rel" ? ThresholdMode::rel
                                                                 : ThresholdMode::abs,
              .cooldown = o.at("cooldown").get<int>(),
              .min_lr = o.at("min_lr").get<float>(),
              .eps = o.at("eps").get<float>()});
    const auto metrics = c.at("metrics").get<std::vector<double>>();
    require_sequence(c, sgd, scheduler, [&](std::size_t epoch) { scheduler.step(metrics[epoch]); });
  }
}

TEST_CASE("schedulers by hand", "[optim][lr_scheduler]") {
  SGD sgd({Tensor::zeros({1}, true)}, {.lr = 1.0f});
  SECTION("StepLR") {
    StepLR scheduler(sgd, 2, 0.5f);
    REQUIRE(scheduler.last_epoch() == 0);
    scheduler.step();
    REQUIRE(sgd.lr() == 1.0f);
    scheduler.step();
    REQUIRE(sgd.lr() == 0.5f);
  }
  SECTION("CosineAnnealingLR reaches eta_min at T_max and the base lr at 2 T_max") {
    CosineAnnealingLR scheduler(sgd, 4, 0.25f);
    scheduler.step();
    REQUIRE(sgd.lr() == Approx(0.25 + 0.75 * (1 + std::cos(std::numbers::pi / 4)) / 2));
    for (int i = 0; i < 3; ++i) scheduler.step();
    REQUIRE(sgd.lr() == Approx(0.25));
    for (int i = 0; i < 4; ++i) scheduler.step();
    REQUIRE(sgd.lr() == Approx(1.0));
  }
  SECTION("CosineAnnealingLR is recursive: it scales whatever lr the optimizer has") {
    CosineAnnealingLR scheduler(sgd, 4);
    scheduler.step();
    const double lr1 = sgd.lr();
    sgd.set_lr(static_cast<float>(lr1 / 2));
    scheduler.step();
    // PyTorch's get_lr: (1 + cos(2 pi/4)) / (1 + cos(pi/4)) * lr; the closed form would ignore
    // the change and give (1 + cos(2 pi/4)) / 2.
    REQUIRE(sgd.lr() == Approx(1.0 / (1.0 + std::cos(std::numbers::pi / 4)) * lr1 / 2));
  }
  SECTION("the recursive form builds on the optimizer's current lr, as PyTorch's does") {
    ExponentialLR scheduler(sgd, 0.5f);
    sgd.set_lr(0.2f);
    scheduler.step();
    REQUIRE(sgd.lr() == Approx(0.1f));
    REQUIRE(scheduler.base_lr() == 1.0f);
  }
}

TEST_CASE("ReduceLROnPlateau details", "[optim][lr_scheduler]") {
  SGD sgd({Tensor::zeros({1}, true)}, {.lr = 1.0f});
  SECTION("a NaN metric is never an improvement") {
    ReduceLROnPlateau scheduler(sgd, {.patience = 1});
    scheduler.step(1.0);
    scheduler.step(std::numeric_limits<double>::quiet_NaN());
    REQUIRE(scheduler.num_bad_epochs() == 1);
    REQUIRE(scheduler.best() == 1.0);
    scheduler.step(std::numeric_limits<double>::quiet_NaN());
    REQUIRE(sgd.lr() == Approx(0.1f));
  }
  SECTION("min_lr is a floor") {
    ReduceLROnPlateau scheduler(sgd, {.factor = 0.5f, .patience = 0, .min_lr = 0.3f});
    for (int epoch = 0; epoch < 5; ++epoch) scheduler.step(1.0);
    REQUIRE(sgd.lr() == Approx(0.3f));
  }
  SECTION("a reduction smaller than eps is skipped") {
    sgd.set_lr(1e-8f);
    ReduceLROnPlateau scheduler(sgd, {.factor = 0.5f, .patience = 0});
    scheduler.step(1.0);
    scheduler.step(1.0);
    REQUIRE(sgd.lr() == 1e-8f);
  }
}

TEST_CASE("schedulers reject invalid arguments, naming them", "[optim][lr_scheduler]") {
  SGD sgd({Tensor::zeros({1}, true)}, {.lr = 1.0f});
  REQUIRE_THROWS_AS(StepLR(sgd, 0), ValueError);
  REQUIRE_THROWS_WITH(StepLR(sgd, 0), Catch::Contains("StepLR: invalid step_size: 0"));
  REQUIRE_THROWS_WITH(ExponentialLR(sgd, -0.5f), Catch::Contains("ExponentialLR: invalid gamma"));
  REQUIRE_THROWS_WITH(CosineAnnealingLR(sgd, 0),
                      Catch::Contains("CosineAnnealingLR: invalid T_max"));
  REQUIRE_THROWS_WITH(LambdaLR(sgd, nullptr), Catch::Contains("LambdaLR"));
  REQUIRE_THROWS_WITH(ReduceLROnPlateau(sgd, {.factor = 1.0f}),
                      Catch::Contains("ReduceLROnPlateau: invalid factor: 1"));
  REQUIRE_THROWS_WITH(ReduceLROnPlateau(sgd, {.patience = -1}), Catch::Contains("patience"));
  REQUIRE(sgd.lr() == 1.0f);  // a failed constructor did not step
}
