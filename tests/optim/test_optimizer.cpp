// Behaviour shared by every optimizer (optim/optimizer.h), run over all the fixture cases.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

#include "autograd/grad_mode.h"
#include "optim/adam.h"
#include "optim/lr_scheduler.h"
#include "optim/sgd.h"
#include "optim_fixture.h"

using namespace tapegrad;
using optim::NamedTensors;
using optim_testing::json;
using optim_testing::set_grad;

namespace {

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.numel())) == 0;
}

bool same_state(const NamedTensors& a, const NamedTensors& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || !bitwise_equal(a[i].second, b[i].second)) return false;
  }
  return true;
}

std::vector<Tensor> copies_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> copies;
  for (const Tensor& p : params) {
    copies.push_back(Tensor::from_vector(p.to_vector(), p.shape(), true));
  }
  return copies;
}

}  // namespace

TEST_CASE("every optimizer reproduces PyTorch 1.13 bit for bit", "[optim][optimizer]") {
  // The rounding model of optimizer.h, checked exactly: a different fusion or scalar precision
  // shows up here as a few ulps even when the tolerance-based replays pass.
  for (const json* c : optim_testing::optimizer_cases("")) {
    std::vector<Tensor> params = optim_testing::initial_params(*c);
    auto optimizer = optim_testing::make_optimizer(*c, params);
    for (std::size_t step = 0; step < c->at("grads").size(); ++step) {
      optim_testing::set_step_grads(*c, step, params);
      optimizer->step();
      for (std::size_t i = 0; i < params.size(); ++i) {
        INFO(c->at("name").get<std::string>() << " step " << step + 1 << " param " << i);
        const Tensor expected =
            optim_testing::tensor_of(c->at("params_after_step")[step][i], c->at("shapes")[i]);
        INFO("got " << params[i].to_string() << ", PyTorch " << expected.to_string());
        REQUIRE(bitwise_equal(params[i], expected));
      }
    }
  }
}

TEST_CASE("step skips parameters without a gradient and bumps the others' version once",
          "[optim][optimizer]") {
  for (const json* c : optim_testing::optimizer_cases("")) {
    INFO(c->at("name").get<std::string>());
    std::vector<Tensor> params = optim_testing::initial_params(*c);
    auto optimizer = optim_testing::make_optimizer(*c, params);
    const auto state_before = optimizer->state_tensors();
    const Tensor untouched_before = Tensor::from_vector(params[1].to_vector(), params[1].shape());
    set_grad(params[0], optim_testing::tensor_of(c->at("grads")[0][0], c->at("shapes")[0]));
    params[1].zero_grad();
    const auto version0 = params[0].version();
    const auto version1 = params[1].version();
    optimizer->step();
    REQUIRE(params[0].version() == version0 + 1);
    REQUIRE(params[1].version() == version1);
    REQUIRE(bitwise_equal(params[1], untouched_before));
    // Parameter 1's state neither appears nor advances.
    std::size_t entries_for_1_before = 0;
    for (const auto& [name, tensor] : state_before) entries_for_1_before += name.starts_with("1.");
    std::size_t entries_for_1_after = 0;
    for (const auto& [name, tensor] : optimizer->state_tensors()) {
      if (!name.starts_with("1.")) continue;
      ++entries_for_1_after;
      if (name == "1.step") REQUIRE(tensor.item() == 0.0f);
    }
    REQUIRE(entries_for_1_after == entries_for_1_before);
  }
}

namespace {

// Sets the grads of fixture step `step` with element 3 of parameter `poisoned`'s grad replaced by
// `bad` (element 3 is [1, 1] of the [3, 2] parameter 0 and [3] of the [4] parameter 1).
void set_poisoned_grads(const json& c, std::size_t step, std::vector<Tensor>& params,
                        std::size_t poisoned, float bad) {
  optim_testing::set_step_grads(c, step, params);
  std::vector<float> values = params[poisoned].grad().to_vector();
  values[3] = bad;
  set_grad(params[poisoned], Tensor::from_vector(values, params[poisoned].shape()));
}

}  // namespace

