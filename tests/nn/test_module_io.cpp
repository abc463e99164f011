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
