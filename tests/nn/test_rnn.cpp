// nn::RNN / nn::LSTM / nn::GRU against PyTorch 1.13 (tests/fixtures/rnn.json, made by
// tests/fixtures/make_rnn_fixtures.py), and the fused layers against the reference composition.
#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "nn/rnn.h"
#include "ops/ops.h"
#include "test_util.h"

using namespace tapegrad;
using json = nlohmann::json;

namespace {

const json& rnn_fixtures() {
  static const json fixtures = [] {
    std::ifstream file(std::string(TAPEGRAD_FIXTURE_DIR) + "/rnn.json");
    REQUIRE(file.good());
    return json::parse(file);
  }();
  return fixtures;
}

Tensor from_json(const json& entry, bool requires_grad = false) {
  return Tensor::from_vector(entry.at("values").get<std::vector<float>>(),
                             entry.at("shape").get<Shape>(), requires_grad);
}

void load_parameters(nn::Module& module, const json& parameters, const json& order) {
  auto named = module.named_parameters();
  REQUIRE(named.size() == order.size());
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < named.size(); ++i) {
    REQUIRE(named[i].first == order[i].get<std::string>());  // PyTorch's state_dict order
    named[i].second.copy_(from_json(parameters.at(named[i].first)));
  }
}

Tensor projection(const Tensor& value, const json& weights) {
  return sum(mul(value, from_json(weights)));
}

struct Run {
  Tensor output, h_n, c_n, input, h0, c0;
};

// Through the common interface, as any caller would: one forward for every cell.
Run run_case(nn::RecurrentBase& module, const json& c, bool fused) {
  Run run;
  run.input = from_json(c.at("input"), true);
  if (c.contains("h0")) run.h0 = from_json(c.at("h0"), true);
  if (c.contains("c0")) run.c0 = from_json(c.at("c0"), true);
  std::vector<std::int64_t> lengths;
  if (!c.at("lengths").is_null()) lengths = c.at("lengths").get<std::vector<std::int64_t>>();
  module.set_fused(fused);
  const nn::RecurrentOutput out = module.forward(run.input, {run.h0, run.c0}, lengths);
  run.output = out.output;
  run.h_n = out.h_n;
  run.c_n = out.c_n;
  REQUIRE(run.c_n.defined() == module.has_cell_state());
  Tensor loss = add(projection(run.output, c.at("w_output")), projection(run.h_n, c.at("w_h")));
  if (run.c_n.defined()) loss = add(loss, projection(run.c_n, c.at("w_c")));
  loss.backward();
  return run;
}

std::unique_ptr<nn::RecurrentBase> make_module(const json& c, Generator& gen) {
  const json& o = c.at("options");
  const std::string cell = c.at("cell");
  if (cell == "lstm") {
    return std::make_unique<nn::LSTM>(
        nn::LSTMOptions{.input_size = o.at("input_size"), .hidden_size = o.at("hidden_size"),
                        .num_layers = o.at("num_layers"), .bias = o.at("bias"),
                        .batch_first = o.at("batch_first"), .bidirectional = o.at("bidirectional"),
                        .proj_size = o.at("proj_size")},
        gen);
  }
  if (cell == "gru") {
    return std::make_unique<nn::GRU>(
        nn::GRUOptions{.input_size = o.at("input_size"), .hidden_size = o.at("hidden_size"),
                       .num_layers = o.at("num_layers"), .bias = o.at("bias"),
                       .batch_first = o.at("batch_first"), .bidirectional = o.at("bidirectional")},
        gen);
  }
  return std::make_unique<nn::RNN>(
      nn::RNNOptions{.input_size = o.at("input_size"), .hidden_size = o.at("hidden_size"),
                     .num_layers = o.at("num_layers"),
                     .nonlinearity = cell == "rnn_relu" ? "relu" : "tanh", .bias = o.at("bias"),
                     .batch_first = o.at("batch_first"), .bidirectional = o.at("bidirectional")},
      gen);
}

// float32 through a few layers of products: PyTorch and we sum in different orders.
constexpr double kRtol = 1e-5;
constexpr double kAtol = 2e-6;

}  // namespace

