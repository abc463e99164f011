// add, sub, mul, div (tensor-tensor, broadcasting) and the tensor-scalar add/mul.
#include <cmath>
#include <functional>
#include <string>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "ops/ops.h"
#include "tests/test_util.h"

using namespace tapegrad;

namespace {

using BinaryOp = std::function<Tensor(const Tensor&, const Tensor&)>;
using ScalarFn = std::function<float(float, float)>;

struct NamedOp {
  std::string name;
  BinaryOp op;
  ScalarFn reference;
};

std::vector<NamedOp> binary_ops() {
  return {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); },
       [](float a, float b) { return a + b; }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); },
       [](float a, float b) { return a - b; }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); },
       [](float a, float b) { return a * b; }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); },
       [](float a, float b) { return a / b; }},
  };
}

// Values in +-[0.5, 2]: safe divisors, and products of a few of them stay well scaled.
Tensor away_from_zero(const Shape& shape, Generator& generator, bool requires_grad = true) {
  Tensor t = Tensor::uniform(shape, 0.5f, 2.0f, generator);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    if (generator.uniform() < 0.5f) t.data()[i] = -t.data()[i];
  }
  t.requires_grad_(requires_grad);
  return t;
}

// Expected broadcast result for a [2,1,4] (op) [3,1] -> [2,3,4], by explicit index arithmetic.
Tensor expected_2x1x4_with_3x1(const Tensor& a, const Tensor& b, const ScalarFn& f) {
  Tensor out = Tensor::empty({2, 3, 4});
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 4; ++k) {
        out.data()[(i * 3 + j) * 4 + k] = f(a.data()[i * 4 + k], b.data()[j]);
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("binary ops: forward on equal shapes matches scalar arithmetic", "[binary]") {
  Generator generator(1);
  Tensor a = away_from_zero({3, 5}, generator, false);
  Tensor b = away_from_zero({3, 5}, generator, false);
  for (const NamedOp& op : binary_ops()) {
    INFO(op.name);
    Tensor out = op.op(a, b);
    REQUIRE(out.shape() == Shape{3, 5});
    for (std::int64_t i = 0; i < out.numel(); ++i) {
      REQUIRE(out.data()[i] == op.reference(a.data()[i], b.data()[i]));
    }
  }
}

TEST_CASE("binary ops: forward broadcasts as PyTorch", "[binary]") {
  Generator generator(2);
  for (const NamedOp& op : binary_ops()) {
    INFO(op.name);
    {
      // [2,3] op [3]: b repeats along rows.
      Tensor a = away_from_zero({2, 3}, generator, false);
      Tensor b = away_from_zero({3}, generator, false);
      Tensor out = op.op(a, b);
      REQUIRE(out.shape() == Shape{2, 3});
      for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 3; ++j) {
          REQUIRE(out.at({i, j}) == op.reference(a.at({i, j}), b.at({j})));
        }
      }
      // [3] op [2,3]: the broadcast operand on the left.
      Tensor flipped = op.op(b, a);
      for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 3; ++j) {
          REQUIRE(flipped.at({i, j}) == op.reference(b.at({j}), a.at({i, j})));
        }
      }
    }
    {
      // [2,1,4] op [3,1]: both operands broadcast.
      Tensor a = away_from_zero({2, 1, 4}, generator, false);
      Tensor b = away_from_zero({3, 1}, generator, false);
      REQUIRE_ALL_CLOSE(op.op(a, b), expected_2x1x4_with_3x1(a, b, op.reference), 0.0, 0.0);
    }
    {
      // 0-D with [2,3], both ways round, and 0-D with 0-D.
      Tensor s = Tensor::scalar(1.5f);
      Tensor m = away_from_zero({2, 3}, generator, false);
      Tensor left = op.op(s, m);
      Tensor right = op.op(m, s);
      REQUIRE(left.shape() == Shape{2, 3});
      for (std::int64_t i = 0; i < 6; ++i) {
        REQUIRE(left.data()[i] == op.reference(1.5f, m.data()[i]));
        REQUIRE(right.data()[i] == op.reference(m.data()[i], 1.5f));
      }
      Tensor both = op.op(s, Tensor::scalar(-0.5f));
      REQUIRE(both.shape() == Shape{});
      REQUIRE(both.item() == op.reference(1.5f, -0.5f));
    }
  }
}

