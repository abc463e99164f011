#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nn/init.h"
#include "nn/layers.h"
#include "nn/rnn.h"
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

namespace {

// Every parameter of `module`, in registration order, against the fixture's list for it: names,
// shapes and values bit for bit.
void require_torch_parameters(const tapegrad::nn::Module& module,
                              const nlohmann::json& expected) {
  const auto params = module.named_parameters();
  REQUIRE(params.size() == expected.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    INFO(params[i].first);
    REQUIRE(params[i].first == expected[i].at("name").get<std::string>());
    REQUIRE(params[i].second.shape() == expected[i].at("shape").get<tapegrad::Shape>());
    REQUIRE(params[i].second.to_vector() == expected[i].at("values").get<std::vector<float>>());
  }
}

}  // namespace

TEST_CASE("Generator::torch reproduces torch.manual_seed: draws and default initial weights",
          "[init][generator]") {
  // tests/fixtures/make_torch_init_fixture.py: one stream, modules built in this order.
  std::ifstream file(std::string(TAPEGRAD_FIXTURE_DIR) + "/torch_init.json");
  REQUIRE(file.good());
  const nlohmann::json fixture = nlohmann::json::parse(file);
  using namespace tapegrad;
  Generator gen = Generator::torch(fixture.at("seed").get<std::uint64_t>());
  REQUIRE(gen.is_torch_stream());

  const auto uniform = fixture.at("uniform").get<std::vector<float>>();
  REQUIRE(Tensor::uniform({20}, -0.3f, 0.7f, gen).to_vector() == uniform);
  require_torch_parameters(nn::Linear({.in_features = 5, .out_features = 3}, gen),
                           fixture.at("linear"));
  require_torch_parameters(
      nn::LSTM({.input_size = 3, .hidden_size = 5, .num_layers = 2, .proj_size = 2}, gen),
      fixture.at("lstm"));
  require_torch_parameters(nn::GRU({.input_size = 3, .hidden_size = 4, .bidirectional = true}, gen),
                           fixture.at("gru"));
  require_torch_parameters(
      nn::RNN({.input_size = 3, .hidden_size = 4, .nonlinearity = "relu"}, gen),
      fixture.at("rnn"));
  require_torch_parameters(nn::LSTMCell({.input_size = 3, .hidden_size = 4}, gen),
                           fixture.at("lstm_cell"));
  require_torch_parameters(nn::GRUCell({.input_size = 3, .hidden_size = 4}, gen),
                           fixture.at("gru_cell"));
  require_torch_parameters(nn::RNNCell({.input_size = 3, .hidden_size = 4}, gen),
                           fixture.at("rnn_cell"));
  require_torch_parameters(nn::Linear({.in_features = 4, .out_features = 2, .bias = false}, gen),
                           fixture.at("linear_no_bias"));
  require_torch_parameters(nn::LSTM({.input_size = 2, .hidden_size = 3, .bias = false}, gen),
                           fixture.at("lstm_no_bias"));
  REQUIRE(nn::init::kaiming_uniform_(Tensor::empty({6, 7}), gen, 0.0f, nn::init::FanMode::FanIn,
                                     "relu")
              .to_vector() == fixture.at("kaiming_uniform_relu").get<std::vector<float>>());
  REQUIRE(nn::init::xavier_uniform_(Tensor::empty({5, 3}), gen).to_vector() ==
          fixture.at("xavier_uniform").get<std::vector<float>>());
  REQUIRE(Tensor::uniform({7}, 0.0f, 1.0f, gen).to_vector() ==
          fixture.at("rand").get<std::vector<float>>());

  // Re-seeding restarts the stream. A Dropout module (its mask seed) draws nothing from it, as
  // PyTorch's constructor draws nothing, and two of them still get different seeds.
  gen.seed(fixture.at("seed").get<std::uint64_t>());
  const nn::Dropout dropout(0.5f, gen);
  REQUIRE(gen.child_seed() != gen.child_seed());
  REQUIRE(Tensor::uniform({20}, -0.3f, 0.7f, gen).to_vector() == uniform);
  // tapegrad's own stream is a different one.
  Generator own(fixture.at("seed").get<std::uint64_t>());
  REQUIRE_FALSE(own.is_torch_stream());
  REQUIRE(Tensor::uniform({20}, -0.3f, 0.7f, own).to_vector() != uniform);
}
