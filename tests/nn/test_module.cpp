// nn::Module: registration, traversal, buffers, forward hooks and the printout; the names,
// order and printout are checked against tests/fixtures/module_api.json (PyTorch).
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "autograd/grad_mode.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/rnn.h"
#include "ops/ops.h"
#include "test_util.h"

using namespace tapegrad;

namespace {

struct Leaf : nn::Module {
  Tensor weight;
  explicit Leaf(std::int64_t n) : weight(register_parameter("weight", Tensor::ones({n}))) {}
};

struct Tree : nn::Module {
  Leaf* first;
  Leaf* second;
  Tensor scale;
  Tree()
      : first(&register_module("first", Leaf(2))),
        second(&register_module("second", Leaf(3))),
        scale(register_parameter("scale", Tensor::ones({1}))) {}
};

struct Tied : nn::Module {
  Tensor shared;
  Tied() : shared(register_parameter("a", Tensor::ones({2}))) { register_parameter("b", shared); }
};

}  // namespace

TEST_CASE("named_parameters follow registration order, recursively", "[module]") {
  Tree tree;
  auto named = tree.named_parameters();
  REQUIRE(named.size() == 3);
  REQUIRE(named[0].first == "scale");
  REQUIRE(named[1].first == "first.weight");
  REQUIRE(named[2].first == "second.weight");
  REQUIRE(named[2].second.shape() == Shape{3});
  REQUIRE(tree.num_parameters() == 6);
  for (const Tensor& p : tree.parameters()) REQUIRE(p.requires_grad());
  REQUIRE(tree.named_children().size() == 2);
}

TEST_CASE("a shared parameter is counted once", "[module]") {
  Tied tied;
  REQUIRE(tied.parameters().size() == 1);
  REQUIRE(tied.named_parameters()[0].first == "a");
}

TEST_CASE("moving a module keeps its children and parameters valid", "[module]") {
  Tree original;
  Tensor weight = original.first->weight;
  Tree moved = std::move(original);
  REQUIRE(moved.first->weight.is_same(weight));
  REQUIRE(moved.named_parameters()[1].second.is_same(weight));
}

TEST_CASE("train/eval recurse and zero_grad clears every grad", "[module]") {
  Tree tree;
  REQUIRE(tree.is_training());
  tree.eval();
  REQUIRE_FALSE(tree.is_training());
  REQUIRE_FALSE(tree.first->is_training());
  tree.train();
  REQUIRE(tree.second->is_training());
  Tensor w = tree.second->weight;
  w.backward(Tensor::ones({3}));
  REQUIRE(w.grad().defined());
  tree.zero_grad();
  REQUIRE_FALSE(w.grad().defined());
}

TEST_CASE("registration rejects bad and duplicate names", "[module]") {
  struct Bad : nn::Module {
    void add(const std::string& name) { register_parameter(name, Tensor::ones({1})); }
  } bad;
  bad.add("w");
  REQUIRE_THROWS_AS(bad.add("w"), ValueError);
  REQUIRE_THROWS_AS(bad.add(""), ValueError);
  REQUIRE_THROWS_WITH(bad.add("a.b"), Catch::Contains("register_parameter"));
}

using Catch::Matchers::Contains;

