// Anomaly mode (torch.autograd.detect_anomaly): off by default; under DetectAnomalyGuard the
// first NaN or infinity a recorded op produces, in forward or backward, throws naming the op, its
// number among the ops recorded under the guard, its shapes and its inputs.
#include <cmath>
#include <limits>
#include <thread>

#include "autograd/grad_mode.h"
#include "ops/ops.h"
#include "test_util.h"

using namespace tapegrad;
using Catch::Matchers::Contains;

namespace {

Tensor leaf(std::vector<float> values, const std::string& name = "") {
  const auto n = static_cast<std::int64_t>(values.size());
  Tensor t = Tensor::from_vector(values, {n}, true);
  if (!name.empty()) t.set_name(name);
  return t;
}

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

}  // namespace

TEST_CASE("anomaly mode is off by default: NaN flows through silently", "[anomaly]") {
  REQUIRE_FALSE(is_anomaly_enabled());
  Tensor x = leaf({-1.0f, 1.0f});
  Tensor y = log(x);
  REQUIRE(std::isnan(y.data()[0]));
  sum(y).backward();
  REQUIRE(x.grad().to_vector() == std::vector<float>{-1.0f, 1.0f});
}

TEST_CASE("the guard turns the mode on for its scope, nests, and is per thread", "[anomaly]") {
  {
    DetectAnomalyGuard outer;
    REQUIRE(is_anomaly_enabled());
    REQUIRE(anomaly_options().check_inf);
    {
      DetectAnomalyGuard inner({.check_inf = false});
      REQUIRE_FALSE(anomaly_options().check_inf);
    }
    REQUIRE(anomaly_options().check_inf);
    bool other_thread_enabled = true;
    std::thread([&] { other_thread_enabled = is_anomaly_enabled(); }).join();
    REQUIRE_FALSE(other_thread_enabled);
  }
  REQUIRE_FALSE(is_anomaly_enabled());
  set_detect_anomaly(true);
  REQUIRE(is_anomaly_enabled());
  set_detect_anomaly(false);
  REQUIRE_FALSE(is_anomaly_enabled());
}

TEST_CASE("forward: the first op producing NaN throws, named with its number and inputs",
          "[anomaly]") {
  DetectAnomalyGuard guard;
  Tensor x = leaf({2.0f, -1.0f, 3.0f}, "x");
  Tensor y = mul(x, 2.0f);   // op #1
  Tensor shifted = add(y, 1.0f);  // op #2: {5, -1, 7}
  REQUIRE_THROWS_AS(log(shifted), AutogradError);
  try {
    Tensor out = log(mul(x, 2.0f));  // the numbering goes on: #3 mul, #4 log
    FAIL("log of a negative value did not throw");
  } catch (const AutogradError& error) {
    const std::string message = error.what();
    INFO(message);
    REQUIRE_THAT(message, Contains("anomaly mode: the forward of 'log' (op #5 recorded under "
                                   "anomaly mode) produced NaN at flat index 1 (1 of 3 elements "
                                   "not finite) in its output 0 of shape [3]"));
    REQUIRE_THAT(message, Contains("inputs: 0: [3] from 'mul' #4"));
    REQUIRE_THAT(message, Contains("none of its inputs did"));
  }
  // The leaf's name and role show up when it is the input.
  REQUIRE_THROWS_WITH(log(x), Contains("inputs: 0: [3] 'x' (leaf)"));
}

TEST_CASE("forward: a non-finite input from outside the graph is named as the source",
          "[anomaly]") {
  DetectAnomalyGuard guard;
  Tensor weight = leaf({1.0f, 1.0f}, "weight");
  Tensor data = Tensor::from_vector({1.0f, kNaN}, {2});
  REQUIRE_THROWS_WITH(mul(weight, data),
                      Contains("the forward of 'mul'") &&
                          Contains("1: [2] (constant)") &&
                          Contains("its input 1 already held NaN at flat index 1") &&
                          Contains("came from outside the checked ops"));
}

