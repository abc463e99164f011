// optim::TrainingCheckpoint: a run saved mid-way and resumed in fresh objects continues bit for
// bit; every refused file changes nothing.
#include <catch2/catch.hpp>

#include <memory>

#include "autograd/grad_mode.h"
#include "nn/rnn.h"
#include "nn/serialize.h"
#include "ops/losses.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "optim/checkpoint.h"
#include "optim/lr_scheduler.h"
#include "optim/sgd.h"
#include "optim/training_checkpoint.h"
#include "../nn/safetensors_test_util.h"

using namespace tapegrad;
using tapegrad::testing::ScratchDir;

namespace {

// A 2-layer LSTM with dropout between the layers: in training mode every forward draws masks
// from the LSTM's own generator, so a resume that lost it would draw other masks.
struct DropoutModel : nn::Module {
  nn::LSTM* lstm;
  explicit DropoutModel(Generator& generator, std::int64_t hidden = 6)
      : lstm(&register_module("lstm", nn::LSTM({.input_size = 3, .hidden_size = hidden,
                                                 .num_layers = 2, .batch_first = true,
                                                 .dropout = 0.5f},
                                                generator))) {}
};

// Everything one training run owns, built from a seed; `checkpoint` registers all of it.
struct Run {
  Generator init;
  DropoutModel model;
  optim::Adam adam;
  optim::StepLR scheduler;
  Generator data;  // draws each step's inputs, as a shuffling loader would
  std::int64_t step = 0;
  double loss_sum = 0.0;
  Tensor carried_h;  // a detached state carried from step to step (truncated BPTT)
  optim::TrainingCheckpoint checkpoint;

  explicit Run(std::uint64_t seed)
      : init(seed),
        model(init),
        adam(model.parameters(), {.lr = 0.01f}),
        scheduler(adam, 2, 0.5f),
        data(seed + 100) {
    checkpoint.add_module("model", model)
        .add_optimizer("optimizer", adam)
        .add_scheduler("scheduler", scheduler)
        .add_generator("data", data)
        .add_integer("step", step)
        .add_real("loss_sum", loss_sum)
        .add_tensor("carried_h", carried_h);
  }

  // One training step; returns the loss.
  float train_step() {
    const Tensor x = Tensor::uniform({2, 4, 3}, -1.0f, 1.0f, data);
    nn::LSTMState state;
    if (carried_h.defined()) state = {carried_h, Tensor::zeros(carried_h.shape())};
    const nn::LSTMOutput out = model.lstm->forward(x, state);
    Tensor loss = mse_loss(out.output, Tensor::zeros(out.output.shape()));
    adam.zero_grad();
    loss.backward();
    adam.step();
    scheduler.step();
    carried_h = out.state.h.detach();
    ++step;
    const float value = loss.item();
    loss_sum += value;
    return value;
  }
};

std::vector<std::vector<float>> values_of(const nn::Module& module) {
  std::vector<std::vector<float>> values;
  for (const Tensor& parameter : module.parameters()) values.push_back(parameter.to_vector());
  return values;
}

std::vector<std::string> generator_states(nn::Module& module) {
  std::vector<std::string> states;
  for (const auto& [name, generator] : module.named_generators()) {
    states.push_back(generator->state());
  }
  return states;
}

}  // namespace

TEST_CASE("a run saved mid-way and resumed in fresh objects ends bit-identical",
          "[optim][training_checkpoint]") {
  ScratchDir dir;
  const std::string path = dir.file("run.safetensors");
  Run original(1);
  for (int i = 0; i < 3; ++i) original.train_step();
  original.checkpoint.save(path);
  const std::vector<std::string> saved_generators = generator_states(original.model);
  REQUIRE(saved_generators.size() == 1);  // the LSTM's dropout generator
  std::vector<float> expected_losses;
  for (int i = 0; i < 4; ++i) expected_losses.push_back(original.train_step());

  Run resumed(7);  // other weights, data stream and dropout stream
  REQUIRE(values_of(resumed.model) != values_of(original.model));
  resumed.checkpoint.load(path);
  REQUIRE(resumed.step == 3);
  REQUIRE(resumed.scheduler.last_epoch() == 3);
  REQUIRE(generator_states(resumed.model) == saved_generators);
  REQUIRE(resumed.carried_h.defined());
  REQUIRE(!resumed.carried_h.requires_grad());
  std::vector<float> losses;
  for (int i = 0; i < 4; ++i) losses.push_back(resumed.train_step());

  REQUIRE(losses == expected_losses);
  REQUIRE(values_of(resumed.model) == values_of(original.model));
  REQUIRE(resumed.loss_sum == original.loss_sum);  // the double round-trips exactly
  REQUIRE(resumed.adam.lr() == original.adam.lr());
  REQUIRE(resumed.carried_h.to_vector() == original.carried_h.to_vector());
}