namespace {

// The model of tests/fixtures/make_module_fixture.py, with the same attribute names.
struct Model : nn::Module {
  nn::LSTM* lstm;
  nn::Sequential* head;
  Tensor step, scratch, mean;
  explicit Model(Generator& gen) {
    step = register_buffer("step", Tensor::zeros({1}));
    lstm = &register_module("lstm", nn::LSTM({.input_size = 4, .hidden_size = 8, .num_layers = 2,
                                              .batch_first = true, .bidirectional = true}, gen));
    scratch = register_buffer("scratch", Tensor::zeros({2}), /*persistent=*/false);
    nn::Sequential layers;
    layers.push_back(nn::Linear({.in_features = 16, .out_features = 8}, gen));
    layers.push_back(nn::ReLU());
    layers.push_back(nn::LayerNorm({.normalized_shape = {8}}));
    layers.push_back(nn::Linear({.in_features = 8, .out_features = 1}, gen));
    head = &register_module("head", std::move(layers));
    mean = register_buffer("mean", Tensor::zeros({8}));
  }
};

nlohmann::json module_fixture() {
  std::ifstream file(std::string(TAPEGRAD_FIXTURE_DIR) + "/module_api.json");
  return nlohmann::json::parse(file);
}

// Every layer configuration of the fixture, built as PyTorch built it.
std::string repr_of(const std::string& name, Generator& gen) {
  if (name == "linear") return nn::Linear({.in_features = 10, .out_features = 20}, gen).to_string();
  if (name == "linear_no_bias")
    return nn::Linear({.in_features = 3, .out_features = 1, .bias = false}, gen).to_string();
  if (name == "lstm")
    return nn::LSTM({.input_size = 10, .hidden_size = 20, .num_layers = 2, .batch_first = true}, gen)
        .to_string();
  if (name == "lstm_all_options")
    return nn::LSTM({.input_size = 10, .hidden_size = 20, .num_layers = 3, .bias = false,
                     .batch_first = true, .dropout = 0.25f, .bidirectional = true, .proj_size = 5},
                    gen)
        .to_string();
  if (name == "gru")
    return nn::GRU({.input_size = 3, .hidden_size = 4, .num_layers = 3}, gen).to_string();
  if (name == "rnn_relu")
    return nn::RNN({.input_size = 3, .hidden_size = 4, .num_layers = 2, .nonlinearity = "relu",
                    .dropout = 0.5f}, gen)
        .to_string();
  if (name == "lstm_cell") return nn::LSTMCell({.input_size = 3, .hidden_size = 4}, gen).to_string();
  if (name == "gru_cell_no_bias")
    return nn::GRUCell({.input_size = 3, .hidden_size = 4, .bias = false}, gen).to_string();
  if (name == "rnn_cell_relu")
    return nn::RNNCell({.input_size = 3, .hidden_size = 4, .nonlinearity = "relu"}, gen).to_string();
  if (name == "embedding")
    return nn::Embedding({.num_embeddings = 10, .embedding_dim = 3}, gen).to_string();
  if (name == "embedding_padding")
    return nn::Embedding({.num_embeddings = 10, .embedding_dim = 3, .padding_idx = 0}, gen).to_string();
  if (name == "dropout") return nn::Dropout(0.25f, gen).to_string();
  if (name == "dropout_small") return nn::Dropout(0.1f, gen).to_string();
  if (name == "layer_norm") return nn::LayerNorm({.normalized_shape = {10}}).to_string();
  if (name == "layer_norm_2d")
    return nn::LayerNorm({.normalized_shape = {2, 3}, .eps = 1e-3f, .elementwise_affine = false})
        .to_string();
  if (name == "sequential") {
    nn::Sequential seq;
    seq.push_back(nn::Linear({.in_features = 4, .out_features = 3}, gen));
    seq.push_back(nn::ReLU()).push_back(nn::Tanh()).push_back(nn::Sigmoid());
    seq.push_back(nn::Sequential()).push_back(nn::Dropout(0.5f, gen));
    return seq.to_string();
  }
  if (name == "model") return Model(gen).to_string();
  FAIL("no tapegrad construction for fixture entry " << name);
  return {};
}

std::vector<std::string> names_of(const std::vector<std::pair<std::string, nn::Module*>>& named) {
  std::vector<std::string> names;
  for (const auto& [name, module] : named) names.push_back(name);
  return names;
}

}  // namespace

// ---------------------------------------------------------------- parity with PyTorch

TEST_CASE("print(model) matches PyTorch for every layer and a nested model", "[module][repr]") {
  const auto fixture = module_fixture();
  Generator gen(0);
  for (const auto& [name, expected] : fixture.at("reprs").items()) {
    INFO(name);
    REQUIRE(repr_of(name, gen) == expected.get<std::string>());
  }
}