TEST_CASE("RNN, LSTM and GRU match PyTorch: outputs, states and every gradient", "[rnn][parity]") {
  for (const json& c : rnn_fixtures().at("cases")) {
    for (bool fused : {true, false}) {
      DYNAMIC_SECTION(c.at("name").get<std::string>() << (fused ? " fused" : " reference")) {
        Generator gen(0);
        auto module = make_module(c, gen);
        load_parameters(*module, c.at("parameters"), c.at("parameter_order"));
        Run run = run_case(*module, c, fused);
        REQUIRE_ALL_CLOSE(run.output, from_json(c.at("output")), kRtol, kAtol);
        REQUIRE_ALL_CLOSE(run.h_n, from_json(c.at("h_n")), kRtol, kAtol);
        if (c.contains("c_n")) REQUIRE_ALL_CLOSE(run.c_n, from_json(c.at("c_n")), kRtol, kAtol);
        REQUIRE_ALL_CLOSE(run.input.grad(), from_json(c.at("grad_input")), kRtol, kAtol);
        if (c.contains("grad_h0")) REQUIRE_ALL_CLOSE(run.h0.grad(), from_json(c.at("grad_h0")), kRtol, kAtol);
        if (c.contains("grad_c0")) REQUIRE_ALL_CLOSE(run.c0.grad(), from_json(c.at("grad_c0")), kRtol, kAtol);
        for (auto& [name, parameter] : module->named_parameters()) {
          INFO(name);
          REQUIRE_ALL_CLOSE(parameter.grad(), from_json(c.at("grad_parameters").at(name)), kRtol, kAtol);
        }
      }
    }
  }
}

TEST_CASE("parameter names, shapes and initialisation follow PyTorch", "[rnn]") {
  Generator gen(1);
  nn::LSTM lstm({.input_size = 3, .hidden_size = 16, .num_layers = 2, .bidirectional = true,
                 .proj_size = 4}, gen);
  auto named = lstm.named_parameters();
  REQUIRE(named.size() == 20);
  REQUIRE(named[0].first == "weight_ih_l0");
  REQUIRE(named[0].second.shape() == Shape{64, 3});
  REQUIRE(named[1].second.shape() == Shape{64, 4});  // weight_hh_l0 sees the projection
  REQUIRE(named[4].first == "weight_hr_l0");
  REQUIRE(named[4].second.shape() == Shape{4, 16});
  REQUIRE(named[5].first == "weight_ih_l0_reverse");
  REQUIRE(named[10].first == "weight_ih_l1");
  REQUIRE(named[10].second.shape() == Shape{64, 8});  // 2 directions x proj_size
  const float bound = 1.0f / 4.0f;  // 1/sqrt(16)
  for (auto& [name, p] : named) {
    for (float v : p.to_vector()) {
      REQUIRE(v >= -bound);
      REQUIRE(v <= bound);
    }
  }
}

TEST_CASE("fused and reference layers agree on random configurations", "[rnn]") {
  Generator gen(7);
  for (int trial = 0; trial < 6; ++trial) {
    const bool batch_first = trial % 2;
    nn::LSTM lstm({.input_size = 5, .hidden_size = 7, .num_layers = 1 + trial % 2,
                   .batch_first = batch_first, .bidirectional = trial >= 3}, gen);
    Tensor x = Tensor::uniform({4, 6, 5}, -2, 2, gen, true);
    std::vector<std::vector<float>> grads[2];
    Tensor outputs[2];
    for (int fused = 0; fused < 2; ++fused) {
      lstm.set_fused(fused);
      lstm.zero_grad();
      x.zero_grad();
      auto out = lstm.forward(x);
      outputs[fused] = out.output;
      add(sum(mul(out.output, out.output)), sum(out.state.c)).backward();
      grads[fused].push_back(x.grad().to_vector());
      for (const Tensor& p : lstm.parameters()) grads[fused].push_back(p.grad().to_vector());
    }
    REQUIRE_ALL_CLOSE(outputs[1], outputs[0], 1e-5, 1e-6);
    for (std::size_t i = 0; i < grads[0].size(); ++i) {
      const Shape shape{static_cast<std::int64_t>(grads[0][i].size())};
      REQUIRE_ALL_CLOSE(Tensor::from_vector(grads[1][i], shape), Tensor::from_vector(grads[0][i], shape),
                        1e-4, 1e-5);
    }
  }
}

TEST_CASE("a 2-layer bidirectional LSTM passes gradcheck in its input and states", "[rnn][gradcheck]") {
  // Parameter gradients are checked op by op in tests/ops/test_recurrent.cpp and against PyTorch.
  Generator gen(3);
  nn::LSTM lstm({.input_size = 2, .hidden_size = 2, .num_layers = 2, .bidirectional = true}, gen);
  Tensor x = Tensor::uniform({3, 2, 2}, -1, 1, gen, true);
  Tensor h0 = Tensor::uniform({4, 2, 2}, -1, 1, gen, true);
  Tensor c0 = Tensor::uniform({4, 2, 2}, -1, 1, gen, true);
  for (bool fused : {true, false}) {
    lstm.set_fused(fused);
    REQUIRE_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          auto out = lstm.forward(in[0], {in[1], in[2]});
          return cat({reshape(out.output, {-1}), reshape(out.state.h, {-1}),
                      reshape(out.state.c, {-1})}, 0);
        },
        {x, h0, c0});
  }
}