TEST_CASE("an undefined tensor entry round-trips as undefined", "[optim][training_checkpoint]") {
  ScratchDir dir;
  const std::string path = dir.file("fresh.safetensors");
  Run fresh(2);  // no step yet: carried_h undefined, Adam without state
  fresh.checkpoint.save(path);
  Run other(3);
  other.train_step();
  REQUIRE(other.carried_h.defined());
  other.checkpoint.load(path);
  REQUIRE(!other.carried_h.defined());
  REQUIRE(other.step == 0);
  REQUIRE(other.adam.state_tensors().empty());
  REQUIRE(values_of(other.model) == values_of(fresh.model));
}

TEST_CASE("TrainingCheckpoint refuses bad names and trainable loose tensors",
          "[optim][training_checkpoint][errors]") {
  optim::TrainingCheckpoint checkpoint;
  std::int64_t counter = 0;
  Tensor weight = Tensor::zeros({2}, true);
  REQUIRE_THROWS_WITH(checkpoint.add_integer("", counter),
                      Catch::Contains("TrainingCheckpoint::add_integer") &&
                          Catch::Contains("non-empty name"));
  REQUIRE_THROWS_WITH(checkpoint.add_integer("a/b", counter), Catch::Contains("\"a/b\""));
  REQUIRE_THROWS_WITH(checkpoint.add_integer("a,b", counter), Catch::Contains("\"a,b\""));
  checkpoint.add_integer("epoch", counter);
  REQUIRE_THROWS_WITH(checkpoint.add_tensor("epoch", weight),
                      Catch::Contains("TrainingCheckpoint::add_tensor") &&
                          Catch::Contains("\"epoch\" is already taken (an integer entry)"));
  checkpoint.add_tensor("weight", weight);
  ScratchDir dir;
  const std::string path = dir.file("refused.safetensors");
  REQUIRE_THROWS_WITH(checkpoint.save(path), Catch::Contains("TrainingCheckpoint::save") &&
                                                 Catch::Contains("\"weight\" requires grad"));
  REQUIRE(dir.listing().empty());  // nothing written, not even a temporary
}