TEST_CASE("check_finite refuses a NaN or infinite gradient, names it, and changes nothing",
          "[optim][optimizer][check_finite]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<std::tuple<float, std::string>> bad_values = {
      {nan, "nan"}, {inf, "inf"}, {-inf, "-inf"}};
  for (const json* c : optim_testing::optimizer_cases("")) {
    for (const auto& [bad, bad_text] : bad_values) {
      for (std::size_t poisoned : {0u, 1u}) {
        // Refused as the very first step (lazily created state must not appear) and after one.
        for (std::size_t good_steps : {0u, 1u}) {
          INFO(c->at("name").get<std::string>() << ", " << bad_text << " in parameter " << poisoned
                                                << " after " << good_steps << " good steps");
          std::vector<Tensor> params = optim_testing::initial_params(*c);
          std::vector<Tensor> twin_params = copies_of(params);  // never sees the refused step
          auto optimizer = optim_testing::make_optimizer(*c, params);
          auto twin = optim_testing::make_optimizer(*c, twin_params);
          REQUIRE_FALSE(optimizer->check_finite());  // opt-in
          optimizer->set_check_finite(true);
          REQUIRE(optimizer->check_finite());
          for (std::size_t step = 0; step < good_steps; ++step) {
            optim_testing::set_step_grads(*c, step, params);
            optim_testing::set_step_grads(*c, step, twin_params);
            optimizer->step();
            twin->step();
          }

          set_poisoned_grads(*c, good_steps, params, poisoned, bad);
          const std::vector<Tensor> params_before = copies_of(params);
          const NamedTensors state_before = optimizer->state_tensors();
          std::vector<std::uint64_t> versions_before;
          for (const Tensor& p : params) versions_before.push_back(p.version());
          const float lr_before = optimizer->lr();

          const std::string where =
              poisoned == 0 ? "parameter 0 [3, 2] holds " + bad_text + " at index [1, 1]"
                            : "parameter 1 [4] holds " + bad_text + " at index [3]";
          REQUIRE_THROWS_AS(optimizer->step(), ValueError);
          REQUIRE_THROWS_WITH(optimizer->step(),
                              Catch::Contains(c->at("optimizer").get<std::string>() +
                                              ": step refused: the gradient of " + where) &&
                                  Catch::Contains("no parameter or state was changed"));
          for (std::size_t i = 0; i < params.size(); ++i) {
            REQUIRE(bitwise_equal(params[i], params_before[i]));
            REQUIRE(params[i].version() == versions_before[i]);
          }
          REQUIRE(same_state(optimizer->state_tensors(), state_before));
          REQUIRE(optimizer->lr() == lr_before);

          // Nothing hidden changed either: the next finite step matches the twin's bit for bit.
          optim_testing::set_step_grads(*c, good_steps, params);
          optim_testing::set_step_grads(*c, good_steps, twin_params);
          optimizer->step();
          twin->step();
          for (std::size_t i = 0; i < params.size(); ++i) {
            REQUIRE(bitwise_equal(params[i], twin_params[i]));
          }
          REQUIRE(same_state(optimizer->state_tensors(), twin->state_tensors()));
        }
      }
    }
  }
}

TEST_CASE("check_finite names a named parameter and leaves the scheduler alone",
          "[optim][optimizer][check_finite]") {
  Tensor weight = Tensor::ones({2, 2}, true);
  weight.set_name("weight_hh_l0");
  Tensor bias = Tensor::ones({2}, true);
  optim::Adam adam({bias, weight}, {.lr = 0.1f});
  optim::StepLR scheduler(adam, 1, 0.5f);
  adam.set_check_finite(true);
  set_grad(bias, Tensor::ones({2}));
  set_grad(weight, Tensor::from_vector({0.0f, 1.0f, 2.0f, std::nanf("")}, {2, 2}));
  const auto scheduler_before = scheduler.state();
  // A training loop's step; the scheduler's step after it is never reached.
  const auto train_step = [&] {
    adam.step();
    scheduler.step();
  };
  REQUIRE_THROWS_WITH(train_step(), Catch::Contains("Adam: step refused: the gradient of "
                                                    "parameter 1 'weight_hh_l0' [2, 2] holds nan "
                                                    "at index [1, 1]"));
  REQUIRE(scheduler.state().last_epoch == scheduler_before.last_epoch);
  REQUIRE(scheduler.get_last_lrs() == scheduler_before.last_lrs);
  REQUIRE(adam.lr() == 0.1f);
  REQUIRE(adam.state_tensors().empty());  // Adam's lazily created moments never appeared
  REQUIRE(bias.to_vector() == std::vector<float>{1.0f, 1.0f});

  // Once the gradient is finite again the same loop runs.
  set_grad(weight, Tensor::ones({2, 2}));
  train_step();
  REQUIRE(scheduler.state().last_epoch == scheduler_before.last_epoch + 1);
  REQUIRE(bias.to_vector() != std::vector<float>{1.0f, 1.0f});
}

