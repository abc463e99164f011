// softmax, log_softmax, logsumexp: values against a naive double computation over any dim,
// gradients by finite differences, and finiteness at +-50 and +-1000 (where exp overflows float).
#include <cmath>
#include <limits>
#include <vector>

#include "ops/ops.h"
#include "test_util.h"

using namespace tapegrad;

namespace {

enum class Kind { softmax, log_softmax, logsumexp };

// The reference in double over dim `dim` of x, with the reduced dim kept (size 1) for logsumexp.
// Shifting by the max is exact math, and double keeps exp(x - max) accurate.
std::vector<double> naive(const Tensor& x, std::int64_t dim, Kind kind) {
  const Shape& s = x.shape();
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t i = 0; i < dim; ++i) outer *= s[i];
  for (std::size_t i = static_cast<std::size_t>(dim) + 1; i < s.size(); ++i) inner *= s[i];
  const std::int64_t extent = s[dim];
  std::vector<double> result(kind == Kind::logsumexp ? outer * inner : x.numel());
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t i = 0; i < inner; ++i) {
      auto at = [&](std::int64_t e) { return double(x.data()[(o * extent + e) * inner + i]); };
      double max = at(0);
      for (std::int64_t e = 1; e < extent; ++e) max = std::max(max, at(e));
      double sum = 0.0;
      for (std::int64_t e = 0; e < extent; ++e) sum += std::exp(at(e) - max);
      const double lse = max + std::log(sum);
      if (kind == Kind::logsumexp) {
        result[o * inner + i] = lse;
        continue;
      }
      for (std::int64_t e = 0; e < extent; ++e) {
        const double log_p = at(e) - lse;
        result[(o * extent + e) * inner + i] = kind == Kind::softmax ? std::exp(log_p) : log_p;
      }
    }
  }
  return result;
}

Tensor as_tensor(const std::vector<double>& values, const Shape& shape) {
  return Tensor::from_vector(std::vector<float>(values.begin(), values.end()), shape);
}

Shape keep_dim(Shape shape, std::int64_t dim) {
  shape[dim] = 1;
  return shape;
}

}  // namespace

TEST_CASE("softmax: hand-computed row", "[softmax]") {
  const Tensor x = Tensor::from_vector({0, std::log(3.0f)}, {1, 2});
  REQUIRE_ALL_CLOSE(softmax(x, 1), Tensor::from_vector({0.25f, 0.75f}, {1, 2}));
  REQUIRE_ALL_CLOSE(log_softmax(x, -1),
                    Tensor::from_vector({std::log(0.25f), std::log(0.75f)}, {1, 2}));
  REQUIRE(logsumexp(x, 1).at({0}) == Approx(std::log(4.0f)));
  REQUIRE(softmax(Tensor::scalar(3), 0).item() == Approx(1.0f));  // 0-D: one-element dim
}

TEST_CASE("softmax family: every dim of a 3-D tensor matches a naive computation", "[softmax]") {
  Generator gen(21);
  const Tensor x = Tensor::uniform({3, 4, 5}, -3, 3, gen);
  for (std::int64_t dim = 0; dim < 3; ++dim) {
    INFO("dim " << dim);
    REQUIRE_ALL_CLOSE(softmax(x, dim), as_tensor(naive(x, dim, Kind::softmax), x.shape()), 1e-5,
                      1e-6);
    REQUIRE_ALL_CLOSE(log_softmax(x, dim),
                      as_tensor(naive(x, dim, Kind::log_softmax), x.shape()), 1e-5, 1e-5);
    const Tensor lse_kept = logsumexp(x, dim, true);
    REQUIRE_ALL_CLOSE(lse_kept, as_tensor(naive(x, dim, Kind::logsumexp), keep_dim(x.shape(), dim)),
                      1e-5, 1e-5);
    Shape dropped = x.shape();
    dropped.erase(dropped.begin() + dim);
    REQUIRE(logsumexp(x, dim).shape() == dropped);
    REQUIRE(logsumexp(x, dim - 3).to_vector() == lse_kept.to_vector());  // negative dim
  }
}

TEST_CASE("softmax: gradcheck over dims 0, 1 and -1 of a 3-D tensor", "[softmax][gradcheck]") {
  Generator gen(22);
  const Tensor x = Tensor::uniform({2, 3, 4}, -2, 2, gen, true);
  for (std::int64_t dim : {0, 1, -1}) {
    INFO("dim " << dim);
    REQUIRE_GRADCHECK([dim](const std::vector<Tensor>& in) { return softmax(in[0], dim); }, {x});
    REQUIRE_GRADCHECK([dim](const std::vector<Tensor>& in) { return log_softmax(in[0], dim); },
                      {x});
  }
}

TEST_CASE("logsumexp: gradcheck with and without keepdim", "[softmax][gradcheck]") {
  Generator gen(23);
  const Tensor x = Tensor::uniform({2, 3, 4}, -2, 2, gen, true);
  for (std::int64_t dim : {0, 1, 2}) {
    INFO("dim " << dim);
    REQUIRE_GRADCHECK([dim](const std::vector<Tensor>& in) { return logsumexp(in[0], dim); }, {x});
    REQUIRE_GRADCHECK(
        [dim](const std::vector<Tensor>& in) { return logsumexp(in[0], dim, true); }, {x});
  }
}

