#pragma once
// Shared by tests/optim: reads tests/fixtures/optim.json (written by make_optim_fixtures.py with
// PyTorch 1.13) and replays its optimizer cases.
#include <catch2/catch.hpp>

#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "autograd/tensor.h"
#include "optim/adagrad.h"
#include "optim/adam.h"
#include "optim/optimizer.h"
#include "optim/rmsprop.h"
#include "optim/sgd.h"
#include "test_util.h"

namespace tapegrad::optim_testing {

using nlohmann::json;

inline const json& fixtures() {
  static const json loaded = [] {
    std::ifstream in(TAPEGRAD_FIXTURE_DIR "/optim.json");
    if (!in) throw std::runtime_error("cannot open " TAPEGRAD_FIXTURE_DIR "/optim.json");
    return json::parse(in);
  }();
  return loaded;
}

inline std::vector<const json*> optimizer_cases(const std::string& optimizer) {
  std::vector<const json*> cases;
  for (const json& c : fixtures().at("optimizers")) {
    if (optimizer.empty() || c.at("optimizer") == optimizer) cases.push_back(&c);
  }
  return cases;
}

inline const json& scheduler_case(const std::string& name) {
  for (const json& c : fixtures().at("schedulers")) {
    if (c.at("name") == name) return c;
  }
  throw std::runtime_error("no scheduler fixture named " + name);
}

inline Shape shape_of(const json& shape) { return shape.get<Shape>(); }

inline Tensor tensor_of(const json& values, const json& shape, bool requires_grad = false) {
  return Tensor::from_vector(values.get<std::vector<float>>(), shape_of(shape), requires_grad);
}

// Replaces a leaf's gradient: backward of a leaf accumulates the seed into a fresh grad buffer.
inline void set_grad(Tensor& param, const Tensor& grad) {
  param.zero_grad();
  param.backward(grad);
}

inline std::vector<Tensor> initial_params(const json& c) {
  std::vector<Tensor> params;
  for (std::size_t i = 0; i < c.at("shapes").size(); ++i) {
    params.push_back(tensor_of(c.at("initial")[i], c.at("shapes")[i], true));
  }
  return params;
}

// Sets the grads of step `step` (JSON null = no grad for that parameter).
inline void set_step_grads(const json& c, std::size_t step, std::vector<Tensor>& params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    const json& grad = c.at("grads")[step][i];
    if (grad.is_null()) {
      params[i].zero_grad();
    } else {
      set_grad(params[i], tensor_of(grad, c.at("shapes")[i]));
    }
  }
}

// Builds the optimizer a fixture case describes. Every option key must be understood, so a
// fixture option can't be silently ignored.
inline std::unique_ptr<optim::Optimizer> make_optimizer(const json& c, std::vector<Tensor> params) {
  const json& options = c.at("options");
  const std::string kind = c.at("optimizer");
  std::set<std::string> unused;
  for (const auto& item : options.items()) unused.insert(item.key());
  auto number = [&](const char* key, float fallback) {
    unused.erase(key);
    return options.contains(key) ? options.at(key).get<float>() : fallback;
  };
  auto flag = [&](const char* key) {
    unused.erase(key);
    return options.contains(key) && options.at(key).get<bool>();
  };
  auto betas = [&](std::array<float, 2> fallback) {
    unused.erase("betas");
    return options.contains("betas") ? options.at("betas").get<std::array<float, 2>>() : fallback;
  };
  std::unique_ptr<optim::Optimizer> made;
  if (kind == "SGD") {
    made = std::make_unique<optim::SGD>(
        std::move(params),
        optim::SGDOptions{.lr = number("lr", -1.0f), .momentum = number("momentum", 0.0f),
                          .dampening = number("dampening", 0.0f),
                          .weight_decay = number("weight_decay", 0.0f),
                          .nesterov = flag("nesterov"), .maximize = flag("maximize")});
  } else if (kind == "Adam") {
    const optim::AdamOptions defaults;
    made = std::make_unique<optim::Adam>(
        std::move(params),
        optim::AdamOptions{.lr = number("lr", defaults.lr), .betas = betas(defaults.betas),
                           .eps = number("eps", defaults.eps),
                           .weight_decay = number("weight_decay", defaults.weight_decay),
                           .amsgrad = flag("amsgrad"), .maximize = flag("maximize")});
  } else if (kind == "AdamW") {
    const optim::AdamWOptions defaults;
    made = std::make_unique<optim::AdamW>(
        std::move(params),
        optim::AdamWOptions{.lr = number("lr", defaults.lr), .betas = betas(defaults.betas),
                            .eps = number("eps", defaults.eps),
                            .weight_decay = number("weight_decay", defaults.weight_decay),
                            .amsgrad = flag("amsgrad"), .maximize = flag("maximize")});
  } else if (kind == "RMSprop") {
    const optim::RMSpropOptions defaults;
    made = std::make_unique<optim::RMSprop>(
        std::move(params),
        optim::RMSpropOptions{.lr = number("lr", defaults.lr),
                              .alpha = number("alpha", defaults.alpha),
                              .eps = number("eps", defaults.eps),
                              .weight_decay = number("weight_decay", defaults.weight_decay),
                              .momentum = number("momentum", defaults.momentum),
                              .centered = flag("centered"), .maximize = flag("maximize")});
  } else if (kind == "Adagrad") {
    const optim::AdagradOptions defaults;
    made = std::make_unique<optim::Adagrad>(
        std::move(params),
        optim::AdagradOptions{
            .lr = number("lr", defaults.lr), .lr_decay = number("lr_decay", defaults.lr_decay),
            .weight_decay = number("weight_decay", defaults.weight_decay),
            .initial_accumulator_value =
                number("initial_accumulator_value", defaults.initial_accumulator_value),
            .eps = number("eps", defaults.eps), .maximize = flag("maximize")});
  }
  if (!made) throw std::runtime_error("unknown optimizer in fixture: " + kind);
  if (!unused.empty()) throw std::runtime_error("fixture option not mapped: " + *unused.begin());
  return made;
}

// The update rules round where PyTorch's ops round, so the replays agree bit for bit here (see the
// bit-exact test in test_optimizer.cpp); this tolerance (a few float32 ulps, tighter than the
// 1e-5 / 1e-6 one would need for a different rounding order) leaves room for another libm's pow.
constexpr double kRtol = 1e-6;
constexpr double kAtol = 1e-7;

inline void require_params_match(const json& c, std::size_t step,
                                 const std::vector<Tensor>& params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    INFO(c.at("name").get<std::string>() << ", after step " << step + 1 << ", parameter " << i);
    REQUIRE_ALL_CLOSE(params[i], tensor_of(c.at("params_after_step")[step][i], c.at("shapes")[i]),
                      kRtol, kAtol);
  }
}

// Runs every step of a fixture case and compares the parameters after each one with PyTorch's.
inline void replay_case(const json& c) {
  std::vector<Tensor> params = initial_params(c);
  auto optimizer = make_optimizer(c, params);
  for (std::size_t step = 0; step < c.at("grads").size(); ++step) {
    set_step_grads(c, step, params);
    optimizer->step();
    require_params_match(c, step, params);
  }
}

}  // namespace tapegrad::optim_testing