TEST_CASE("without check_finite a NaN gradient steps as in PyTorch",
          "[optim][optimizer][check_finite]") {
  // Off by default: the NaN reaches the weight (and the moments), as torch.optim would let it.
  for (const json* c : optim_testing::optimizer_cases("")) {
    INFO(c->at("name").get<std::string>());
    std::vector<Tensor> params = optim_testing::initial_params(*c);
    auto optimizer = optim_testing::make_optimizer(*c, params);
    set_poisoned_grads(*c, 0, params, 0, std::numeric_limits<float>::quiet_NaN());
    const auto version = params[0].version();
    REQUIRE_NOTHROW(optimizer->step());
    REQUIRE(params[0].version() == version + 1);
    REQUIRE(std::isnan(params[0].data()[3]));
    REQUIRE(std::isfinite(params[0].data()[0]));  // elementwise rules: only that element
  }
}

TEST_CASE("step leaves grad mode as it found it", "[optim][optimizer]") {
  Tensor p = Tensor::ones({2}, true);
  optim::Adam adam({p});
  set_grad(p, Tensor::ones({2}));
  REQUIRE(is_grad_enabled());
  adam.step();
  REQUIRE(is_grad_enabled());
  {
    NoGradGuard no_grad;
    adam.step();
    REQUIRE_FALSE(is_grad_enabled());
  }
}

TEST_CASE("zero_grad drops every gradient", "[optim][optimizer]") {
  Tensor a = Tensor::ones({2}, true);
  Tensor b = Tensor::ones({3}, true);
  optim::SGD sgd({a, b}, {.lr = 0.1f});
  set_grad(a, Tensor::ones({2}));
  set_grad(b, Tensor::ones({3}));
  REQUIRE(a.grad().defined());
  sgd.zero_grad();
  REQUIRE_FALSE(a.grad().defined());
  REQUIRE_FALSE(b.grad().defined());
  const auto version = a.version();
  sgd.step();  // nothing to do
  REQUIRE(a.version() == version);
}

TEST_CASE("the parameter list is validated", "[optim][optimizer]") {
  Tensor a = Tensor::ones({2}, true);
  Tensor b = Tensor::ones({2}, true);
  REQUIRE_THROWS_AS(optim::SGD({a, b, a}, {.lr = 0.1f}), ValueError);
  REQUIRE_THROWS_WITH(optim::SGD({a, b, a}, {.lr = 0.1f}),
                      Catch::Contains("SGD") && Catch::Contains("parameter 2") &&
                          Catch::Contains("parameter 0"));
  // A detached handle shares the storage: it would be stepped twice as well.
  REQUIRE_THROWS_WITH(optim::Adam({a, a.detach()}), Catch::Contains("Adam: parameter 1"));
  REQUIRE_THROWS_WITH(optim::Adam({}), Catch::Contains("empty parameter list"));
  REQUIRE_THROWS_AS(optim::Adam({a, Tensor()}), ValueError);
  Tensor non_leaf = a.clone();
  REQUIRE_THROWS_AS(optim::Adam({non_leaf}), ValueError);
  REQUIRE_THROWS_WITH(optim::Adam({non_leaf}), Catch::Contains("non-leaf"));
  REQUIRE_NOTHROW(optim::Adam({a, b}));
}

TEST_CASE("set_lr changes the next step and rejects a negative lr", "[optim][optimizer]") {
  Tensor p = Tensor::zeros({1}, true);
  optim::SGD sgd({p}, {.lr = 0.1f});
  sgd.set_lr(0.5f);
  REQUIRE(sgd.lr() == 0.5f);
  set_grad(p, Tensor::ones({1}));
  sgd.step();
  REQUIRE(p.item() == -0.5f);
  REQUIRE_THROWS_AS(sgd.set_lr(-1.0f), ValueError);
  REQUIRE_THROWS_WITH(sgd.set_lr(-1.0f), Catch::Contains("SGD: invalid lr: -1"));
  REQUIRE(sgd.lr() == 0.5f);
}

