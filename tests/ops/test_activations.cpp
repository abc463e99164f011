// sigmoid, tanh, relu.
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

double sigmoid_ref(double v) { return 1.0 / (1.0 + std::exp(-v)); }

std::vector<NamedOp> activation_ops() {
  return {{"sigmoid", [](const Tensor& x) { return sigmoid(x); }, sigmoid_ref,
           [](double v) { return sigmoid_ref(v) * (1.0 - sigmoid_ref(v)); }},
          {"tanh", [](const Tensor& x) { return tanh(x); }, [](double v) { return std::tanh(v); },
           [](double v) { return 1.0 / (std::cosh(v) * std::cosh(v)); }},
          {"relu", [](const Tensor& x) { return relu(x); },
           [](double v) { return v > 0.0 ? v : 0.0; },
           [](double v) { return v > 0.0 ? 1.0 : 0.0; }}};
}

// Uniform in +-[0.05, 4]: away from relu's kink at 0 by far more than gradcheck's step.
Tensor away_from_zero(const Shape& shape, Generator& generator) {
  Tensor t = Tensor::uniform(shape, 0.05f, 4.0f, generator);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    if (generator.uniform() < 0.5f) t.data()[i] = -t.data()[i];
  }
  t.requires_grad_();
  return t;
}

}  // namespace

TEST_CASE("activations: forward matches double-precision references", "[activations]") {
  Generator generator(41);
  Tensor x = Tensor::uniform({37}, -8.0f, 8.0f, generator);
  for (const NamedOp& op : activation_ops()) {
    INFO(op.name);
    Tensor out = op.op(x);
    REQUIRE(out.shape() == x.shape());
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      REQUIRE(out.data()[i] == Approx(op.reference(x.data()[i])).epsilon(1e-6).margin(1e-7));
    }
  }
}

TEST_CASE("activations: backward matches the closed-form derivative", "[activations]") {
  Generator generator(42);
  for (const NamedOp& op : activation_ops()) {
    INFO(op.name);
    Tensor x = away_from_zero({3, 5}, generator);
    Tensor g = Tensor::uniform({3, 5}, -1.0f, 1.0f, generator);
    op.op(x).backward(g);
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const double expected = g.data()[i] * op.derivative(x.data()[i]);
      REQUIRE(x.grad().data()[i] == Approx(expected).epsilon(1e-5).margin(1e-7));
    }
  }
}

TEST_CASE("activations: gradcheck", "[activations]") {
  Generator generator(43);
  for (const NamedOp& op : activation_ops()) {
    INFO(op.name);
    Tensor x = away_from_zero({2, 3, 2}, generator);
    REQUIRE_GRADCHECK([&](const std::vector<Tensor>& in) { return op.op(in[0]); }, {x});
    Tensor scalar = Tensor::scalar(-0.7f, true);
    REQUIRE_GRADCHECK([&](const std::vector<Tensor>& in) { return op.op(in[0]); }, {scalar});
  }
}

TEST_CASE("activations: extreme inputs at +-50 give finite values and gradients",
          "[activations]") {
  for (const NamedOp& op : activation_ops()) {
    INFO(op.name);
    Tensor x = Tensor::from_vector({-50.0f, 50.0f, -1000.0f, 1000.0f}, {4}, true);
    Tensor y = op.op(x);
    REQUIRE(testing::all_finite(y));
    for (std::int64_t i = 0; i < 4; ++i) {
      REQUIRE(y.data()[i] == Approx(op.reference(x.data()[i])).margin(1e-6));
    }
    y.backward(Tensor::ones({4}));
    REQUIRE(testing::all_finite(x.grad()));
    for (std::int64_t i = 0; i < 4; ++i) {
      REQUIRE(x.grad().data()[i] == Approx(op.derivative(x.data()[i])).margin(1e-6));
    }
  }
  // sigmoid(-50) is tiny but not flushed to a wrong sign or NaN.
  Tensor s = sigmoid(Tensor::from_vector({-50.0f}, {1}));
  REQUIRE(s.item() >= 0.0f);
  REQUIRE(s.item() == Approx(std::exp(-50.0)).epsilon(1e-4));
}

TEST_CASE("activations: values and slopes at 0", "[activations]") {
  Tensor x = Tensor::zeros({1}, true);
  Tensor s = sigmoid(x);
  REQUIRE(s.item() == 0.5f);
  s.backward(Tensor::ones({1}));
  REQUIRE(x.grad().item() == 0.25f);

  x.zero_grad();
  Tensor t = tanh(x);
  REQUIRE(t.item() == 0.0f);
  t.backward(Tensor::ones({1}));
  REQUIRE(x.grad().item() == 1.0f);

  // relu'(0) = 0, as in PyTorch.
  x.zero_grad();
  Tensor r = relu(x);
  REQUIRE(r.item() == 0.0f);
  r.backward(Tensor::ones({1}));
  REQUIRE(x.grad().item() == 0.0f);
}

TEST_CASE("activations: relu keeps NaN", "[activations]") {
  Tensor r = relu(Tensor::from_vector({NAN, -1.0f, 2.0f}, {3}));
  REQUIRE(std::isnan(r.data()[0]));
  REQUIRE(r.data()[1] == 0.0f);
  REQUIRE(r.data()[2] == 2.0f);
}

TEST_CASE("activations: the same tensor used twice accumulates", "[activations]") {
  // tanh(x) * tanh(x): gradient 2 tanh(x) (1 - tanh(x)^2).
  Tensor x = Tensor::from_vector({-0.5f, 0.8f}, {2}, true);
  Tensor t = tanh(x);
  mul(t, t).backward(Tensor::ones({2}));
  for (int i = 0; i < 2; ++i) {
    const double y = std::tanh(static_cast<double>(x.data()[i]));
    REQUIRE(x.grad().data()[i] == Approx(2.0 * y * (1.0 - y * y)).epsilon(1e-5));
  }
}

TEST_CASE("activations: nothing is recorded under NoGradGuard", "[activations]") {
  Tensor x = Tensor::ones({3}, true);
  NoGradGuard no_grad;
  for (const NamedOp& op : activation_ops()) {
    INFO(op.name);
    Tensor out = op.op(x);
    REQUIRE_FALSE(out.requires_grad());
    REQUIRE(out.grad_fn() == nullptr);
  }
}

TEST_CASE("activations: bad input", "[activations]") {
  Tensor undefined;
  for (const NamedOp& op : activation_ops()) {
    INFO(op.name);
    REQUIRE_THROWS_AS(op.op(undefined), ValueError);
    REQUIRE_THROWS_WITH(op.op(undefined), Catch::StartsWith(op.name + ":"));
  }
}
