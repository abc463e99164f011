// Whole-model and optimizer checkpoints, and the PyTorch -> tapegrad round trip.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "nn/layers.h"
#include "nn/rnn.h"
#include "nn/serialize.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "optim/checkpoint.h"
#include "optim/sgd.h"
#include "test_util.h"

using namespace tapegrad;

namespace {

// The same model as tests/fixtures/make_model_fixture.py: attribute names become parameter names.
struct Forecaster : nn::Module {
  nn::LSTM* lstm;
  nn::Linear* head;
  explicit Forecaster(Generator& gen)
      : lstm(&register_module("lstm", nn::LSTM({.input_size = 1, .hidden_size = 8, .num_layers = 2,
                                                .batch_first = true}, gen))),
        head(&register_module("head", nn::Linear({.in_features = 8, .out_features = 1}, gen))) {}
  Tensor forward(const Tensor& x) const { return head->forward(select(lstm->forward(x).output, 1, -1)); }
};

std::filesystem::path scratch(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / "tapegrad_test_module_io";
  std::filesystem::create_directories(dir);
  return dir / name;
}

Tensor from_json(const nlohmann::json& entry) {
  return Tensor::from_vector(entry.at("values").get<std::vector<float>>(), entry.at("shape").get<Shape>());
}

}  // namespace

TEST_CASE("a model trained in PyTorch runs in tapegrad after loading by name", "[module_io]") {
  std::ifstream file(std::string(TAPEGRAD_FIXTURE_DIR) + "/torch_forecaster.json");
  const auto fixture = nlohmann::json::parse(file);
  Generator gen(123);
  Forecaster model(gen);
  std::vector<std::string> names;
  for (auto& [name, p] : model.named_parameters()) names.push_back(name);
  REQUIRE(names == fixture.at("names").get<std::vector<std::string>>());
  nn::load(model, std::string(TAPEGRAD_FIXTURE_DIR) + "/torch_forecaster.safetensors");
  NoGradGuard no_grad;
  model.eval();
  REQUIRE_ALL_CLOSE(model.forward(from_json(fixture.at("input"))), from_json(fixture.at("output")),
                    1e-5, 1e-6);
}

TEST_CASE("save and load a model and a mismatched file changes nothing", "[module_io]") {
  Generator gen(1), other_gen(2);
  Forecaster model(gen), copy(other_gen);
  const auto path = scratch("model.safetensors").string();
  nn::save(model, path, {{"epoch", "3"}});
  nn::load(copy, path);
  for (std::size_t i = 0; i < model.parameters().size(); ++i) {
    REQUIRE(copy.parameters()[i].to_vector() == model.parameters()[i].to_vector());
  }
  nn::LSTM different({.input_size = 1, .hidden_size = 4}, gen);
  const auto before = different.parameters()[0].to_vector();
  REQUIRE_THROWS_AS(nn::load(different, path), ValueError);  // unexpected names: head.*, l1
  REQUIRE(different.parameters()[0].to_vector() == before);
}

TEST_CASE("optimizer checkpoints resume training exactly", "[module_io]") {
  Generator gen(5);
  Forecaster model(gen);
  optim::Adam adam(model.parameters(), {.lr = 0.01f});
  Tensor x = Tensor::uniform({6, 5, 1}, -1, 1, gen);
  Tensor y = Tensor::uniform({6, 1}, -1, 1, gen);
  auto train_step = [&](Forecaster& m, optim::Optimizer& opt) {
    opt.zero_grad();
    mse_loss(m.forward(x), y).backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) train_step(model, adam);
  const auto model_path = scratch("resume_model.safetensors").string();
  const auto optim_path = scratch("resume_adam.safetensors").string();
  nn::save(model, model_path);
  optim::save(adam, optim_path);

  Generator other(99);
  Forecaster resumed(other);
  optim::Adam resumed_adam(resumed.parameters(), {.lr = 0.5f});
  nn::load(resumed, model_path);
  optim::load(resumed_adam, optim_path);
  REQUIRE(resumed_adam.lr() == 0.01f);
  for (int i = 0; i < 2; ++i) {
    train_step(model, adam);
    train_step(resumed, resumed_adam);
  }
  for (std::size_t i = 0; i < model.parameters().size(); ++i) {
    REQUIRE(resumed.parameters()[i].to_vector() == model.parameters()[i].to_vector());
  }
  optim::SGD sgd(resumed.parameters(), {.lr = 0.1f});
  REQUIRE_THROWS_WITH(optim::load(sgd, optim_path), Catch::Contains("Adam") && Catch::Contains("SGD"));
}

// ---------------------------------------------------------------- in-memory state dicts

namespace {

// A model with buffers: a persistent one (saved) and a scratch one (not).
struct WithBuffers : nn::Module {
  nn::Linear* head;
  Tensor count, scratch;
  explicit WithBuffers(Generator& gen)
      : head(&register_module("head", nn::Linear({.in_features = 3, .out_features = 2}, gen))),
        count(register_buffer("count", Tensor::zeros({1}))),
        scratch(register_buffer("scratch", Tensor::zeros({2}), /*persistent=*/false)) {}
};

std::vector<std::vector<float>> values_of(const NamedTensors& named) {
  std::vector<std::vector<float>> values;
  for (const auto& [name, tensor] : named) values.push_back(tensor.to_vector());
  return values;
}

}  // namespace

