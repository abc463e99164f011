// exp, log, sqrt.
#include <cmath>
#include <functional>
#include <string>

#include "autograd/grad_mode.h"
#include "ops/ops.h"
#include "tests/test_util.h"

using namespace tapegrad;

namespace {

struct NamedOp {
  std::string name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> reference;
  std::function<double(double)> derivative;
};

std::vector<NamedOp> unary_ops() {
  return {{"exp", [](const Tensor& x) { return exp(x); }, [](double v) { return std::exp(v); },
           [](double v) { return std::exp(v); }},
          {"log", [](const Tensor& x) { return log(x); }, [](double v) { return std::log(v); },
           [](double v) { return 1.0 / v; }},
          {"sqrt", [](const Tensor& x) { return sqrt(x); }, [](double v) { return std::sqrt(v); },
           [](double v) { return 0.5 / std::sqrt(v); }}};
}

}  // namespace

TEST_CASE("exp/log/sqrt: forward matches the std functions", "[exp_log]") {
  Generator generator(31);
  // 37 elements: not a multiple of any SIMD width, so a vector kernel's tail is covered too.
  Tensor x = Tensor::uniform({37}, 0.05f, 8.0f, generator);
  for (const NamedOp& op : unary_ops()) {
    INFO(op.name);
    Tensor out = op.op(x);
    REQUIRE(out.shape() == x.shape());
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      REQUIRE(out.data()[i] == Approx(op.reference(x.data()[i])).epsilon(1e-6));
    }
  }
  Tensor negative = Tensor::uniform({2, 3}, -8.0f, 0.0f, generator);
  Tensor e = exp(negative);
  for (std::int64_t i = 0; i < 6; ++i) {
    REQUIRE(e.data()[i] == Approx(std::exp(static_cast<double>(negative.data()[i]))).epsilon(1e-6));
  }
}

TEST_CASE("exp/log/sqrt: backward matches the closed-form derivative", "[exp_log]") {
  Generator generator(32);
  for (const NamedOp& op : unary_ops()) {
    INFO(op.name);
    Tensor x = Tensor::uniform({2, 4}, 0.1f, 3.0f, generator, true);
    Tensor g = Tensor::uniform({2, 4}, -1.0f, 1.0f, generator);
    op.op(x).backward(g);
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const double expected = g.data()[i] * op.derivative(x.data()[i]);
      REQUIRE(x.grad().data()[i] == Approx(expected).epsilon(1e-5));
    }
  }
}

TEST_CASE("exp/log/sqrt: gradcheck", "[exp_log]") {
  Generator generator(33);
  for (const NamedOp& op : unary_ops()) {
    INFO(op.name);
    Tensor x = Tensor::uniform({3, 4}, 0.5f, 2.5f, generator, true);
    REQUIRE_GRADCHECK([&](const std::vector<Tensor>& in) { return op.op(in[0]); }, {x});
    Tensor scalar = Tensor::scalar(1.25f, true);
    REQUIRE_GRADCHECK([&](const std::vector<Tensor>& in) { return op.op(in[0]); }, {scalar});
  }
  Tensor mixed = Tensor::uniform({5}, -3.0f, 3.0f, generator, true);
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return exp(in[0]); }, {mixed});
}

TEST_CASE("exp: extreme inputs", "[exp_log]") {
  // exp(+-50) is finite in float32 (5e21 and 2e-22), as is its gradient.
  Tensor x = Tensor::from_vector({-50.0f, 50.0f, -100.0f}, {3}, true);
  Tensor y = exp(x);
  REQUIRE(testing::all_finite(y));
  REQUIRE(y.data()[0] == Approx(std::exp(-50.0)).epsilon(1e-5));
  REQUIRE(y.data()[1] == Approx(std::exp(50.0)).epsilon(1e-5));
  REQUIRE(y.data()[2] >= 0.0f);  // underflows towards 0, never negative or NaN
  y.backward(Tensor::ones({3}));
  REQUIRE(testing::all_finite(x.grad()));
  REQUIRE(x.grad().data()[1] == Approx(std::exp(50.0)).epsilon(1e-5));
  // Past ~88.7 float32 overflows: inf is the correct answer, not NaN.
  Tensor big = exp(Tensor::from_vector({100.0f}, {1}));
  REQUIRE(std::isinf(big.item()));
}

TEST_CASE("exp/log/sqrt: domain edges follow IEEE/PyTorch", "[exp_log]") {
  Tensor zero = Tensor::zeros({1}, true);
  Tensor l = log(zero);
  REQUIRE(std::isinf(l.item()));
  REQUIRE(l.item() < 0.0f);
  REQUIRE(std::isnan(log(Tensor::from_vector({-1.0f}, {1})).item()));
  l.backward(Tensor::ones({1}));
  REQUIRE(std::isinf(zero.grad().item()));

  Tensor zero2 = Tensor::zeros({1}, true);
  Tensor s = sqrt(zero2);
  REQUIRE(s.item() == 0.0f);
  s.backward(Tensor::ones({1}));
  REQUIRE(std::isinf(zero2.grad().item()));
  REQUIRE(std::isnan(sqrt(Tensor::from_vector({-1.0f}, {1})).item()));
}

TEST_CASE("exp/log/sqrt: the same tensor used twice accumulates", "[exp_log]") {
  // log(x) + log(x) has gradient 2/x.
  Tensor x = Tensor::from_vector({0.5f, 4.0f}, {2}, true);
  add(log(x), log(x)).backward(Tensor::ones({2}));
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::from_vector({4.0f, 0.5f}, {2}));
}

TEST_CASE("exp/log/sqrt: nothing is recorded under NoGradGuard", "[exp_log]") {
  Tensor x = Tensor::full({3}, 2.0f, true);
  NoGradGuard no_grad;
  for (const NamedOp& op : unary_ops()) {
    INFO(op.name);
    Tensor out = op.op(x);
    REQUIRE_FALSE(out.requires_grad());
    REQUIRE(out.grad_fn() == nullptr);
  }
}

TEST_CASE("exp/log/sqrt: bad input", "[exp_log]") {
  Tensor undefined;
  for (const NamedOp& op : unary_ops()) {
    INFO(op.name);
    REQUIRE_THROWS_AS(op.op(undefined), ValueError);
    REQUIRE_THROWS_WITH(op.op(undefined), Catch::StartsWith(op.name + ":"));
  }
}
