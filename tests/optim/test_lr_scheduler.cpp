#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <numbers>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "optim/adam.h"
#include "optim/checkpoint.h"
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

namespace {

std::string scratch_file(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "tapegrad_test_lr_scheduler";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// lr after each of `epochs` more epochs (ReduceLROnPlateau: fed metrics[0..epochs)).
template <typename Scheduler>
std::vector<float> continue_schedule(Scheduler& scheduler, Optimizer& optimizer, int epochs,
                                     const std::vector<double>& metrics = {}) {
  std::vector<float> lrs;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    if constexpr (std::is_same_v<Scheduler, ReduceLROnPlateau>)
      scheduler.step(metrics.at(static_cast<std::size_t>(epoch)));
    else
      scheduler.step();
    lrs.push_back(optimizer.lr());
  }
  return lrs;
}

}  // namespace

TEST_CASE("a scheduler saved with its optimizer resumes the same schedule",
          "[optim][lr_scheduler][checkpoint]") {
  // Each scheduler runs 5 epochs, is saved with its optimizer, and runs 9 more; a fresh
  // optimizer (other lr) and scheduler (same options) loaded from the file must set the same
  // 9 lrs bit for bit. The 5 epochs put StepLR and CosineAnnealingLR mid-period.
  using Make = std::function<std::unique_ptr<LRScheduler>(Optimizer&)>;
  const std::pair<const char*, Make> kinds[] = {
      {"StepLR", [](Optimizer& o) { return std::make_unique<StepLR>(o, 3, 0.5f); }},
      {"ExponentialLR", [](Optimizer& o) { return std::make_unique<ExponentialLR>(o, 0.9f); }},
      {"CosineAnnealingLR",
       [](Optimizer& o) { return std::make_unique<CosineAnnealingLR>(o, 4, 0.01f); }},
      {"LambdaLR", [](Optimizer& o) {
         return std::make_unique<LambdaLR>(o, [](int epoch) { return 1.0f / (1.0f + epoch); });
       }}};
  for (const auto& [kind, make] : kinds) {
    INFO(kind);
    SGD sgd({Tensor::zeros({1}, true)}, {.lr = 0.3f});
    auto scheduler = make(sgd);
    REQUIRE(std::string(scheduler->name()) == kind);
    continue_schedule(*scheduler, sgd, 5);
    const std::string path = scratch_file(std::string(kind) + ".safetensors");
    optim::save(sgd, *scheduler, path);
    const std::vector<float> expected = continue_schedule(*scheduler, sgd, 9);

    SGD resumed_sgd({Tensor::zeros({1}, true)}, {.lr = 7.0f});
    auto resumed = make(resumed_sgd);
    optim::load(resumed_sgd, *resumed, path);
    REQUIRE(resumed->last_epoch() == 5);
    REQUIRE(resumed->base_lr() == 0.3f);
    REQUIRE(continue_schedule(*resumed, resumed_sgd, 9) == expected);
    REQUIRE(resumed->last_epoch() == scheduler->last_epoch());
  }
}

TEST_CASE("ReduceLROnPlateau saved with its optimizer resumes its counters",
          "[optim][lr_scheduler][checkpoint]") {
  // Saved with one bad epoch counted and the cooldown running: a scheduler that lost either
  // would cut the lr at a different epoch.
  const std::vector<double> before = {1.0, 0.5, 0.6, 0.7, 0.8, 0.4, 0.45};
  const std::vector<double> after = {0.5, 0.5, 0.5, 0.3, 0.35, 0.36, 0.37, 0.38};
  const ReduceLROnPlateauOptions options{.factor = 0.5f, .patience = 1, .cooldown = 2};
  SGD sgd({Tensor::zeros({1}, true)}, {.lr = 1.0f});
  ReduceLROnPlateau scheduler(sgd, options);
  continue_schedule(scheduler, sgd, static_cast<int>(before.size()), before);
  REQUIRE(scheduler.num_bad_epochs() == 1);
  const std::string path = scratch_file("plateau.safetensors");
  optim::save(sgd, scheduler, path);
  const std::vector<float> expected =
      continue_schedule(scheduler, sgd, static_cast<int>(after.size()), after);
  REQUIRE(expected.front() != expected.back());  // the continuation does cut the lr

  SGD resumed_sgd({Tensor::zeros({1}, true)}, {.lr = 1.0f});
  ReduceLROnPlateau resumed(resumed_sgd, options);
  optim::load(resumed_sgd, resumed, path);
  REQUIRE(resumed.best() == 0.4);
  REQUIRE(resumed.num_bad_epochs() == 1);
  REQUIRE(resumed.last_epoch() == static_cast<int>(before.size()));
  REQUIRE(continue_schedule(resumed, resumed_sgd, static_cast<int>(after.size()), after) ==
          expected);
}