TEST_CASE("state_dict holds detached views of the module's storage, as PyTorch's",
          "[module_io][state_dict]") {
  Generator gen(1);
  WithBuffers model(gen);
  NamedTensors state = model.state_dict();
  std::vector<std::string> names;
  for (const auto& [name, tensor] : state) names.push_back(name);
  REQUIRE(names == std::vector<std::string>{"count", "head.weight", "head.bias"});
  for (const auto& [name, tensor] : state) {
    REQUIRE_FALSE(tensor.requires_grad());
    REQUIRE(tensor.is_leaf());
  }
  REQUIRE(model.head->weight.requires_grad());
  // No copy: a write through the state dict is a write to the model.
  state.at("head.bias").fill_(7.0f);
  REQUIRE(model.head->bias.to_vector() == std::vector<float>{7.0f, 7.0f});
}

TEST_CASE("load_state_dict copies another model's state, buffers included", "[module_io][state_dict]") {
  Generator gen(1), other_gen(2);
  WithBuffers trained(gen), fresh(other_gen);
  {
    NoGradGuard no_grad;
    trained.count.fill_(42.0f);
    trained.scratch.fill_(3.0f);
  }
  const std::uint64_t version = fresh.head->weight.version();
  const IncompatibleKeys result = fresh.load_state_dict(trained.state_dict());
  REQUIRE(result.missing_keys.empty());
  REQUIRE(result.unexpected_keys.empty());
  REQUIRE(values_of(fresh.state_dict()) == values_of(trained.state_dict()));
  REQUIRE(fresh.count.item() == 42.0f);
  REQUIRE(fresh.scratch.to_vector() == std::vector<float>{0.0f, 0.0f});  // not persistent
  REQUIRE(fresh.head->weight.version() > version);  // graphs that saved it will notice
  REQUIRE(fresh.head->weight.requires_grad());
  REQUIRE(is_grad_enabled());
  REQUIRE_FALSE(fresh.head->weight.is_same(trained.head->weight));

  // Its own state dict: nothing changes.
  const auto before = values_of(fresh.state_dict());
  fresh.load_state_dict(fresh.state_dict());
  REQUIRE(values_of(fresh.state_dict()) == before);
}

TEST_CASE("load_state_dict: strict lists every problem and changes nothing, non-strict returns them",
          "[module_io][state_dict]") {
  Generator gen(1), other_gen(2);
  WithBuffers model(gen), source_model(other_gen);
  const auto before = values_of(model.state_dict());
  NamedTensors source = source_model.state_dict();
  source.erase(source.find("count"));
  source.emplace_back("head.extra", Tensor::zeros({1}));
  REQUIRE_THROWS_AS(model.load_state_dict(source), ValueError);
  REQUIRE_THROWS_WITH(model.load_state_dict(source),
                      Catch::Contains("load_state_dict: the state dict does not match the module; "
                                      "missing keys (not in the state dict): 'count'; unexpected "
                                      "keys (not in the module): 'head.extra'"));
  REQUIRE(values_of(model.state_dict()) == before);

  const IncompatibleKeys result = model.load_state_dict(source, /*strict=*/false);
  REQUIRE(result.missing_keys == std::vector<std::string>{"count"});
  REQUIRE(result.unexpected_keys == std::vector<std::string>{"head.extra"});
  REQUIRE(model.head->weight.to_vector() == source_model.head->weight.to_vector());

  // A wrong shape is an error strict or not, and nothing is copied.
  Generator gen3(3);
  WithBuffers target(gen3);
  const auto target_before = values_of(target.state_dict());
  NamedTensors wrong = source_model.state_dict();
  wrong.at("head.weight") = Tensor::zeros({3, 2});
  for (bool strict : {true, false}) {
    REQUIRE_THROWS_AS(target.load_state_dict(wrong, strict), ShapeError);
    REQUIRE_THROWS_WITH(target.load_state_dict(wrong, strict),
                        Catch::Contains("shape mismatches: 'head.weight' expected [2, 3] (module), "
                                        "got [3, 2] (state dict)"));
  }
  REQUIRE(values_of(target.state_dict()) == target_before);
}

TEST_CASE("nn::save and nn::load carry persistent buffers, load reports what it left out",
          "[module_io][state_dict]") {
  Generator gen(1), other_gen(2);
  WithBuffers model(gen), copy(other_gen);
  {
    NoGradGuard no_grad;
    model.count.fill_(5.0f);
  }
  const auto path = scratch("buffers.safetensors").string();
  nn::save(model, path);
  NamedTensors file = load_safetensors(path);
  REQUIRE(file.contains("count"));
  REQUIRE_FALSE(file.contains("scratch"));
  REQUIRE(nn::load(copy, path).missing_keys.empty());
  REQUIRE(copy.count.item() == 5.0f);

  nn::GRU other({.input_size = 1, .hidden_size = 2}, gen);
  const IncompatibleKeys left_out = nn::load(other, path, /*strict=*/false);
  REQUIRE(left_out.unexpected_keys == std::vector<std::string>{"count", "head.weight", "head.bias"});
  REQUIRE(left_out.missing_keys ==
          std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"});
}