TEST_CASE("forward: infinities count unless check_inf is off, unrecorded ops are not checked",
          "[anomaly]") {
  Tensor x = leaf({0.0f, 1.0f});
  {
    DetectAnomalyGuard guard;
    REQUIRE_THROWS_WITH(log(x), Contains("produced -inf at flat index 0"));
    NoGradGuard no_grad;
    REQUIRE(std::isinf(log(x).data()[0]));  // nothing recorded, nothing checked
  }
  DetectAnomalyGuard guard({.check_inf = false});
  Tensor mask = Tensor::from_vector({1.0f, 0.0f}, {2});
  Tensor masked = masked_fill(x, mask, -std::numeric_limits<float>::infinity());
  Tensor probabilities = softmax(masked, 0);  // the -inf is on purpose
  REQUIRE(probabilities.to_vector() == std::vector<float>{0.0f, 1.0f});
  REQUIRE_THROWS_WITH(log(mul(x, -1.0f)),
                      Contains("produced NaN at flat index 1 (1 of 2 elements NaN)"));
}

TEST_CASE("backward: the first backward returning NaN throws, naming the op", "[anomaly]") {
  DetectAnomalyGuard guard;
  Tensor x = leaf({0.0f, 4.0f}, "x");
  Tensor root = sqrt(x);  // op #1, finite: {0, 2}
  // d/dx sqrt(x) = 0.5 / sqrt(x): 0.5/0 * 0 is NaN although the forward and the incoming gradient
  // are finite.
  Tensor loss = sum(mul(root, 0.0f));  // #2 mul, #3 sum
  try {
    loss.backward();
    FAIL("a NaN gradient did not throw");
  } catch (const AutogradError& error) {
    const std::string message = error.what();
    INFO(message);
    REQUIRE_THAT(message, Contains("anomaly mode: the backward of 'sqrt' (op #1 recorded under "
                                   "anomaly mode; inputs: 0: [2] 'x' (leaf); outputs: [2]) "
                                   "returned NaN at flat index 0"));
    REQUIRE_THAT(message, Contains("in the gradient of its input 0 of shape [2]"));
    REQUIRE_THAT(message, Contains("the gradients arriving at its outputs were finite"));
  }
  REQUIRE_FALSE(x.grad().defined());  // the throw came before anything reached the leaf
}

TEST_CASE("backward: nodes recorded before the guard are still checked, from their edges",
          "[anomaly]") {
  Tensor x = leaf({0.0f, 1.0f}, "x");
  Tensor loss = sum(sqrt(x));  // recorded with the mode off; gradient at 0 is inf
  DetectAnomalyGuard guard;
  REQUIRE_THROWS_WITH(loss.backward(),
                      Contains("the backward of 'sqrt' (recorded before anomaly mode was on; "
                               "inputs: 0: [2] 'x' (leaf); outputs: [2]) returned inf"));
}

TEST_CASE("backward: a non-finite seed or hook result throws", "[anomaly]") {
  DetectAnomalyGuard guard;
  Tensor x = leaf({1.0f, 2.0f});
  Tensor y = mul(x, 2.0f);
  REQUIRE_THROWS_WITH(y.backward(Tensor::from_vector({kNaN, 1.0f}, {2})),
                      Contains("anomaly mode: backward was given a gradient of shape [2] holding "
                               "NaN at flat index 0"));
  y.register_hook([](const Tensor& grad) { return div(grad, Tensor::zeros(grad.shape())); });
  REQUIRE_THROWS_WITH(sum(y).backward(),
                      Contains("anomaly mode: hook 0 of the tensor of shape [2] (output 0 of "
                               "'mul') returned a gradient holding inf"));
}

TEST_CASE("with finite values the guard changes no result", "[anomaly]") {
  Generator gen(4);
  Tensor x = Tensor::uniform({3, 5}, 0.5f, 2.0f, gen, true);
  Tensor w = Tensor::uniform({5, 2}, -1.0f, 1.0f, gen, true);
  auto run = [&] {
    x.zero_grad();
    w.zero_grad();
    Tensor loss = sum(log(sigmoid(matmul(sqrt(x), w))));
    loss.backward();
    return std::vector<std::vector<float>>{{loss.item()}, x.grad().to_vector(), w.grad().to_vector()};
  };
  const auto plain = run();
  DetectAnomalyGuard guard;
  REQUIRE(run() == plain);
}