TEST_CASE("state_dict, named_buffers and named_modules have PyTorch's names and order",
          "[module][state_dict]") {
  const auto fixture = module_fixture();
  Generator gen(0);
  Model model(gen);
  std::vector<std::pair<std::string, Shape>> entries;
  for (const auto& [name, tensor] : model.state_dict()) entries.emplace_back(name, tensor.shape());
  REQUIRE(entries == fixture.at("state_dict").get<std::vector<std::pair<std::string, Shape>>>());
  std::vector<std::string> buffer_names;
  for (const auto& [name, tensor] : model.named_buffers()) buffer_names.push_back(name);
  REQUIRE(buffer_names == fixture.at("named_buffers").get<std::vector<std::string>>());
  REQUIRE(names_of(model.named_modules()) ==
          fixture.at("named_modules").get<std::vector<std::string>>());

  // load_state_dict(strict=False) reports what PyTorch reports.
  NamedTensors partial = model.state_dict();
  partial.erase(partial.find("head.3.bias"));
  partial.emplace_back("extra", Tensor::zeros({1}));
  const IncompatibleKeys result = model.load_state_dict(partial, /*strict=*/false);
  REQUIRE(result.missing_keys ==
          fixture.at("incompatible").at("missing_keys").get<std::vector<std::string>>());
  REQUIRE(result.unexpected_keys ==
          fixture.at("incompatible").at("unexpected_keys").get<std::vector<std::string>>());
}

// ---------------------------------------------------------------- buffers

TEST_CASE("buffers are state, not parameters: listed, not trained, saved when persistent",
          "[module][buffers]") {
  Generator gen(0);
  Model model(gen);
  REQUIRE(model.buffers().size() == 3);
  for (const auto& [name, p] : model.named_parameters()) {
    REQUIRE(name.find("step") == std::string::npos);
  }
  REQUIRE_FALSE(model.step.requires_grad());
  REQUIRE(model.step.name() == "step");
  REQUIRE(model.named_buffers().at("mean").is_same(model.mean));

  // A buffer shared with a child appears once, under its first name.
  struct Shared : nn::Module {
    Tensor counter = register_buffer("counter", Tensor::zeros({1}));
    Shared() { register_buffer("alias", counter); }
  } shared;
  REQUIRE(shared.named_buffers().size() == 1);
  REQUIRE(shared.state_dict().size() == 1);

  struct Bad : nn::Module {
    void add(const std::string& name, Tensor value) { register_buffer(name, std::move(value)); }
    void add_parameter(const std::string& name) { register_parameter(name, Tensor::ones({1})); }
  } bad;
  bad.add("b", Tensor::zeros({1}));
  REQUIRE_THROWS_WITH(bad.add("b", Tensor::zeros({1})),
                      Contains("register_buffer: the name \"b\" is already registered"));
  REQUIRE_THROWS_WITH(bad.add_parameter("b"), Contains("already registered"));
  REQUIRE_THROWS_WITH(bad.add("c", Tensor()),
                      Contains("register_buffer: the tensor for \"c\" is undefined"));
  Tensor x = Tensor::ones({1}, true);
  REQUIRE_THROWS_WITH(bad.add("d", mul(x, 2.0f)), Contains("register_buffer: \"d\" must be a leaf"));
  REQUIRE_THROWS_AS(bad.add("e.f", Tensor::zeros({1})), ValueError);
  REQUIRE(bad.buffers().size() == 1);
}

// ---------------------------------------------------------------- submodules