TEST_CASE("binary ops: gradcheck w.r.t. both inputs, equal and broadcast shapes", "[binary]") {
  const std::vector<std::pair<Shape, Shape>> shape_pairs = {
      {{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{3}, {2, 3}}, {{2, 1, 4}, {3, 1}},
      {{}, {2, 3}},     {{2, 3}, {}},  {{}, {}},      {{4, 1}, {1, 5}},
  };
  Generator generator(3);
  for (const NamedOp& op : binary_ops()) {
    for (const auto& [a_shape, b_shape] : shape_pairs) {
      INFO(op.name << " " << format_shape(a_shape) << " with " << format_shape(b_shape));
      Tensor a = away_from_zero(a_shape, generator);
      Tensor b = away_from_zero(b_shape, generator);
      REQUIRE_GRADCHECK([&](const std::vector<Tensor>& in) { return op.op(in[0], in[1]); },
                        {a, b});
    }
  }
}

TEST_CASE("binary ops: gradcheck w.r.t. one input only", "[binary]") {
  Generator generator(4);
  for (const NamedOp& op : binary_ops()) {
    INFO(op.name);
    Tensor a = away_from_zero({2, 3}, generator, true);
    Tensor b = away_from_zero({3}, generator, false);
    REQUIRE_GRADCHECK([&](const std::vector<Tensor>& in) { return op.op(in[0], in[1]); }, {a, b});
    Tensor c = away_from_zero({2, 3}, generator, false);
    Tensor d = away_from_zero({2, 1}, generator, true);
    REQUIRE_GRADCHECK([&](const std::vector<Tensor>& in) { return op.op(in[0], in[1]); }, {c, d});
  }
}

TEST_CASE("binary ops: broadcast gradients are summed over the repeated dims", "[binary]") {
  // a [2,3] + b [3] with upstream gradient g: a.grad = g, b.grad = column sums of g.
  Tensor a = Tensor::zeros({2, 3}, true);
  Tensor b = Tensor::zeros({3}, true);
  Tensor g = Tensor::from_vector({1, 2, 3, 10, 20, 30}, {2, 3});
  add(a, b).backward(g);
  REQUIRE_ALL_CLOSE(a.grad(), g);
  REQUIRE_ALL_CLOSE(b.grad(), Tensor::from_vector({11, 22, 33}, {3}));

  // mul with a 0-D factor: its gradient is sum(g * x).
  Tensor x = Tensor::from_vector({1, -2, 3}, {3}, true);
  Tensor s = Tensor::scalar(2.0f, true);
  mul(x, s).backward(Tensor::from_vector({1, 1, 2}, {3}));
  REQUIRE(s.grad().shape() == Shape{});
  REQUIRE(s.grad().item() == Approx(1 - 2 + 6));
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::from_vector({2, 2, 4}, {3}));
}

TEST_CASE("binary ops: the same tensor used twice accumulates both gradients", "[binary]") {
  Tensor x = Tensor::from_vector({-1.5f, 0.5f, 2.0f}, {3}, true);
  Tensor ones = Tensor::ones({3});
  mul(x, x).backward(ones);
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::from_vector({-3.0f, 1.0f, 4.0f}, {3}));

  x.zero_grad();
  add(x, x).backward(ones);
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::full({3}, 2.0f));

  x.zero_grad();
  sub(x, x).backward(ones);
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::zeros({3}));

  // x / x = 1: the two paths cancel, 1/x - x/x^2 = 0.
  x.zero_grad();
  div(x, x).backward(ones);
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::zeros({3}), 0.0, 1e-6);
}

TEST_CASE("binary ops: division gradient stays finite for tiny divisors", "[binary]") {
  // b*b underflows to 0 in float32 here; (a/b)/b does not.
  Tensor a = Tensor::from_vector({1e-20f}, {1}, true);
  Tensor b = Tensor::from_vector({1e-20f}, {1}, true);
  div(a, b).backward(Tensor::ones({1}));
  REQUIRE(b.grad().item() == Approx(-1e20f).epsilon(1e-5));
  REQUIRE(a.grad().item() == Approx(1e20f).epsilon(1e-5));
}

TEST_CASE("binary ops: tensor-scalar add and mul", "[binary]") {
  Generator generator(5);
  Tensor x = Tensor::uniform({2, 3}, -2.0f, 2.0f, generator, true);
  Tensor plus = add(x, 0.75f);
  Tensor times = mul(x, -1.5f);
  for (std::int64_t i = 0; i < 6; ++i) {
    REQUIRE(plus.data()[i] == x.data()[i] + 0.75f);
    REQUIRE(times.data()[i] == x.data()[i] * -1.5f);
  }
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return add(in[0], 0.75f); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return mul(in[0], -1.5f); }, {x});

  Tensor s = Tensor::scalar(3.0f, true);
  mul(s, 4.0f).backward();
  REQUIRE(s.grad().item() == 4.0f);
}