TEST_CASE("a checkpoint of another model, setup or format is refused and changes nothing",
          "[optim][training_checkpoint][errors]") {
  ScratchDir dir;
  const std::string path = dir.file("run.safetensors");
  Run saved(1);
  saved.train_step();
  saved.checkpoint.save(path);

  // The victim has trained a step of its own: state that a half-done load would overwrite.
  Run victim(5);
  victim.train_step();
  victim.train_step();
  const auto parameters_before = values_of(victim.model);
  const NamedTensors adam_before = victim.adam.state_tensors();
  const std::vector<std::string> generators_before = generator_states(victim.model);
  const std::string data_before = victim.data.state();
  const float lr_before = victim.adam.lr();
  const auto unchanged = [&] {
    REQUIRE(values_of(victim.model) == parameters_before);
    const NamedTensors adam_after = victim.adam.state_tensors();
    REQUIRE(adam_after.size() == adam_before.size());
    for (std::size_t i = 0; i < adam_after.size(); ++i) {
      REQUIRE(adam_after[i].first == adam_before[i].first);
      REQUIRE(adam_after[i].second.to_vector() == adam_before[i].second.to_vector());
    }
    REQUIRE(generator_states(victim.model) == generators_before);
    REQUIRE(victim.data.state() == data_before);
    REQUIRE(victim.step == 2);
    REQUIRE(victim.adam.lr() == lr_before);
    REQUIRE(victim.scheduler.last_epoch() == 2);
  };

  SECTION("a model of another size") {
    Generator generator(0);
    DropoutModel wider(generator, 8);
    optim::TrainingCheckpoint checkpoint;
    std::int64_t step = 0;
    checkpoint.add_module("model", wider).add_integer("step", step);
    const std::string wider_path = dir.file("wider.safetensors");
    checkpoint.save(wider_path);
    optim::TrainingCheckpoint same_entries;
    same_entries.add_module("model", victim.model).add_integer("step", victim.step);
    REQUIRE_THROWS_AS(same_entries.load(wider_path), ShapeError);
    REQUIRE_THROWS_WITH(same_entries.load(wider_path),
                        Catch::Contains("module \"model\"") &&
                            Catch::Contains("\"lstm.weight_ih_l0\" expected [24, 3] (module), "
                                            "got [32, 3] (file)"));
    unchanged();
  }
  SECTION("other entries") {
    optim::TrainingCheckpoint checkpoint;
    checkpoint.add_module("model", victim.model).add_integer("step", victim.step);
    REQUIRE_THROWS_WITH(checkpoint.load(path),
                        Catch::Contains("entries differ") &&
                            Catch::Contains("unexpected: optimizer:optimizer scheduler:scheduler"));
    unchanged();
  }
  SECTION("another kind of optimizer") {
    optim::SGD sgd(victim.model.parameters(), {.lr = 0.1f});
    optim::TrainingCheckpoint checkpoint;
    checkpoint.add_module("model", victim.model).add_optimizer("optimizer", sgd);
    optim::TrainingCheckpoint adam_checkpoint;
    adam_checkpoint.add_module("model", saved.model).add_optimizer("optimizer", saved.adam);
    const std::string adam_path = dir.file("adam.safetensors");
    adam_checkpoint.save(adam_path);
    REQUIRE_THROWS_WITH(checkpoint.load(adam_path),
                        Catch::Contains("optimizer \"optimizer\"") &&
                            Catch::Contains("holds the state of Adam, expected SGD"));
    unchanged();
  }
  SECTION("an optimizer-only file") {
    const std::string optimizer_path = dir.file("optimizer.safetensors");
    optim::save(saved.adam, optimizer_path);
    REQUIRE_THROWS_WITH(victim.checkpoint.load(optimizer_path),
                        Catch::Contains("expected a training checkpoint") &&
                            Catch::Contains("a file without a format"));
    unchanged();
  }
  SECTION("a damaged generator state, counter or optimizer state") {
    std::map<std::string, std::string> metadata;
    const NamedTensors tensors = load_safetensors(path, &metadata);
    const auto rewritten = [&](const std::string& key, const std::string& value) {
      auto changed = metadata;
      changed.at(key) = value;
      const std::string damaged = dir.file("damaged.safetensors");
      save_safetensors(damaged, tensors, changed);
      return damaged;
    };
    REQUIRE_THROWS_WITH(victim.checkpoint.load(rewritten("data/state", "tapegrad-mt19937_64 0 1")),
                        Catch::Contains("generator \"data\"") &&
                            Catch::Contains("Generator::load_state"));
    unchanged();
    REQUIRE_THROWS_WITH(victim.checkpoint.load(rewritten("step/value", "3x")),
                        Catch::Contains("integer \"step\"") &&
                            Catch::Contains("not a valid number: \"3x\""));
    unchanged();
    REQUIRE_THROWS_WITH(victim.checkpoint.load(rewritten("scheduler/scheduler", "ExponentialLR")),
                        Catch::Contains("scheduler \"scheduler\"") &&
                            Catch::Contains("expected StepLR"));
    unchanged();
    // The optimizer refuses a state tensor of the wrong shape only when it takes it: the load
    // must still leave everything as it was.
    NamedTensors bad_state = tensors;
    for (auto& [name, tensor] : bad_state) {
      if (name == "optimizer/0.exp_avg") tensor = Tensor::zeros({1});
    }
    const std::string bad = dir.file("bad_state.safetensors");
    save_safetensors(bad, bad_state, metadata);
    REQUIRE_THROWS_AS(victim.checkpoint.load(bad), ShapeError);
    REQUIRE_THROWS_WITH(victim.checkpoint.load(bad), Catch::Contains("optimizer \"optimizer\""));
    unchanged();
  }
  SECTION("int64 values for a float parameter or optimizer state (I64 entries)") {
    std::map<std::string, std::string> metadata;
    const NamedTensors tensors = load_safetensors(path, &metadata);
    const auto with_int64 = [&](const std::string& entry) {
      NamedTensors changed = tensors;
      for (auto& [name, tensor] : changed) {
        if (name == entry) tensor = tensor.to(Dtype::int64);
      }
      const std::string damaged = dir.file("int64.safetensors");
      save_safetensors(damaged, changed, metadata);
      return damaged;
    };
    const std::string int64_weight = with_int64("model/lstm.weight_hh_l1");
    REQUIRE_THROWS_AS(victim.checkpoint.load(int64_weight), TypeError);
    REQUIRE_THROWS_WITH(victim.checkpoint.load(int64_weight),
                        Catch::Contains("module \"model\"") &&
                            Catch::Contains("dtype mismatches: \"lstm.weight_hh_l1\" expected "
                                            "float32 (module), got int64 (file)"));
    unchanged();
    const std::string int64_state = with_int64("optimizer/1.exp_avg_sq");
    REQUIRE_THROWS_AS(victim.checkpoint.load(int64_state), TypeError);
    REQUIRE_THROWS_WITH(victim.checkpoint.load(int64_state),
                        Catch::Contains("'1.exp_avg_sq' is int64, expected float32"));
    unchanged();
  }
}

