// dropout: identity cases, statistics of the mask, scaling, determinism per seed, a backward
// that reuses the forward's mask, and the range check on p.
#include <cmath>
#include <limits>
#include <vector>

#include "ops/ops.h"
#include "test_util.h"

using namespace tapegrad;

TEST_CASE("dropout: eval mode and p == 0 return the input handle itself", "[dropout]") {
  Generator gen(31);
  const Tensor x = Tensor::ones({4, 5}, true);
  REQUIRE(dropout(x, 0.5f, /*training=*/false, gen).is_same(x));
  REQUIRE(dropout(x, 0.0f, /*training=*/true, gen).is_same(x));
}

TEST_CASE("dropout: p == 1 gives zeros and zero gradients", "[dropout]") {
  Generator gen(32);
  const Tensor x = Tensor::full({3, 4}, 2.0f, true);
  const Tensor y = dropout(x, 1.0f, true, gen);
  REQUIRE_ALL_CLOSE(y, Tensor::zeros({3, 4}));
  REQUIRE(y.requires_grad());
  y.backward(Tensor::ones({3, 4}));
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::zeros({3, 4}));
}

TEST_CASE("dropout: zero fraction near p and survivors scaled by 1/(1-p)", "[dropout]") {
  Generator gen(33);
  const std::int64_t n = 200000;
  for (float p : {0.1f, 0.3f, 0.75f}) {
    INFO("p " << p);
    const Tensor x = Tensor::uniform({n}, 1.0f, 2.0f, gen);  // never 0, so zeros are drops
    const Tensor y = dropout(x, p, true, gen);
    std::int64_t zeros = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (y.data()[i] == 0.0f) {
        ++zeros;
      } else {
        REQUIRE(y.data()[i] == Approx(x.data()[i] / (1.0f - p)).epsilon(1e-6));
      }
    }
    // std of the fraction is sqrt(p(1-p)/n) < 0.0012; 0.01 is a wide margin.
    REQUIRE(double(zeros) / double(n) == Approx(p).margin(0.01));
  }
}

TEST_CASE("dropout: the same seed gives the same mask, another seed another", "[dropout]") {
  const Tensor x = Tensor::ones({1000});
  Generator first(7), second(7), other(8);
  const auto a = dropout(x, 0.5f, true, first).to_vector();
  const auto b = dropout(x, 0.5f, true, second).to_vector();
  const auto c = dropout(x, 0.5f, true, other).to_vector();
  REQUIRE(a == b);
  REQUIRE(a != c);
  // The generator advances: a second call draws a new mask.
  REQUIRE(dropout(x, 0.5f, true, first).to_vector() != a);
}

TEST_CASE("dropout: backward multiplies by the forward's mask", "[dropout]") {
  Generator gen(34);
  const Tensor x = Tensor::uniform({50}, 1.0f, 2.0f, gen, true);
  const Tensor y = dropout(x, 0.4f, true, gen);
  const Tensor grad_out = Tensor::uniform({50}, -1.0f, 1.0f, gen);
  y.backward(grad_out);
  for (std::int64_t i = 0; i < 50; ++i) {
    const bool kept = y.data()[i] != 0.0f;
    const float want = kept ? grad_out.data()[i] / 0.6f : 0.0f;
    REQUIRE(x.grad().data()[i] == Approx(want).margin(1e-7));
  }
}

TEST_CASE("dropout: gradcheck with a fixed mask", "[dropout][gradcheck]") {
  Generator gen(35);
  const Tensor x = Tensor::uniform({4, 6}, -1.0f, 1.0f, gen, true);
  // A fresh generator per call keeps the mask the same for every finite-difference evaluation.
  REQUIRE_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        Generator mask_gen(99);
        return dropout(in[0], 0.3f, true, mask_gen);
      },
      {x});
}

TEST_CASE("dropout: p outside [0, 1] throws ValueError naming the value", "[dropout][errors]") {
  Generator gen(36);
  const Tensor x = Tensor::ones({3});
  REQUIRE_THROWS_AS(dropout(x, -0.1f, true, gen), ValueError);
  REQUIRE_THROWS_WITH(dropout(x, 1.5f, true, gen),
                      Catch::Contains("dropout") && Catch::Contains("1.5"));
  REQUIRE_THROWS_AS(dropout(x, std::numeric_limits<float>::quiet_NaN(), true, gen), ValueError);
  // checked in eval mode too, as torch does
  REQUIRE_THROWS_AS(dropout(x, 2.0f, false, gen), ValueError);
}