TEST_CASE("children, modules and apply walk the tree in PyTorch's order", "[module]") {
  Generator gen(0);
  Model model(gen);
  REQUIRE(model.children().size() == 2);
  REQUIRE(model.children()[0] == model.lstm);
  REQUIRE(names_of(model.named_children()) == std::vector<std::string>{"lstm", "head"});
  REQUIRE(model.modules().size() == 7);
  REQUIRE(model.modules().front() == &model);

  // apply: children before their parent (post-order), then the module itself.
  std::vector<std::string> visited;
  nn::Module& returned = model.apply([&](nn::Module& m) { visited.push_back(m.type_name()); });
  REQUIRE(&returned == &model);
  REQUIRE(visited == std::vector<std::string>{"LSTM", "Linear", "ReLU", "LayerNorm", "Linear",
                                              "Sequential", "Model"});

  // The common use: a custom initialisation of every Linear.
  model.apply([](nn::Module& m) {
    if (auto* linear = dynamic_cast<nn::Linear*>(&m)) {
      NoGradGuard no_grad;
      linear->weight.fill_(0.5f);
    }
  });
  REQUIRE(model.state_dict().at("head.3.weight").to_vector() == std::vector<float>(8, 0.5f));
  REQUIRE_THROWS_AS(model.apply(nullptr), ValueError);
}

// ---------------------------------------------------------------- printout

namespace printing {
struct Block : nn::Module {
  std::string extra_repr() const override { return "width=3\ndepth=2"; }
};
struct Named : nn::Module {
  std::string type_name() const override { return "MyName"; }
  std::string extra_repr() const override { return "k=" + nn::repr_float(2.5f); }
};
struct Outer : nn::Module {
  Outer() {
    register_module("block", Block());
    register_module("named", Named());
  }
  std::string extra_repr() const override { return "mode=" + nn::repr_bool(true); }
};
}  // namespace printing

TEST_CASE("the printout follows torch.nn.Module.__repr__: extra lines, children, indentation",
          "[module][repr]") {
  // PyTorch prints multi-line settings one per line, before the children, indented.
  REQUIRE(printing::Block().to_string() == "Block(\n  width=3\n  depth=2\n)");
  REQUIRE(printing::Outer().to_string() ==
          "Outer(\n  mode=True\n  (block): Block(\n    width=3\n    depth=2\n  )\n"
          "  (named): MyName(k=2.5)\n)");
  std::ostringstream streamed;
  streamed << printing::Outer();
  REQUIRE(streamed.str() == printing::Outer().to_string());
  // make_recurrent's modules print under their cell's name, with tapegrad's extra options.
  Generator gen(0);
  REQUIRE(nn::make_recurrent("lstm", {.input_size = 2, .hidden_size = 3}, gen).to_string() ==
          "LSTM(2, 3)");
  REQUIRE(nn::make_recurrent("peephole_lstm", {.input_size = 2, .hidden_size = 3, .zoneout_h = 0.1f},
                             gen)
              .to_string() == "peephole_lstm(2, 3, zoneout_h=0.1)");
}

TEST_CASE("repr_float prints as Python's repr does", "[module][repr]") {
  REQUIRE(nn::repr_float(0.2f) == "0.2");
  REQUIRE(nn::repr_float(1e-5f) == "1e-05");
  REQUIRE(nn::repr_float(0.0001f) == "0.0001");
  REQUIRE(nn::repr_float(1.0f) == "1.0");
  REQUIRE(nn::repr_float(0.0f) == "0.0");
  REQUIRE(nn::repr_float(-0.5f) == "-0.5");
  REQUIRE(nn::repr_float(100.0f) == "100.0");
  REQUIRE(nn::repr_float(123.456f) == "123.456");
  REQUIRE(nn::repr_float(1e16f) == "1e+16");
  REQUIRE(nn::repr_float(1.5e-7f) == "1.5e-07");
  REQUIRE(nn::repr_float(1.0f / 3.0f) == "0.33333334");  // the float's digits, not the double's
  REQUIRE(nn::repr_float(std::numeric_limits<float>::infinity()) == "inf");
  REQUIRE(nn::repr_float(std::nanf("")) == "nan");
  REQUIRE(nn::repr_bool(false) == "False");
}

// ---------------------------------------------------------------- forward hooks

