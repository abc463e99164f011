// linear: values against a naive x . W^T + b, every input's gradient by finite differences and
// against closed forms (dW = G^T x over all rows, db = column sums of G), bad shapes.
#include <vector>

#include "ops/ops.h"
#include "test_util.h"

using namespace tapegrad;

namespace {

// y[r, o] = sum_i x[r, i] W[o, i] + b[o], in double.
Tensor naive_linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const std::int64_t in = weight.shape()[1], out = weight.shape()[0];
  const std::int64_t rows = x.numel() / in;
  std::vector<float> y(static_cast<std::size_t>(rows * out));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t o = 0; o < out; ++o) {
      double total = bias.defined() ? bias.data()[o] : 0.0;
      for (std::int64_t i = 0; i < in; ++i) {
        total += double(x.data()[r * in + i]) * double(weight.data()[o * in + i]);
      }
      y[r * out + o] = static_cast<float>(total);
    }
  }
  Shape shape = x.shape();
  shape.back() = out;
  return Tensor::from_vector(y, shape);
}

GradcheckOptions wide_step() {
  GradcheckOptions options;
  options.eps = 1e-2;  // linear in each input: no truncation error
  return options;
}

}  // namespace

TEST_CASE("linear: forward matches hand-computed values", "[linear]") {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  const Tensor weight = Tensor::from_vector({1, 0, 1, 1, -1, 2}, {3, 2});
  const Tensor bias = Tensor::from_vector({0.5f, -1, 0}, {3});
  // rows of x . W^T: [1 3 3], [3 7 5]; plus bias
  REQUIRE_ALL_CLOSE(linear(x, weight, bias), Tensor::from_vector({1.5f, 2, 3, 3.5f, 6, 5}, {2, 3}));
  REQUIRE_ALL_CLOSE(linear(x, weight, Tensor()), Tensor::from_vector({1, 3, 3, 3, 7, 5}, {2, 3}));
}

TEST_CASE("linear: 3-D and 1-D inputs match a naive loop", "[linear]") {
  Generator gen(11);
  const Tensor weight = Tensor::uniform({5, 7}, -1, 1, gen);
  const Tensor bias = Tensor::uniform({5}, -1, 1, gen);
  const Tensor x3 = Tensor::uniform({3, 4, 7}, -1, 1, gen);
  const Tensor x1 = Tensor::uniform({7}, -1, 1, gen);
  const Tensor y3 = linear(x3, weight, bias);
  REQUIRE(y3.shape() == Shape{3, 4, 5});
  REQUIRE_ALL_CLOSE(y3, naive_linear(x3, weight, bias), 1e-5, 1e-5);
  const Tensor y1 = linear(x1, weight, Tensor());
  REQUIRE(y1.shape() == Shape{5});
  REQUIRE_ALL_CLOSE(y1, naive_linear(x1, weight, Tensor()), 1e-5, 1e-5);
}

TEST_CASE("linear: gradcheck of input, weight and bias", "[linear][gradcheck]") {
  Generator gen(12);
  const Tensor x = Tensor::uniform({2, 3, 4}, -1, 1, gen, true);
  const Tensor weight = Tensor::uniform({5, 4}, -1, 1, gen, true);
  const Tensor bias = Tensor::uniform({5}, -1, 1, gen, true);
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
                    {x, weight, bias}, wide_step());
}

TEST_CASE("linear: gradcheck without bias and with a 1-D input", "[linear][gradcheck]") {
  Generator gen(13);
  const Tensor x2 = Tensor::uniform({3, 4}, -1, 1, gen, true);
  const Tensor x1 = Tensor::uniform({4}, -1, 1, gen, true);
  const Tensor weight = Tensor::uniform({2, 4}, -1, 1, gen, true);
  auto no_bias = [](const std::vector<Tensor>& in) { return linear(in[0], in[1], Tensor()); };
  REQUIRE_GRADCHECK(no_bias, {x2, weight}, wide_step());
  REQUIRE_GRADCHECK(no_bias, {x1, weight}, wide_step());
}

TEST_CASE("linear: weight and bias gradients sum over every leading row", "[linear]") {
  Generator gen(14);
  const Tensor x = Tensor::uniform({2, 3, 4}, -1, 1, gen, true);
  const Tensor weight = Tensor::uniform({5, 4}, -1, 1, gen, true);
  const Tensor bias = Tensor::uniform({5}, -1, 1, gen, true);
  const Tensor grad_out = Tensor::uniform({2, 3, 5}, -1, 1, gen);
  linear(x, weight, bias).backward(grad_out);

  std::vector<float> grad_weight(20, 0.0f), grad_bias(5, 0.0f), grad_x(24, 0.0f);
  for (int r = 0; r < 6; ++r) {
    for (int o = 0; o < 5; ++o) {
      const float g = grad_out.data()[r * 5 + o];
      grad_bias[o] += g;
      for (int i = 0; i < 4; ++i) {
        grad_weight[o * 4 + i] += g * x.data()[r * 4 + i];
        grad_x[r * 4 + i] += g * weight.data()[o * 4 + i];
      }
    }
  }
  REQUIRE_ALL_CLOSE(bias.grad(), Tensor::from_vector(grad_bias, {5}), 1e-5, 1e-5);
  REQUIRE_ALL_CLOSE(weight.grad(), Tensor::from_vector(grad_weight, {5, 4}), 1e-5, 1e-5);
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::from_vector(grad_x, {2, 3, 4}), 1e-5, 1e-5);
}

TEST_CASE("linear: bad shapes throw ShapeError naming the shapes", "[linear][errors]") {
  const Tensor x = Tensor::zeros({2, 3});
  const Tensor weight = Tensor::zeros({4, 5});
  REQUIRE_THROWS_AS(linear(x, weight, Tensor()), ShapeError);
  REQUIRE_THROWS_WITH(linear(x, weight, Tensor()),
                      Catch::Contains("linear") && Catch::Contains("[2, 3]") &&
                          Catch::Contains("[4, 5]"));
  const Tensor good_weight = Tensor::zeros({4, 3});
  REQUIRE_THROWS_AS(linear(x, good_weight, Tensor::zeros({3})), ShapeError);
  REQUIRE_THROWS_WITH(linear(x, good_weight, Tensor::zeros({3})),
                      Catch::Contains("linear") && Catch::Contains("bias") &&
                          Catch::Contains("[4]") && Catch::Contains("[3]"));
  REQUIRE_THROWS_AS(linear(x, Tensor::zeros({3}), Tensor()), ShapeError);
  REQUIRE_THROWS_AS(linear(Tensor::scalar(1), good_weight, Tensor()), ShapeError);
}
