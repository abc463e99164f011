#pragma once
// Reads tests/fixtures/losses.json (written by tests/fixtures/make_loss_fixtures.py from PyTorch
// 1.13) and checks a loss against each of its cases: the loss value, then the gradients after a
// backward seeded with the case's grad_output.
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ops/losses.h"
#include "test_util.h"

namespace tapegrad::testing {

inline std::vector<nlohmann::json> loss_fixture_cases(const std::string& op) {
  std::ifstream file(TAPEGRAD_FIXTURE_DIR "/losses.json");
  REQUIRE(file.good());
  const nlohmann::json fixtures = nlohmann::json::parse(file);
  std::vector<nlohmann::json> cases;
  for (const nlohmann::json& c : fixtures.at("cases")) {
    if (c.at("op") == op) cases.push_back(c);
  }
  return cases;
}

// {"shape": [...], "data": [...]} with null standing for NaN. Undefined when the key is absent.
inline Tensor fixture_tensor(const nlohmann::json& c, const std::string& key) {
  if (!c.contains(key)) return Tensor();
  const nlohmann::json& t = c.at(key);
  std::vector<float> values;
  for (const nlohmann::json& v : t.at("data")) {
    values.push_back(v.is_null() ? std::numeric_limits<float>::quiet_NaN()
                                 : static_cast<float>(v.get<double>()));
  }
  return Tensor::from_vector(values, t.at("shape").get<Shape>());
}

inline Reduction fixture_reduction(const nlohmann::json& c) {
  const std::string name = c.at("reduction");
  if (name == "none") return Reduction::None;
  if (name == "sum") return Reduction::Sum;
  REQUIRE(name == "mean");
  return Reduction::Mean;
}

// The loss under test, given the case and its leaves: input, and target when the case's target is
// a tensor (undefined for class-index losses, whose targets are integers in the JSON).
using LossCall = std::function<Tensor(const nlohmann::json&, const Tensor&, const Tensor&)>;

// Returns how many cases ran, so a test can insist there were some.
inline int check_loss_fixtures(const std::string& op, const LossCall& call, double rtol = 1e-5,
                               double atol = 1e-6) {
  int checked = 0;
  for (const nlohmann::json& c : loss_fixture_cases(op)) {
    INFO("fixture case: " << c.at("name").get<std::string>());
    Tensor input = fixture_tensor(c, "input");
    input.requires_grad_();
    Tensor target = c.at("target").is_object() ? fixture_tensor(c, "target") : Tensor();
    if (c.contains("grad_target")) target.requires_grad_();
    const Tensor loss = call(c, input, target);
    REQUIRE_ALL_CLOSE(loss, fixture_tensor(c, "loss"), rtol, atol);
    loss.backward(fixture_tensor(c, "grad_output"));
    REQUIRE_ALL_CLOSE(input.grad(), fixture_tensor(c, "grad_input"), rtol, atol);
    if (c.contains("grad_target")) {
      REQUIRE_ALL_CLOSE(target.grad(), fixture_tensor(c, "grad_target"), rtol, atol);
    }
    ++checked;
  }
  return checked;
}

}  // namespace tapegrad::testing