TEST_CASE("forward hooks: pre-hooks change inputs, hooks change outputs, in order", "[module][hooks]") {
  Generator gen(0);
  nn::Linear linear({.in_features = 2, .out_features = 1, .bias = false}, gen);
  {
    NoGradGuard no_grad;
    linear.weight.copy_(Tensor::from_vector({1.0f, 10.0f}, {1, 2}));
  }
  std::vector<std::string> calls;
  linear.register_forward_pre_hook([&](const nn::Module& m, std::vector<Tensor>& inputs) {
    calls.push_back("pre 0 on " + m.type_name());
    inputs[0] = mul(inputs[0], 2.0f);
  });
  linear.register_forward_pre_hook([&](const nn::Module&, std::vector<Tensor>& inputs) {
    calls.push_back("pre 1 sees " + std::to_string(inputs[0].to_vector()[0]));
  });
  RemovableHandle post = linear.register_forward_hook(
      [&](const nn::Module&, const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs) {
        calls.push_back("post sees input " + std::to_string(inputs[0].to_vector()[0]));
        outputs[0] = add(outputs[0], 100.0f);
      });
  Tensor x = Tensor::from_vector({1.0f, 1.0f}, {1, 2}, true);
  Tensor y = linear(x);
  REQUIRE(calls == std::vector<std::string>{"pre 0 on Linear", "pre 1 sees 2.000000",
                                            "post sees input 2.000000"});
  REQUIRE(y.item() == 122.0f);  // (2 + 20) + 100
  y.backward();  // the hooks' ops are part of the graph
  REQUIRE(x.grad().to_vector() == std::vector<float>{2.0f, 20.0f});

  // forward() itself runs no hooks (PyTorch: module.forward(x) skips them); removal works.
  REQUIRE(linear.forward(x).item() == 11.0f);
  post.remove();
  REQUIRE(linear(x).item() == 22.0f);
}

TEST_CASE("forward hooks fire inside Sequential, on recurrent layers and cells, after a move",
          "[module][hooks]") {
  Generator gen(0);
  nn::Sequential seq;
  seq.push_back(nn::Linear({.in_features = 3, .out_features = 3}, gen)).push_back(nn::Tanh());
  std::vector<Shape> captured;
  for (nn::Module* layer : seq.children()) {
    layer->register_forward_hook([&](const nn::Module&, const std::vector<Tensor>&,
                                     std::vector<Tensor>& outputs) {
      captured.push_back(outputs[0].shape());
    });
  }
  nn::Sequential moved = std::move(seq);
  moved.forward(Tensor::zeros({2, 3}));
  REQUIRE(captured == std::vector<Shape>{{2, 3}, {2, 3}});

  nn::LSTM lstm({.input_size = 2, .hidden_size = 3, .batch_first = true}, gen);
  std::vector<std::size_t> seen_inputs, seen_outputs;
  lstm.register_forward_hook([&](const nn::Module&, const std::vector<Tensor>& inputs,
                                 std::vector<Tensor>& outputs) {
    for (const Tensor& t : inputs) seen_inputs.push_back(t.defined() ? t.shape().size() : 0);
    for (const Tensor& t : outputs) seen_outputs.push_back(t.defined() ? t.shape().size() : 0);
    outputs[1] = Tensor::zeros(outputs[1].shape());  // replace h_n
  });
  nn::LSTMOutput out = lstm(Tensor::ones({4, 5, 2}));
  REQUIRE(seen_inputs == std::vector<std::size_t>{3, 0, 0});  // input, no h0, no c0
  REQUIRE(seen_outputs == std::vector<std::size_t>{3, 3, 3});
  REQUIRE(out.state.h.to_vector() == std::vector<float>(12, 0.0f));
  REQUIRE(out.output.shape() == Shape{4, 5, 3});

  nn::GRUCell cell({.input_size = 2, .hidden_size = 3}, gen);
  int cell_calls = 0;
  cell.register_forward_pre_hook([&](const nn::Module&, std::vector<Tensor>& inputs) {
    ++cell_calls;
    REQUIRE(inputs.size() == 2);
  });
  cell(Tensor::ones({1, 2}));
  cell.forward(Tensor::ones({1, 2}));
  REQUIRE(cell_calls == 1);
}