TEST_CASE("a fresh optimizer loaded with saved state continues identically",
          "[optim][optimizer]") {
  constexpr std::size_t kSplit = 5;  // after the split, step 6 leaves parameter 1 without grad
  for (const json* c : optim_testing::optimizer_cases("")) {
    INFO(c->at("name").get<std::string>());
    std::vector<Tensor> params = optim_testing::initial_params(*c);
    auto original = optim_testing::make_optimizer(*c, params);
    for (std::size_t step = 0; step < kSplit; ++step) {
      optim_testing::set_step_grads(*c, step, params);
      original->step();
    }
    const NamedTensors saved = original->state_tensors();
    const bool stateless =
        c->at("optimizer") == "SGD" && c->at("options").at("momentum").get<float>() == 0.0f;
    REQUIRE(saved.empty() == stateless);

    std::vector<Tensor> resumed_params = copies_of(params);
    auto resumed = optim_testing::make_optimizer(*c, resumed_params);
    resumed->load_state_tensors(saved);
    REQUIRE(same_state(resumed->state_tensors(), saved));
    for (std::size_t step = kSplit; step < c->at("grads").size(); ++step) {
      optim_testing::set_step_grads(*c, step, params);
      optim_testing::set_step_grads(*c, step, resumed_params);
      original->step();
      resumed->step();
      optim_testing::require_params_match(*c, step, resumed_params);
      for (std::size_t i = 0; i < params.size(); ++i) {
        REQUIRE(bitwise_equal(resumed_params[i], params[i]));
      }
    }
  }
}

TEST_CASE("state_tensors returns copies", "[optim][optimizer]") {
  Tensor p = Tensor::ones({2}, true);
  optim::Adam adam({p});
  set_grad(p, Tensor::ones({2}));
  adam.step();
  auto state = adam.state_tensors();
  state[1].second.data()[0] = 123.0f;  // "0.exp_avg"
  REQUIRE(adam.state_tensors()[1].second.data()[0] != 123.0f);
}

TEST_CASE("loading with no entries for a parameter gives it fresh state", "[optim][optimizer]") {
  Tensor trained = Tensor::zeros({1}, true);
  optim::Adam adam({trained}, {.lr = 0.1f});
  for (int i = 0; i < 3; ++i) {
    set_grad(trained, Tensor::full({1}, -1.0f));
    adam.step();
  }
  adam.load_state_tensors({});
  REQUIRE(adam.state_tensors().empty());
  const float before = trained.item();
  set_grad(trained, Tensor::full({1}, 2.0f));
  adam.step();
  // A fresh Adam's first step is lr * sign(g), whatever came before.
  REQUIRE(trained.item() == Approx(before - 0.1f));
}