TEST_CASE("a checkpoint for another scheduler, or none, is refused and changes nothing",
          "[optim][lr_scheduler][checkpoint]") {
  // Adam after one step has state tensors (step, exp_avg, exp_avg_sq) that a half-done load
  // would overwrite.
  auto stepped_adam = [](float lr) {
    Tensor param = Tensor::full({3}, 1.0f, true);
    auto adam = std::make_unique<Adam>(std::vector<Tensor>{param}, AdamOptions{.lr = lr});
    param.backward(Tensor::full({3}, lr));
    adam->step();
    return adam;
  };
  auto saved = stepped_adam(0.3f);
  StepLR step_lr(*saved, 3, 0.5f);
  for (int epoch = 0; epoch < 4; ++epoch) step_lr.step();
  const std::string with_step_lr = scratch_file("with_step_lr.safetensors");
  const std::string without = scratch_file("without_scheduler.safetensors");
  optim::save(*saved, step_lr, with_step_lr);
  optim::save(*saved, without);

  auto other = stepped_adam(7.0f);
  const NamedTensors state_before = other->state_tensors();
  ExponentialLR exponential(*other, 0.9f);
  ReduceLROnPlateau plateau(*other);
  REQUIRE_THROWS_WITH(optim::load(*other, exponential, with_step_lr),
                      Catch::Contains("the state of StepLR") && Catch::Contains("ExponentialLR"));
  REQUIRE_THROWS_WITH(optim::load(*other, plateau, with_step_lr),
                      Catch::Contains("StepLR") && Catch::Contains("ReduceLROnPlateau"));
  REQUIRE_THROWS_WITH(optim::load(*other, exponential, without),
                      Catch::Contains("no scheduler state") && Catch::Contains("ExponentialLR"));
  REQUIRE(other->lr() == 7.0f);
  REQUIRE(exponential.last_epoch() == 0);
  REQUIRE(plateau.last_epoch() == 0);
  const NamedTensors state_after = other->state_tensors();
  REQUIRE(state_after.size() == state_before.size());
  for (std::size_t i = 0; i < state_after.size(); ++i) {
    INFO(state_after[i].first);
    REQUIRE(state_after[i].second.to_vector() == state_before[i].second.to_vector());
  }

  // Another optimizer's file is refused by the plain load too, scheduler entries or not.
  SGD sgd({Tensor::zeros({3}, true)}, {.lr = 1.0f});
  REQUIRE_THROWS_WITH(optim::load(sgd, with_step_lr),
                      Catch::Contains("Adam") && Catch::Contains("SGD"));
  // The plain optimizer load ignores the scheduler's entries.
  optim::load(*other, with_step_lr);
  REQUIRE(other->lr() == saved->lr());
}

TEST_CASE("scheduler checkpoints keep infinite bests and subnormal learning rates",
          "[optim][lr_scheduler][checkpoint]") {
  // A max-mode ReduceLROnPlateau saved before its first epoch has best = -inf; an lr decayed
  // into float's subnormal range must load back as the same number.
  const float tiny_lr = 1e-40f;
  REQUIRE(std::fpclassify(tiny_lr) == FP_SUBNORMAL);
  SGD sgd({Tensor::zeros({1}, true)}, {.lr = tiny_lr});
  ReduceLROnPlateau plateau(sgd, {.mode = PlateauMode::max});
  REQUIRE(plateau.best() == -std::numeric_limits<double>::infinity());
  const std::string path = scratch_file("plateau_inf.safetensors");
  optim::save(sgd, plateau, path);

  SGD resumed_sgd({Tensor::zeros({1}, true)}, {.lr = 1.0f});
  ReduceLROnPlateau resumed(resumed_sgd, {.mode = PlateauMode::max});
  resumed.step(5.0);  // best 5: the load must bring -inf back
  optim::load(resumed_sgd, resumed, path);
  REQUIRE(resumed.best() == -std::numeric_limits<double>::infinity());
  REQUIRE(resumed.last_epoch() == 0);
  REQUIRE(resumed_sgd.lr() == tiny_lr);
  REQUIRE(resumed.get_last_lr() == tiny_lr);
}