TEST_CASE("softmax family: finite values and gradients at +-50 and +-1000", "[softmax][extreme]") {
  // Columns (dim 0) and rows (dim 1) both mix huge and moderate values; a naive exp overflows.
  const Tensor x = Tensor::from_vector({1000, -1000, 50, -50,   //
                                        999, 50, -1000, 1000,   //
                                        -50, -50, 0, 1000},
                                       {3, 4});
  const Tensor grad_out = Tensor::from_vector({1, -2, 3, 0.5f, -1, 2, 0.25f, 1, 0, 1, -3, 2}, {3, 4});
  for (std::int64_t dim : {0, 1}) {
    INFO("dim " << dim);
    const Tensor p = as_tensor(naive(x, dim, Kind::softmax), x.shape());
    const auto lse = naive(x, dim, Kind::logsumexp);

    const Tensor leaf_s = Tensor::from_vector(x.to_vector(), x.shape(), true);
    const Tensor s = softmax(leaf_s, dim);
    REQUIRE_ALL_CLOSE(s, p, 1e-5, 1e-7);
    s.backward(grad_out);
    const Tensor leaf_l = Tensor::from_vector(x.to_vector(), x.shape(), true);
    const Tensor l = log_softmax(leaf_l, dim);
    REQUIRE(testing::all_finite(l));
    REQUIRE_ALL_CLOSE(l, as_tensor(naive(x, dim, Kind::log_softmax), x.shape()), 1e-6, 1e-3);
    l.backward(grad_out);
    const Tensor leaf_e = Tensor::from_vector(x.to_vector(), x.shape(), true);
    const Tensor e = logsumexp(leaf_e, dim, true);
    REQUIRE_ALL_CLOSE(e, as_tensor(lse, e.shape()), 1e-6, 1e-3);
    e.backward(Tensor::ones(e.shape()));

    // Closed forms in double from the naive softmax p.
    const std::int64_t lanes = dim == 0 ? 4 : 3, extent = dim == 0 ? 3 : 4;
    std::vector<float> want_s(12), want_l(12);
    for (std::int64_t lane = 0; lane < lanes; ++lane) {
      auto idx = [&](std::int64_t k) { return dim == 0 ? k * 4 + lane : lane * 4 + k; };
      double dot = 0.0, grad_sum = 0.0;
      for (std::int64_t k = 0; k < extent; ++k) {
        dot += double(grad_out.data()[idx(k)]) * p.data()[idx(k)];
        grad_sum += grad_out.data()[idx(k)];
      }
      for (std::int64_t k = 0; k < extent; ++k) {
        const double g = grad_out.data()[idx(k)], pk = p.data()[idx(k)];
        want_s[idx(k)] = static_cast<float>(pk * (g - dot));
        want_l[idx(k)] = static_cast<float>(g - pk * grad_sum);
      }
    }
    REQUIRE(testing::all_finite(leaf_s.grad()));
    REQUIRE(testing::all_finite(leaf_l.grad()));
    REQUIRE(testing::all_finite(leaf_e.grad()));
    REQUIRE_ALL_CLOSE(leaf_s.grad(), Tensor::from_vector(want_s, x.shape()), 1e-5, 1e-6);
    REQUIRE_ALL_CLOSE(leaf_l.grad(), Tensor::from_vector(want_l, x.shape()), 1e-5, 1e-6);
    // d logsumexp / dx = softmax = exp(x - lse); a float lse near 1000 is only good to about
    // 3e-5 absolute (half an ulp), which the exp turns into the same relative error.
    REQUIRE_ALL_CLOSE(leaf_e.grad(), p, 1e-4, 1e-7);
  }
}

TEST_CASE("softmax family: -inf entries get probability 0, an all -inf lane gives -inf lse",
          "[softmax][extreme]") {
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor x = Tensor::from_vector({0, -inf, std::log(3.0f), -inf}, {1, 4}, true);
  const Tensor p = softmax(x, 1);
  REQUIRE_ALL_CLOSE(p, Tensor::from_vector({0.25f, 0, 0.75f, 0}, {1, 4}));
  p.backward(Tensor::from_vector({1, 2, 3, 4}, {1, 4}));
  REQUIRE(testing::all_finite(x.grad()));
  REQUIRE(x.grad().at({0, 1}) == 0.0f);

  const Tensor all_masked = Tensor::from_vector({-inf, -inf}, {2});
  REQUIRE(logsumexp(all_masked, 0).item() == -inf);
}

TEST_CASE("softmax family: bad dims throw IndexError naming the op", "[softmax][errors]") {
  const Tensor x = Tensor::zeros({2, 3});
  REQUIRE_THROWS_AS(softmax(x, 2), IndexError);
  REQUIRE_THROWS_WITH(softmax(x, 2), Catch::Contains("softmax") && Catch::Contains("dim 2"));
  REQUIRE_THROWS_AS(log_softmax(x, -3), IndexError);
  REQUIRE_THROWS_WITH(log_softmax(x, -3), Catch::Contains("log_softmax"));
  REQUIRE_THROWS_AS(logsumexp(x, 5, true), IndexError);
  REQUIRE_THROWS_WITH(logsumexp(x, 5, true), Catch::Contains("logsumexp"));
}