TEST_CASE("a bad state is rejected naming the entry, and nothing is loaded", "[optim][optimizer]") {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2}, true);
  Tensor b = Tensor::from_vector({1, -1, 2, -2}, {4}, true);
  optim::Adam adam({a, b}, {.lr = 0.01f});
  for (int i = 0; i < 2; ++i) {
    set_grad(a, Tensor::full({3, 2}, 0.5f));
    set_grad(b, Tensor::full({4}, -0.25f));
    adam.step();
  }
  const NamedTensors good = adam.state_tensors();
  REQUIRE(good.size() == 6);

  // Valid entries with different values come first, so a loader that copied as it validated
  // would have changed the state before reaching the bad entry.
  auto with_changed_values = [&] {
    NamedTensors changed;
    for (const auto& [name, tensor] : good) {
      Tensor copy = Tensor::from_vector(tensor.to_vector(), tensor.shape());
      copy.data()[0] += 1.0f;
      changed.emplace_back(name, copy);
    }
    return changed;
  };
  auto replace = [&](const std::string& name, Tensor tensor) {
    NamedTensors state = with_changed_values();
    for (auto& entry : state) {
      if (entry.first == name) entry.second = std::move(tensor);
    }
    // Move the bad entry to the end.
    std::stable_partition(state.begin(), state.end(),
                          [&](const auto& entry) { return entry.first != name; });
    return state;
  };
  auto rename = [&](const std::string& from, const std::string& to) {
    NamedTensors state = with_changed_values();
    for (auto& entry : state) {
      if (entry.first == from) entry.first = to;
    }
    std::stable_partition(state.begin(), state.end(),
                          [&](const auto& entry) { return entry.first != to; });
    return state;
  };
  auto require_unchanged = [&] { REQUIRE(same_state(adam.state_tensors(), good)); };

  SECTION("wrong shape") {
    REQUIRE_THROWS_AS(adam.load_state_tensors(replace("1.exp_avg", Tensor::zeros({5}))),
                      ShapeError);
    REQUIRE_THROWS_WITH(adam.load_state_tensors(replace("1.exp_avg", Tensor::zeros({5}))),
                        Catch::Contains("Adam: load_state_tensors") &&
                            Catch::Contains("'1.exp_avg'") && Catch::Contains("[5]") &&
                            Catch::Contains("[4]"));
    require_unchanged();
  }
  SECTION("an int64 entry (an I64 safetensors entry), last") {
    REQUIRE_THROWS_AS(
        adam.load_state_tensors(replace("1.exp_avg", Tensor::zeros({4}, Dtype::int64))),
        TypeError);
    REQUIRE_THROWS_WITH(
        adam.load_state_tensors(replace("1.exp_avg", Tensor::zeros({4}, Dtype::int64))),
        "Adam: load_state_tensors: state '1.exp_avg' is int64, expected float32");
    require_unchanged();
  }
  SECTION("step with more than one element") {
    REQUIRE_THROWS_AS(adam.load_state_tensors(replace("0.step", Tensor::zeros({2}))), ShapeError);
    require_unchanged();
  }
  SECTION("step that is not a count") {
    REQUIRE_THROWS_WITH(adam.load_state_tensors(replace("1.step", Tensor::full({1}, 2.5f))),
                        Catch::Contains("'1.step'") && Catch::Contains("2.5"));
    REQUIRE_THROWS_AS(adam.load_state_tensors(replace("1.step", Tensor::full({1}, -1.0f))),
                      ValueError);
    require_unchanged();
  }
  SECTION("unknown slot") {
    REQUIRE_THROWS_AS(adam.load_state_tensors(rename("1.exp_avg", "1.momentum_buffer")),
                      ValueError);
    REQUIRE_THROWS_WITH(adam.load_state_tensors(rename("1.exp_avg", "1.momentum_buffer")),
                        Catch::Contains("'1.momentum_buffer'") && Catch::Contains("exp_avg_sq"));
    require_unchanged();
  }
  SECTION("parameter index out of range or malformed") {
    for (const char* bad : {"2.exp_avg", "-1.exp_avg", "x.exp_avg", "exp_avg", "1exp_avg",
                            ".exp_avg", "1.", "01x.exp_avg"}) {
      INFO(bad);
      REQUIRE_THROWS_WITH(adam.load_state_tensors(rename("1.exp_avg", bad)),
                          Catch::Contains(std::string("'") + bad + "'"));
    }
    require_unchanged();
  }
  SECTION("an entry given twice") {
    NamedTensors state = with_changed_values();
    state.push_back(state.front());
    REQUIRE_THROWS_WITH(adam.load_state_tensors(state), Catch::Contains("given twice"));
    require_unchanged();
  }
  SECTION("incomplete state for a parameter") {
    NamedTensors state = with_changed_values();
    state.erase(std::remove_if(state.begin(), state.end(),
                               [](const auto& e) { return e.first == "1.exp_avg_sq"; }),
                state.end());
    REQUIRE_THROWS_AS(adam.load_state_tensors(state), ValueError);
    REQUIRE_THROWS_WITH(adam.load_state_tensors(state),
                        Catch::Contains("parameter 1") && Catch::Contains("incomplete") &&
                            Catch::Contains("exp_avg_sq"));
    require_unchanged();
  }
  SECTION("undefined tensor") {
    REQUIRE_THROWS_AS(adam.load_state_tensors(replace("0.exp_avg", Tensor())), ValueError);
    require_unchanged();
  }
  SECTION("the same state is accepted") {
    adam.load_state_tensors(with_changed_values());
    REQUIRE(same_state(adam.state_tensors(), with_changed_values()));
  }
}