TEST_CASE("recurrent modules reject bad inputs with the module name and shapes", "[rnn]") {
  Generator gen(2);
  nn::LSTM lstm({.input_size = 3, .hidden_size = 4, .batch_first = true}, gen);
  REQUIRE_THROWS_AS(lstm.forward(Tensor::zeros({2, 5, 2})), ShapeError);
  REQUIRE_THROWS_WITH(lstm.forward(Tensor::zeros({2, 5, 2})),
                      Catch::Contains("LSTM") && Catch::Contains("input_size"));
  REQUIRE_THROWS_AS(lstm.forward(Tensor::zeros({2, 5, 3, 1})), ShapeError);
  REQUIRE_THROWS_WITH(lstm.forward(Tensor::zeros({2, 5, 3}), {Tensor::zeros({1, 3, 4}), Tensor::zeros({1, 2, 4})}),
                      Catch::Contains("h0") && Catch::Contains("[1, 2, 4]") && Catch::Contains("[1, 3, 4]"));
  REQUIRE_THROWS_AS(lstm.forward(Tensor::zeros({2, 5, 3}), {Tensor::zeros({1, 2, 4}), Tensor()}), ValueError);
  REQUIRE_THROWS_WITH(lstm.forward(Tensor::zeros({2, 5, 3}), {}, {5, 6}),
                      Catch::Contains("length 6") && Catch::Contains("[1, 5]"));
  REQUIRE_THROWS_AS(lstm.forward(Tensor::zeros({2, 5, 3}), {}, {5}), ShapeError);
  REQUIRE_THROWS_AS(nn::LSTM({.input_size = 3, .hidden_size = 4, .proj_size = 4}, gen), ValueError);
  REQUIRE_THROWS_AS(nn::RNN({.input_size = 3, .hidden_size = 4, .nonlinearity = "sigmoid"}, gen), ValueError);
  REQUIRE_THROWS_AS(nn::GRU({.input_size = 0, .hidden_size = 4}, gen), ValueError);
  REQUIRE_THROWS_AS(nn::GRU({.input_size = 2, .hidden_size = 4, .dropout = 1.5f}, gen), ValueError);
}

TEST_CASE("dropout between layers acts in training mode only", "[rnn]") {
  Generator gen(5);
  nn::LSTM lstm({.input_size = 3, .hidden_size = 8, .num_layers = 2, .dropout = 0.5f}, gen);
  Tensor x = Tensor::uniform({5, 2, 3}, -1, 1, gen);
  lstm.eval();
  const auto a = lstm.forward(x).output.to_vector();
  const auto b = lstm.forward(x).output.to_vector();
  REQUIRE(a == b);
  lstm.train();
  const auto c = lstm.forward(x).output.to_vector();
  REQUIRE(c != a);
}

TEST_CASE("truncated BPTT: a detached state carries values but not history", "[rnn]") {
  Generator gen(9);
  nn::LSTM lstm({.input_size = 1, .hidden_size = 4, .batch_first = true}, gen);
  Tensor series = Tensor::uniform({2, 8, 1}, -1, 1, gen, true);
  auto whole = lstm.forward(series);
  auto first = lstm.forward(slice(series, 1, 0, 4));
  auto second = lstm.forward(slice(series, 1, 4, 8), first.state.detach());
  REQUIRE_ALL_CLOSE(second.state.h, whole.state.h, 1e-6, 1e-7);
  sum(second.output).backward();
  // the gradient reaches the second chunk's inputs only: the graph was cut at the detach
  const std::vector<float> grad = series.grad().to_vector();
  for (int b = 0; b < 2; ++b) {
    for (int t = 0; t < 8; ++t) {
      if (t < 4) REQUIRE(grad[b * 8 + t] == 0.0f);
      else REQUIRE(grad[b * 8 + t] != 0.0f);
    }
  }
}

TEST_CASE("unbatched 2-D input gives unbatched outputs", "[rnn]") {
  Generator gen(4);
  nn::GRU gru({.input_size = 3, .hidden_size = 5, .num_layers = 2}, gen);
  Tensor x = Tensor::uniform({6, 3}, -1, 1, gen);
  auto out = gru.forward(x);
  REQUIRE(out.output.shape() == Shape{6, 5});
  REQUIRE(out.h_n.shape() == Shape{2, 5});
  auto batched = gru.forward(unsqueeze(x, 1));
  REQUIRE_ALL_CLOSE(out.output, squeeze(batched.output, 1));
}