TEST_CASE("binary ops: operators map to the ops", "[binary]") {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3});
  Tensor b = Tensor::from_vector({4, 5, 8}, {3});
  REQUIRE_ALL_CLOSE(a + b, Tensor::from_vector({5, 7, 11}, {3}));
  REQUIRE_ALL_CLOSE(a - b, Tensor::from_vector({-3, -3, -5}, {3}));
  REQUIRE_ALL_CLOSE(a * b, Tensor::from_vector({4, 10, 24}, {3}));
  REQUIRE_ALL_CLOSE(a / b, Tensor::from_vector({0.25f, 0.4f, 0.375f}, {3}));
  REQUIRE_ALL_CLOSE(-a, Tensor::from_vector({-1, -2, -3}, {3}));
  REQUIRE_ALL_CLOSE(2.0f - a, Tensor::from_vector({1, 0, -1}, {3}));
  REQUIRE_ALL_CLOSE(a / 4.0f, Tensor::from_vector({0.25f, 0.5f, 0.75f}, {3}));
}

TEST_CASE("binary ops: nothing is recorded under NoGradGuard", "[binary]") {
  Tensor a = Tensor::ones({2, 3}, true);
  Tensor b = Tensor::ones({3}, true);
  NoGradGuard no_grad;
  for (const NamedOp& op : binary_ops()) {
    INFO(op.name);
    Tensor out = op.op(a, b);
    REQUIRE_FALSE(out.requires_grad());
    REQUIRE(out.grad_fn() == nullptr);
  }
  REQUIRE_FALSE(add(a, 1.0f).requires_grad());
  REQUIRE(mul(a, 2.0f).grad_fn() == nullptr);
}

TEST_CASE("binary ops: records only when an input requires grad", "[binary]") {
  Tensor a = Tensor::ones({2});
  Tensor b = Tensor::ones({2});
  REQUIRE_FALSE(mul(a, b).requires_grad());
  b.requires_grad_();
  Tensor out = mul(a, b);
  REQUIRE(out.requires_grad());
  REQUIRE(out.grad_fn() != nullptr);
  REQUIRE(out.grad_fn()->name() == "mul");
}

TEST_CASE("binary ops: mul saves only the operand its backward needs", "[binary]") {
  // Only a needs a gradient, which uses b: changing a in place afterwards is harmless,
  // changing b is detected by the engine's version check.
  Tensor a = Tensor::from_vector({1, 2}, {2}, true);
  Tensor b = Tensor::from_vector({3, 4}, {2});
  Tensor out = mul(a, b);
  {
    NoGradGuard no_grad;
    a.fill_(7.0f);
  }
  out.backward(Tensor::ones({2}));
  REQUIRE_ALL_CLOSE(a.grad(), Tensor::from_vector({3, 4}, {2}));

  Tensor out2 = mul(a, b);
  b.fill_(0.0f);
  REQUIRE_THROWS_AS(out2.backward(Tensor::ones({2})), AutogradError);
}

TEST_CASE("binary ops: bad input", "[binary]") {
  Tensor undefined;
  Tensor m = Tensor::ones({2, 3});
  for (const NamedOp& op : binary_ops()) {
    INFO(op.name);
    REQUIRE_THROWS_AS(op.op(undefined, m), ValueError);
    REQUIRE_THROWS_AS(op.op(m, undefined), ValueError);
    REQUIRE_THROWS_WITH(op.op(m, undefined), Catch::Contains(op.name) && Catch::Contains("'b'"));
    REQUIRE_THROWS_AS(op.op(m, Tensor::ones({4})), ShapeError);
    REQUIRE_THROWS_WITH(op.op(m, Tensor::ones({4})),
                        Catch::StartsWith(op.name + ":") && Catch::Contains("[2, 3]") &&
                            Catch::Contains("[4]"));
    REQUIRE_THROWS_AS(op.op(Tensor::ones({3, 2}), Tensor::ones({2, 3})), ShapeError);
  }
  REQUIRE_THROWS_AS(add(undefined, 1.0f), ValueError);
  REQUIRE_THROWS_WITH(mul(undefined, 2.0f), Catch::Contains("mul"));
}