TEST_CASE("forward hooks: changing the number of tensors or an empty hook is refused",
          "[module][hooks]") {
  Generator gen(0);
  nn::Linear linear({.in_features = 2, .out_features = 2}, gen);
  REQUIRE_THROWS_AS(linear.register_forward_hook(nullptr), ValueError);
  REQUIRE_THROWS_AS(linear.register_forward_pre_hook(nullptr), ValueError);
  RemovableHandle pre = linear.register_forward_pre_hook(
      [](const nn::Module&, std::vector<Tensor>& inputs) { inputs.push_back(Tensor()); });
  REQUIRE_THROWS_WITH(linear(Tensor::ones({1, 2})),
                      Contains("Linear: forward pre-hook 0 changed the number of inputs from 1 to 2"));
  pre.remove();
  linear.register_forward_hook(
      [](const nn::Module&, const std::vector<Tensor>&, std::vector<Tensor>& outputs) {
        outputs.clear();
      });
  REQUIRE_THROWS_WITH(linear(Tensor::ones({1, 2})),
                      Contains("Linear: forward hook 0 changed the number of outputs from 1 to 0"));
}

// Every recurrent module's call operator goes through one helper (nn/rnn_module.cpp): the hooks
// see its documented layout, a pre-hook's replacement input is what forward gets, and a hook's
// replacement output is what the caller gets, for every argument and result type.
TEST_CASE("forward hooks on every recurrent module: layout, replaced inputs and outputs",
          "[module][hooks]") {
  Generator gen(3);
  const Tensor x_seq = Tensor::uniform({2, 4, 3}, -1, 1, gen);  // [T, B, I]
  const Tensor h_seq = Tensor::uniform({1, 4, 5}, -1, 1, gen);  // [layers, B, H]
  const Tensor x_step = Tensor::uniform({4, 3}, -1, 1, gen);
  const Tensor h_step = Tensor::uniform({4, 5}, -1, 1, gen);
  struct Seen {
    std::size_t inputs = 0, outputs = 0;
  };
  // A pre-hook that swaps in `replacement` as the first input, and a hook that zeroes the last
  // output; returns what they saw.
  const auto hook = [](nn::Module& module, const Tensor& replacement, Seen& seen) {
    module.register_forward_pre_hook([&seen, replacement](const nn::Module&,
                                                          std::vector<Tensor>& inputs) {
      seen.inputs = inputs.size();
      inputs[0] = replacement;
    });
    module.register_forward_hook(
        [&seen](const nn::Module&, const std::vector<Tensor>&, std::vector<Tensor>& outputs) {
          seen.outputs = outputs.size();
          outputs.back() = Tensor::zeros(outputs.back().shape());
        });
  };
  const auto zero = [](const Tensor& t) {
    return t.to_vector() == std::vector<float>(static_cast<std::size_t>(t.numel()), 0.0f);
  };
  const Tensor seq_replacement = x_seq.detach().clone().mul_(0.5f);
  const Tensor step_replacement = x_step.detach().clone().mul_(0.5f);

  SECTION("GRU and RNN: {input, h0} -> {output, h_n}") {
    nn::GRU gru({.input_size = 3, .hidden_size = 5}, gen);
    nn::RNN rnn({.input_size = 3, .hidden_size = 5, .nonlinearity = "relu"}, gen);
    for (auto* layer : std::initializer_list<nn::Module*>{&gru, &rnn}) {
      Seen seen;
      hook(*layer, seq_replacement, seen);
      const nn::RNNOutput out = layer == &gru ? gru(x_seq, h_seq) : rnn(x_seq, h_seq);
      const nn::RNNOutput plain =
          layer == &gru ? gru.forward(seq_replacement, h_seq) : rnn.forward(seq_replacement, h_seq);
      CHECK(seen.inputs == 2);
      CHECK(seen.outputs == 2);
      CHECK(out.output.to_vector() == plain.output.to_vector());
      CHECK(zero(out.h_n));
      CHECK_FALSE(zero(plain.h_n));
    }
  }
  SECTION("LSTM and a registered cell: {input, h0, c0} -> {output, h_n, c_n}") {
    nn::LSTM lstm({.input_size = 3, .hidden_size = 5}, gen);
    nn::RecurrentBase peephole =
        nn::make_recurrent("peephole_lstm", {.input_size = 3, .hidden_size = 5}, gen);
    Seen lstm_seen, peephole_seen;
    hook(lstm, seq_replacement, lstm_seen);
    hook(peephole, seq_replacement, peephole_seen);
    const nn::LSTMState state{h_seq, h_seq.detach().clone().mul_(-1.0f)};
    const nn::LSTMOutput lstm_out = lstm(x_seq, state);
    const nn::RecurrentOutput peephole_out = peephole(x_seq, state);
    CHECK(lstm_seen.inputs == 3);
    CHECK(lstm_seen.outputs == 3);
    CHECK(peephole_seen.inputs == 3);
    CHECK(peephole_seen.outputs == 3);
    CHECK(lstm_out.output.to_vector() == lstm.forward(seq_replacement, state).output.to_vector());
    CHECK(peephole_out.output.to_vector() ==
          peephole.forward(seq_replacement, state).output.to_vector());
    CHECK(zero(lstm_out.state.c));
    CHECK(zero(peephole_out.c_n));
    CHECK_FALSE(zero(peephole_out.h_n));
  }
  SECTION("cells: {x, h, c} -> {h', c'} and {x, h} -> {h'}") {
    nn::LSTMCell lstm_cell({.input_size = 3, .hidden_size = 5}, gen);
    nn::GRUCell gru_cell({.input_size = 3, .hidden_size = 5}, gen);
    nn::RNNCell rnn_cell({.input_size = 3, .hidden_size = 5}, gen);
    Seen lstm_seen, gru_seen, rnn_seen;
    hook(lstm_cell, step_replacement, lstm_seen);
    hook(gru_cell, step_replacement, gru_seen);
    hook(rnn_cell, step_replacement, rnn_seen);
    const nn::LSTMState step = lstm_cell(x_step, {h_step, h_step});
    CHECK(lstm_seen.inputs == 3);
    CHECK(lstm_seen.outputs == 2);
    CHECK(step.h.to_vector() == lstm_cell.forward(step_replacement, {h_step, h_step}).h.to_vector());
    CHECK(zero(step.c));
    CHECK(zero(gru_cell(x_step, h_step)));
    CHECK(zero(rnn_cell(x_step, h_step)));
    // A single output is the one the hook zeroes, so the replaced input is checked on fresh
    // cells with the pre-hook alone.
    nn::GRUCell gru_only({.input_size = 3, .hidden_size = 5}, gen);
    nn::RNNCell rnn_only({.input_size = 3, .hidden_size = 5}, gen);
    for (nn::Module* cell : std::initializer_list<nn::Module*>{&gru_only, &rnn_only}) {
      cell->register_forward_pre_hook(
          [&](const nn::Module&, std::vector<Tensor>& inputs) { inputs[0] = step_replacement; });
    }
    CHECK(gru_only(x_step, h_step).to_vector() ==
          gru_only.forward(step_replacement, h_step).to_vector());
    CHECK(rnn_only(x_step, h_step).to_vector() ==
          rnn_only.forward(step_replacement, h_step).to_vector());
    CHECK(gru_only(x_step, h_step).to_vector() != gru_only.forward(x_step, h_step).to_vector());
    CHECK(gru_seen.inputs == 2);
    CHECK(gru_seen.outputs == 1);
    CHECK(rnn_seen.inputs == 2);
    CHECK(rnn_seen.outputs == 1);
  }
}