TEST_CASE("a second optimizer that refuses its state rolls the first back",
          "[optim][training_checkpoint][errors]") {
  const auto stepped = [](float grad) {
    Tensor parameter = Tensor::full({3}, 1.0f, true);
    auto adam = std::make_unique<optim::Adam>(std::vector<Tensor>{parameter},
                                              optim::AdamOptions{.lr = 0.1f});
    parameter.backward(Tensor::full({3}, grad));
    adam->step();
    return std::make_pair(parameter, std::move(adam));
  };
  auto [p1, first] = stepped(1.0f);
  auto [p2, second] = stepped(2.0f);
  optim::TrainingCheckpoint checkpoint;
  checkpoint.add_optimizer("first", *first).add_optimizer("second", *second);
  ScratchDir dir;
  const std::string path = dir.file("two.safetensors");
  checkpoint.save(path);
  std::map<std::string, std::string> metadata;
  NamedTensors tensors = load_safetensors(path, &metadata);
  for (auto& [name, tensor] : tensors) {
    if (name == "first/0.exp_avg") tensor = Tensor::full({3}, 42.0f);  // a valid new state
    if (name == "second/0.exp_avg") tensor = Tensor::zeros({2});      // refused
  }
  save_safetensors(path, tensors, metadata);
  const std::vector<float> before = first->state_tensors().at(1).second.to_vector();
  REQUIRE_THROWS_WITH(checkpoint.load(path), Catch::Contains("optimizer \"second\""));
  REQUIRE(first->state_tensors().at(1).first == "0.exp_avg");
  REQUIRE(first->state_tensors().at(1).second.to_vector() == before);
}

TEST_CASE("a module's persistent buffers resume with it, non-persistent ones are left alone",
          "[optim][training_checkpoint]") {
  struct Counting : nn::Module {
    Tensor weight = register_parameter("weight", Tensor::ones({2}));
    Tensor seen = register_buffer("seen", Tensor::zeros({2}));
    Tensor scratch = register_buffer("scratch", Tensor::zeros({1}), /*persistent=*/false);
  };
  ScratchDir dir;
  const std::string path = dir.file("buffers.safetensors");
  Counting model;
  optim::TrainingCheckpoint checkpoint;
  checkpoint.add_module("model", model);
  model.seen.data()[0] = 3.0f;
  model.seen.data()[1] = 4.0f;
  checkpoint.save(path);
  model.seen.data()[0] = -1.0f;
  model.scratch.data()[0] = 7.0f;
  checkpoint.load(path);
  REQUIRE(model.seen.to_vector() == std::vector<float>{3.0f, 4.0f});
  REQUIRE(model.scratch.to_vector() == std::vector<float>{7.0f});
  REQUIRE(model.weight.to_vector() == std::vector<float>{1.0f, 1.0f});
}
