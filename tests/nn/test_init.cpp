#include <cmath>

#include "nn/init.h"
#include "test_util.h"

using namespace tapegrad;
namespace init = tapegrad::nn::init;

namespace {
double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.to_vector()) m = std::max(m, double(std::abs(v)));
  return m;
}
double stddev(const Tensor& t) {
  double s = 0, sq = 0;
  for (float v : t.to_vector()) {
    s += v;
    sq += double(v) * v;
  }
  const double n = double(t.numel()), m = s / n;
  return std::sqrt(sq / n - m * m);
}
}  // namespace

TEST_CASE("init bounds and spreads follow torch.nn.init", "[init]") {
  Generator gen(11);
  Tensor w = Tensor::zeros({200, 300});
  // xavier_uniform: bound = gain * sqrt(6 / (fan_in + fan_out))
  init::xavier_uniform_(w, gen);
  const double xavier_bound = std::sqrt(6.0 / 500.0);
  REQUIRE(max_abs(w) <= xavier_bound);
  REQUIRE(max_abs(w) > 0.98 * xavier_bound);
  REQUIRE(w.version() == 1);
  init::xavier_normal_(w, gen, 2.0f);
  REQUIRE(stddev(w) == Approx(2.0 * std::sqrt(2.0 / 500.0)).epsilon(0.03));
  // kaiming_uniform (relu, fan_in): bound = sqrt(2) * sqrt(3 / fan_in)
  init::kaiming_uniform_(w, gen, 0.0f, init::FanMode::FanIn, "relu");
  REQUIRE(max_abs(w) <= std::sqrt(2.0) * std::sqrt(3.0 / 300.0) + 1e-7);
  init::kaiming_normal_(w, gen, 0.0f, init::FanMode::FanOut, "relu");
  REQUIRE(stddev(w) == Approx(std::sqrt(2.0 / 200.0)).epsilon(0.03));
  init::constant_(w, 0.25f);
  REQUIRE(w.at({3, 7}) == 0.25f);
  init::zeros_(w);
  REQUIRE(max_abs(w) == 0.0);
  REQUIRE(init::calculate_gain("tanh") == Approx(5.0 / 3.0));
  REQUIRE(init::calculate_gain("leaky_relu", 0.2f) == Approx(std::sqrt(2.0 / 1.04)));
}

TEST_CASE("orthogonal_ gives orthonormal rows or columns", "[init]") {
  Generator gen(3);
  for (Shape shape : {Shape{6, 4}, Shape{4, 6}, Shape{5, 5}}) {
    Tensor w = init::orthogonal_(Tensor::zeros(shape), gen, 1.0f);
    const std::int64_t rows = shape[0], cols = shape[1];
    const bool tall = rows >= cols;
    const std::int64_t n = tall ? cols : rows, len = tall ? rows : cols;
    for (std::int64_t a = 0; a < n; ++a) {
      for (std::int64_t b = 0; b < n; ++b) {
        double dot = 0;
        for (std::int64_t i = 0; i < len; ++i) {
          dot += tall ? double(w.at({i, a})) * w.at({i, b}) : double(w.at({a, i})) * w.at({b, i});
        }
        REQUIRE(dot == Approx(a == b ? 1.0 : 0.0).margin(1e-5));
      }
    }
  }
}

TEST_CASE("init rejects tensors without fans and bad arguments", "[init]") {
  Generator gen;
  REQUIRE_THROWS_AS(init::xavier_uniform_(Tensor::zeros({5}), gen), ShapeError);
  REQUIRE_THROWS_WITH(init::kaiming_normal_(Tensor::zeros({5}), gen),
                      Catch::Contains("kaiming_normal_") && Catch::Contains("[5]"));
  REQUIRE_THROWS_AS(init::uniform_(Tensor::zeros({2}), 1, -1, gen), ValueError);
  REQUIRE_THROWS_AS(init::calculate_gain("swish"), ValueError);
  REQUIRE_THROWS_AS(init::lstm_forget_gate_bias_(Tensor::zeros({6}), 1.0f), ShapeError);
}

TEST_CASE("lstm_forget_gate_bias_ fills only the forget block", "[init]") {
  Tensor bias = Tensor::zeros({8});
  init::lstm_forget_gate_bias_(bias, 1.0f);
  REQUIRE(bias.to_vector() == std::vector<float>{0, 0, 1, 1, 0, 0, 0, 0});
}
