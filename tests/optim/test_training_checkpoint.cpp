// optim::TrainingCheckpoint: a run saved mid-way and resumed in fresh objects continues bit for
// bit; every refused file changes nothing.
#include <catch2/catch.hpp>

#include <memory>

#include "autograd/grad_mode.h"
#include "data/loader.h"
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

// A copy of the checkpoint at `path` with its metadata `key` set to `value` (a damaged file).
std::string with_metadata(const ScratchDir& dir, const std::string& path, const std::string& key,
                          const std::string& value) {
  std::map<std::string, std::string> metadata;
  const NamedTensors tensors = load_safetensors(path, &metadata);
  metadata.at(key) = value;
  const std::string damaged = dir.file("damaged.safetensors");
  save_safetensors(damaged, tensors, metadata);
  return damaged;
}

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
                            Catch::Contains("the file does not match the module") &&
                            Catch::Contains("'lstm.weight_ih_l0' expected [24, 3] (module), "
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
      return with_metadata(dir, path, key, value);
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
                            Catch::Contains("dtype mismatches: 'lstm.weight_hh_l1' expected "
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

namespace {

// X[i] = [i, -i], y[i] = i over 13 rows: a batch's rows name their samples.
data::TensorDataset numbered_rows() {
  const Tensor ids = Tensor::arange(0.0f, 13.0f);
  return data::TensorDataset({stack({ids, neg(ids)}, 1), ids});
}

// A loop over a shuffled loader (5 batches of 3 rows per epoch) that checkpoints the loader and
// its own epoch counter.
struct LoaderRun {
  data::DataLoader loader;
  std::int64_t epoch = 0;  // the epoch in progress
  optim::TrainingCheckpoint checkpoint;
  LoaderRun(std::uint64_t seed, std::int64_t prefetch)
      : loader(numbered_rows(), {.batch_size = 3, .shuffle = true, .seed = seed,
                                 .prefetch_batches = prefetch}) {
    checkpoint.add_integer("epoch", epoch).add_loader("loader", loader);
  }
};

std::vector<std::vector<float>> rows_of(const data::Batch& batch) {
  std::vector<std::vector<float>> fields;
  for (const Tensor& field : batch) fields.push_back(field.to_vector());
  return fields;
}

}  // namespace

TEST_CASE("a loader checkpointed mid-epoch resumes in a fresh loader at the next batch",
          "[optim][training_checkpoint][loader]") {
  constexpr std::int64_t epochs = 3;
  for (std::int64_t prefetch : {0, 2}) {
    for (std::int64_t save_at : {6, 9}) {  // epoch 1's batch 1, and its last batch (4)
      INFO("prefetch " << prefetch << ", saved in the body of batch " << save_at);
      ScratchDir dir;
      const std::string path = dir.file("loader.safetensors");
      LoaderRun original(21, prefetch);
      REQUIRE(original.loader.size() == 5);
      std::vector<std::vector<std::vector<float>>> expected_rest;  // after the save
      std::int64_t seen = 0;
      for (; original.epoch < epochs; ++original.epoch) {
        for (const data::Batch& batch : original.loader) {
          if (seen > save_at) expected_rest.push_back(rows_of(batch));
          if (seen++ == save_at) original.checkpoint.save(path);
        }
      }
      REQUIRE(static_cast<std::int64_t>(expected_rest.size()) == epochs * 5 - save_at - 1);

      std::map<std::string, std::string> metadata;
      load_safetensors(path, &metadata);
      REQUIRE(metadata.at("loader/epochs_begun") == "2");
      REQUIRE(metadata.at("loader/batches_yielded") == std::to_string(save_at - 5 + 1));
      REQUIRE(metadata.count("loader/generator") == 1);

      LoaderRun resumed(99, prefetch);  // another seed: the order must come from the file
      resumed.checkpoint.load(path);
      REQUIRE(resumed.epoch == 1);
      REQUIRE(resumed.loader.epochs_begun() == 2);
      std::vector<std::vector<std::vector<float>>> rest;
      std::int64_t epochs_ended = 0;
      for (; resumed.epoch < epochs; ++resumed.epoch, ++epochs_ended) {
        for (const data::Batch& batch : resumed.loader) rest.push_back(rows_of(batch));
      }
      REQUIRE(rest == expected_rest);
      REQUIRE(epochs_ended == 2);  // the rest of epoch 1 (empty after its last batch), then 2
    }
  }
}

TEST_CASE("a loader state the loader refuses fails the whole load and changes nothing",
          "[optim][training_checkpoint][loader][errors]") {
  ScratchDir dir;
  const std::string path = dir.file("loader.safetensors");
  // Saved with the loader in epoch 2 after 4 of its 5 batches.
  {
    LoaderRun saved(3, 0);
    saved.epoch = 1;
    for (const data::Batch& batch : saved.loader) (void)batch;
    auto it = saved.loader.begin();
    for (int k = 0; k < 4; ++k, ++it) (void)*it;
    saved.checkpoint.save(path);
  }
  const auto rewritten = [&](const std::string& key, const std::string& value) {
    return with_metadata(dir, path, key, value);
  };

  // The victim stands in epoch 1 after 2 batches; the integer entry comes first, so a load that
  // applied entries before checking the loader's would change it.
  LoaderRun victim(8, 2);
  victim.epoch = 7;
  auto victim_it = victim.loader.begin();
  (void)*victim_it;
  (void)*++victim_it;
  const data::LoaderState before = victim.loader.state();
  REQUIRE(before.batches_yielded == 2);
  const auto unchanged = [&] {
    REQUIRE(victim.epoch == 7);
    const data::LoaderState after = victim.loader.state();
    REQUIRE(after.generator.state() == before.generator.state());
    REQUIRE(after.epochs_begun == before.epochs_begun);
    REQUIRE(after.batches_yielded == before.batches_yielded);
  };

  REQUIRE_THROWS_AS(victim.checkpoint.load(rewritten("loader/batches_yielded", "6")), ValueError);
  REQUIRE_THROWS_WITH(victim.checkpoint.load(rewritten("loader/batches_yielded", "6")),
                      Catch::Contains("loader \"loader\"") &&
                          Catch::Contains("DataLoader.load_state: batches_yielded must be <= 5 "
                                          "(the batches per epoch), got 6"));
  unchanged();
  REQUIRE_THROWS_WITH(victim.checkpoint.load(rewritten("loader/epochs_begun", "-1")),
                      Catch::Contains("loader \"loader\"") &&
                          Catch::Contains("epochs_begun must be >= 0, got -1"));
  unchanged();
  REQUIRE_THROWS_WITH(victim.checkpoint.load(rewritten("loader/epochs_begun", "2.5")),
                      Catch::Contains("loader \"loader\"") &&
                          Catch::Contains("\"epochs_begun\" is not a valid number: \"2.5\""));
  unchanged();
  REQUIRE_THROWS_WITH(
      victim.checkpoint.load(rewritten("loader/generator", "tapegrad-mt19937_64 0 1")),
      Catch::Contains("loader \"loader\": generator") &&
          Catch::Contains("Generator::load_state"));
  unchanged();
  REQUIRE_THROWS_WITH(victim.checkpoint.load(rewritten("loader/generator",
                                                       Generator::torch(1).state())),
                      Catch::Contains("loader \"loader\"") &&
                          Catch::Contains("the generator is on PyTorch's stream"));
  unchanged();
  // A valid state for another loader: larger batches (fewer per epoch), or more samples.
  {
    data::DataLoader smaller(numbered_rows(), {.batch_size = 4, .shuffle = true});
    REQUIRE(smaller.size() == 4);
    std::int64_t epoch = 7;
    optim::TrainingCheckpoint checkpoint;
    checkpoint.add_integer("epoch", epoch).add_loader("loader", smaller);
    const data::LoaderState smaller_before = smaller.state();
    REQUIRE_THROWS_WITH(checkpoint.load(path),
                        Catch::Contains("loader \"loader\": the file's loader visits 13 samples "
                                        "in 5 batches per epoch, this one 13 in 4"));
    REQUIRE(epoch == 7);
    REQUIRE(smaller.state().generator.state() == smaller_before.generator.state());
    REQUIRE(smaller.state().epochs_begun == 0);

    const Tensor more = Tensor::arange(0.0f, 14.0f);
    data::DataLoader more_rows(data::TensorDataset({stack({more, neg(more)}, 1), more}),
                               {.batch_size = 3, .shuffle = true});
    REQUIRE(more_rows.size() == 5);  // the same batch count: only the sample count differs
    optim::TrainingCheckpoint other_data;
    other_data.add_integer("epoch", epoch).add_loader("loader", more_rows);
    REQUIRE_THROWS_WITH(other_data.load(path),
                        Catch::Contains("visits 13 samples in 5 batches per epoch, this one 14 "
                                        "in 5"));
    REQUIRE(epoch == 7);
  }
  // The file as saved loads, and the victim's loop continues the saved one.
  victim.checkpoint.load(path);
  REQUIRE(victim.epoch == 1);
  REQUIRE(victim.loader.state().epochs_begun == 2);
  REQUIRE(victim.loader.state().batches_yielded == 4);
  REQUIRE(victim.loader.begin() != victim.loader.end());
}
