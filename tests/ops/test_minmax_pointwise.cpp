// maximum and minimum (pointwise, broadcasting).
#include <algorithm>
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
  std::function<Tensor(const Tensor&, const Tensor&)> op;
  std::function<float(float, float)> reference;
};

std::vector<NamedOp> minmax_ops() {
  return {{"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); },
           [](float a, float b) { return std::max(a, b); }},
          {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); },
           [](float a, float b) { return std::min(a, b); }}};
}

// Values on a grid i/8 + 1/16 for a, i/8 for b: a and b never tie and never come within 1/16
// of each other, so the finite-difference step cannot cross the kink.
Tensor grid_values(const Shape& shape, Generator& generator, float offset) {
  Tensor t = Tensor::empty(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    t.data()[i] = std::floor(generator.uniform(-16.0f, 16.0f)) / 8.0f + offset;
  }
  t.requires_grad_();
  return t;
}

}  // namespace

TEST_CASE("maximum/minimum: forward matches std::max/std::min, broadcasting", "[minmax]") {
  Generator generator(21);
  Tensor a = Tensor::uniform({2, 3}, -1.0f, 1.0f, generator);
  Tensor b = Tensor::uniform({3}, -1.0f, 1.0f, generator);
  for (const NamedOp& op : minmax_ops()) {
    INFO(op.name);
    Tensor out = op.op(a, b);
    REQUIRE(out.shape() == Shape{2, 3});
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 3; ++j) {
        REQUIRE(out.at({i, j}) == op.reference(a.at({i, j}), b.at({j})));
      }
    }
    Tensor with_zero = op.op(Tensor::scalar(0.0f), a);
    for (std::int64_t i = 0; i < 6; ++i) {
      REQUIRE(with_zero.data()[i] == op.reference(0.0f, a.data()[i]));
    }
  }
}

TEST_CASE("maximum/minimum: NaN in either input propagates", "[minmax]") {
  Tensor a = Tensor::from_vector({NAN, 1.0f, 2.0f}, {3});
  Tensor b = Tensor::from_vector({0.0f, NAN, 1.0f}, {3});
  for (const NamedOp& op : minmax_ops()) {
    INFO(op.name);
    Tensor out = op.op(a, b);
    REQUIRE(std::isnan(out.data()[0]));
    REQUIRE(std::isnan(out.data()[1]));
    REQUIRE(out.data()[2] == op.reference(2.0f, 1.0f));
  }
}

TEST_CASE("maximum/minimum: gradcheck w.r.t. both inputs", "[minmax]") {
  const std::vector<std::pair<Shape, Shape>> shape_pairs = {
      {{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{2, 1, 4}, {3, 1}}, {{}, {2, 3}}, {{4}, {}}};
  Generator generator(22);
  for (const NamedOp& op : minmax_ops()) {
    for (const auto& [a_shape, b_shape] : shape_pairs) {
      INFO(op.name << " " << format_shape(a_shape) << " with " << format_shape(b_shape));
      Tensor a = grid_values(a_shape, generator, 1.0f / 16.0f);
      Tensor b = grid_values(b_shape, generator, 0.0f);
      REQUIRE_GRADCHECK([&](const std::vector<Tensor>& in) { return op.op(in[0], in[1]); },
                        {a, b});
    }
  }
}

TEST_CASE("maximum/minimum: gradient goes to the selected input", "[minmax]") {
  Tensor a = Tensor::from_vector({1.0f, 5.0f, -2.0f}, {3}, true);
  Tensor b = Tensor::from_vector({3.0f, 4.0f, -1.0f}, {3}, true);
  Tensor g = Tensor::from_vector({10.0f, 20.0f, 30.0f}, {3});
  maximum(a, b).backward(g);
  REQUIRE_ALL_CLOSE(a.grad(), Tensor::from_vector({0.0f, 20.0f, 0.0f}, {3}));
  REQUIRE_ALL_CLOSE(b.grad(), Tensor::from_vector({10.0f, 0.0f, 30.0f}, {3}));
  a.zero_grad();
  b.zero_grad();
  minimum(a, b).backward(g);
  REQUIRE_ALL_CLOSE(a.grad(), Tensor::from_vector({10.0f, 0.0f, 30.0f}, {3}));
  REQUIRE_ALL_CLOSE(b.grad(), Tensor::from_vector({0.0f, 20.0f, 0.0f}, {3}));
}

TEST_CASE("maximum/minimum: ties split the gradient evenly, as PyTorch", "[minmax]") {
  for (const NamedOp& op : minmax_ops()) {
    INFO(op.name);
    Tensor a = Tensor::from_vector({2.0f, 2.0f}, {2}, true);
    Tensor b = Tensor::from_vector({2.0f, 3.0f}, {2}, true);
    op.op(a, b).backward(Tensor::from_vector({4.0f, 8.0f}, {2}));
    REQUIRE(a.grad().data()[0] == 2.0f);
    REQUIRE(b.grad().data()[0] == 2.0f);
    // The untied element goes wholly to one side.
    REQUIRE(a.grad().data()[1] + b.grad().data()[1] == 8.0f);

    // The same tensor on both sides: the halves accumulate to slope 1.
    Tensor x = Tensor::from_vector({-1.0f, 0.5f}, {2}, true);
    op.op(x, x).backward(Tensor::ones({2}));
    REQUIRE_ALL_CLOSE(x.grad(), Tensor::ones({2}));
  }
  // A broadcast tie: b [1] ties with two of a's elements and collects both halves.
  Tensor a = Tensor::from_vector({1.0f, 1.0f, 0.0f}, {3}, true);
  Tensor b = Tensor::from_vector({1.0f}, {1}, true);
  maximum(a, b).backward(Tensor::ones({3}));
  REQUIRE_ALL_CLOSE(a.grad(), Tensor::from_vector({0.5f, 0.5f, 0.0f}, {3}));
  REQUIRE(b.grad().item() == 2.0f);
}

TEST_CASE("maximum/minimum: nothing is recorded under NoGradGuard", "[minmax]") {
  Tensor a = Tensor::ones({2}, true);
  Tensor b = Tensor::zeros({2}, true);
  NoGradGuard no_grad;
  for (const NamedOp& op : minmax_ops()) {
    Tensor out = op.op(a, b);
    REQUIRE_FALSE(out.requires_grad());
    REQUIRE(out.grad_fn() == nullptr);
  }
}

TEST_CASE("maximum/minimum: bad input", "[minmax]") {
  Tensor undefined;
  Tensor m = Tensor::ones({2, 3});
  for (const NamedOp& op : minmax_ops()) {
    INFO(op.name);
    REQUIRE_THROWS_AS(op.op(undefined, m), ValueError);
    REQUIRE_THROWS_WITH(op.op(undefined, m), Catch::StartsWith(op.name + ":"));
    REQUIRE_THROWS_AS(op.op(m, undefined), ValueError);
    REQUIRE_THROWS_AS(op.op(m, Tensor::ones({2})), ShapeError);
    REQUIRE_THROWS_WITH(op.op(m, Tensor::ones({2})), Catch::StartsWith(op.name + ":") &&
                                                         Catch::Contains("[2, 3]") &&
                                                         Catch::Contains("[2]"));
  }
}