TEST_CASE("load_state rejects an invalid state, naming the field, and changes nothing",
          "[optim][lr_scheduler][checkpoint]") {
  SGD sgd({Tensor::zeros({1}, true)}, {.lr = 0.3f});
  StepLR scheduler(sgd, 3, 0.5f);
  scheduler.step();
  const SchedulerState good = scheduler.state();
  REQUIRE_THROWS_WITH(scheduler.load_state({.last_epoch = -2, .base_lrs = {0.3f}, .last_lrs = {0.3f}}),
                      Catch::Contains("StepLR.load_state: invalid last_epoch: -2"));
  REQUIRE_THROWS_WITH(scheduler.load_state({.last_epoch = 2, .base_lrs = {NAN}, .last_lrs = {0.3f}}),
                      Catch::Contains("invalid base_lr: nan"));
  REQUIRE_THROWS_WITH(scheduler.load_state({.last_epoch = 2, .base_lrs = {0.3f}, .last_lrs = {-1.0f}}),
                      Catch::Contains("invalid last_lr: -1"));
  REQUIRE_THROWS_WITH(scheduler.load_state({.last_epoch = 2, .base_lrs = {INFINITY}, .last_lrs = {0.3f}}),
                      Catch::Contains("invalid base_lr: inf"));
  REQUIRE(scheduler.last_epoch() == good.last_epoch);
  REQUIRE(scheduler.base_lrs() == good.base_lrs);

  ReduceLROnPlateau plateau(sgd);
  REQUIRE_THROWS_WITH(plateau.load_state({.last_epoch = 1, .best = NAN}),
                      Catch::Contains("ReduceLROnPlateau.load_state: invalid best"));
  REQUIRE_THROWS_WITH(plateau.load_state({.last_epoch = 1, .best = 1.0, .num_bad_epochs = -1}),
                      Catch::Contains("invalid num_bad_epochs: -1"));
  REQUIRE(plateau.last_epoch() == 0);
  REQUIRE(std::isinf(plateau.best()));

  // A file whose scheduler entries are damaged: refused, naming the entry.
  const std::string path = scratch_file("damaged.safetensors");
  optim::save(sgd, scheduler, path);
  // Rewrite the metadata value "scheduler.last_epoch":"1" to a non-number of the same length.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string key = "\"scheduler.last_epoch\":\"1\"";
  const auto at = bytes.find(key);
  REQUIRE(at != std::string::npos);
  bytes[at + key.size() - 2] = 'x';
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  SGD other({Tensor::zeros({1}, true)}, {.lr = 7.0f});
  StepLR fresh(other, 3, 0.5f);
  REQUIRE_THROWS_WITH(optim::load(other, fresh, path),
                      Catch::Contains("no valid scheduler.last_epoch"));
  REQUIRE(other.lr() == 7.0f);
  REQUIRE(fresh.last_epoch() == 0);

  // An infinite optimizer lr ("0.3" rewritten as "inf", the same length) is refused too.
  optim::save(sgd, scheduler, path);
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string lr_entry = "\"param_group.0.lr\":\"0.3\"";
  const auto lr_at = bytes.find(lr_entry);
  REQUIRE(lr_at != std::string::npos);
  bytes.replace(lr_at + lr_entry.size() - 4, 3, "inf");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  REQUIRE_THROWS_WITH(optim::load(other, fresh, path),
                      Catch::Contains("param group 0") && Catch::Contains("'lr'") &&
                          Catch::Contains("'inf'"));
  REQUIRE(other.lr() == 7.0f);
}