TEST_CASE("cells match one step of the layer with the same weights", "[rnn][cell]") {
  Generator gen(8);
  nn::LSTMCell cell({.input_size = 3, .hidden_size = 4}, gen);
  nn::LSTM layer({.input_size = 3, .hidden_size = 4}, gen);
  {
    NoGradGuard no_grad;
    auto from = cell.parameters();
    auto to = layer.parameters();
    for (std::size_t i = 0; i < from.size(); ++i) to[i].copy_(from[i]);
  }
  Tensor x = Tensor::uniform({2, 3}, -1, 1, gen);
  Tensor h = Tensor::uniform({2, 4}, -1, 1, gen);
  Tensor c = Tensor::uniform({2, 4}, -1, 1, gen);
  nn::LSTMState next = cell.forward(x, {h, c});
  auto out = layer.forward(unsqueeze(x, 0), {unsqueeze(h, 0), unsqueeze(c, 0)});
  REQUIRE_ALL_CLOSE(next.h, select(out.state.h, 0, 0), 1e-6, 1e-7);
  REQUIRE_ALL_CLOSE(next.c, select(out.state.c, 0, 0), 1e-6, 1e-7);

  nn::GRUCell gru_cell({.input_size = 3, .hidden_size = 4}, gen);
  nn::GRU gru({.input_size = 3, .hidden_size = 4}, gen);
  nn::RNNCell rnn_cell({.input_size = 3, .hidden_size = 4, .nonlinearity = "relu"}, gen);
  nn::RNN rnn({.input_size = 3, .hidden_size = 4, .nonlinearity = "relu"}, gen);
  {
    NoGradGuard no_grad;
    for (std::size_t i = 0; i < 4; ++i) {
      gru.parameters()[i].copy_(gru_cell.parameters()[i]);
      rnn.parameters()[i].copy_(rnn_cell.parameters()[i]);
    }
  }
  REQUIRE_ALL_CLOSE(gru_cell.forward(x, h), select(gru.forward(unsqueeze(x, 0), unsqueeze(h, 0)).h_n, 0, 0), 1e-6, 1e-7);
  REQUIRE_ALL_CLOSE(rnn_cell.forward(x, h), select(rnn.forward(unsqueeze(x, 0), unsqueeze(h, 0)).h_n, 0, 0), 1e-6, 1e-7);
  // unbatched cell input
  REQUIRE(cell.forward(select(x, 0, 0)).h.shape() == Shape{4});
  REQUIRE_THROWS_WITH(cell.forward(Tensor::zeros({2, 5})), Catch::Contains("LSTMCell") && Catch::Contains("[2, 5]"));
}

TEST_CASE("pad_sequence pads to the longest and checks trailing dims", "[rnn]") {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3, 1}, true);
  Tensor b = Tensor::from_vector({4}, {1, 1});
  Tensor padded = nn::pad_sequence({a, b}, true, -1.0f);
  REQUIRE(padded.shape() == Shape{2, 3, 1});
  REQUIRE(padded.to_vector() == std::vector<float>{1, 2, 3, 4, -1, -1});
  REQUIRE(nn::pad_sequence({a, b}).shape() == Shape{3, 2, 1});
  sum(padded).backward();
  REQUIRE(a.grad().to_vector() == std::vector<float>{1, 1, 1});
  REQUIRE_THROWS_AS(nn::pad_sequence({a, Tensor::zeros({2, 2})}), ShapeError);
  REQUIRE_THROWS_AS(nn::pad_sequence({}), ValueError);
}

TEST_CASE("recurrent modules refuse sizes whose weights overflow or are too large", "[rnn][shape]") {
  Generator gen(1);
  // 4 * 2^62 wrapped to 0 and built an LSTM with empty weights.
  const std::int64_t wraps = std::int64_t{1} << 62;
  REQUIRE_THROWS_AS(nn::LSTM({.input_size = 3, .hidden_size = wraps}, gen), ShapeError);
  REQUIRE_THROWS_WITH(nn::LSTM({.input_size = 3, .hidden_size = wraps}, gen),
                      Catch::StartsWith("LSTM: ") && Catch::Contains(std::to_string(wraps)));
  REQUIRE_THROWS_AS(nn::GRUCell({.input_size = wraps, .hidden_size = 3}, gen), ShapeError);
  // Each size fits, the weight [4H, I] does not: named by the module with its shape.
  REQUIRE_THROWS_WITH(
      nn::LSTM({.input_size = std::int64_t{1} << 30, .hidden_size = std::int64_t{1} << 20}, gen),
      Catch::StartsWith("LSTM: shape [4194304, 1073741824] is too large"));
}
