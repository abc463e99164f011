// Writes the fuzzers' seed corpora into DIR/{nn_load,optim_load,safetensors_header}: checkpoints
// that load, so that fuzzing starts from the accepted format and mutates inward from there.
//   ./build/tests/fuzz/make_fuzz_seeds tests/fuzz/corpus
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "autograd/generator.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/rnn.h"
#include "nn/serialize.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "optim/checkpoint.h"
#include "optim/lr_scheduler.h"
#include "optim/sgd.h"

namespace fs = std::filesystem;
using namespace tapegrad;

namespace {

std::vector<char> read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The header parser's input: 8 bytes of data-buffer size, then the JSON text.
void write_header_seed(const fs::path& checkpoint, const fs::path& seed) {
  const std::vector<char> file = read_all(checkpoint);
  std::uint64_t header_length = 0;
  std::memcpy(&header_length, file.data(), 8);
  const std::uint64_t buffer_size = file.size() - 8 - header_length;
  std::ofstream out(seed, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&buffer_size), 8);
  out.write(file.data() + 8, static_cast<std::streamsize>(header_length));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_fuzz_seeds DIR\n";
    return 2;
  }
  const fs::path dir = argv[1];
  for (const char* target : {"nn_load", "optim_load", "safetensors_header"}) {
    fs::create_directories(dir / target);
  }

  // The same tiny model as fuzz_nn_load.cpp, with and without metadata, and a strict=false subset.
  Generator gen(0);
  struct TinyModel : nn::Module {
    explicit TinyModel(Generator& g) {
      register_module("lstm", nn::LSTM({.input_size = 1, .hidden_size = 2}, g));
      register_module("head", nn::Linear({.in_features = 2, .out_features = 1}, g));
    }
  } model(gen);
  nn::save(model, (dir / "nn_load" / "model.safetensors").string());
  nn::save(model, (dir / "nn_load" / "model_metadata.safetensors").string(), {{"format", "pt"}});
  const auto named = model.named_parameters();
  save_safetensors((dir / "nn_load" / "head_only.safetensors").string(),
                   {named.end() - 2, named.end()});

  // Optimizer checkpoints like fuzz_optim_load.cpp's setup: Adam with one parameter stepped, alone
  // and with a StepLR, and an SGD one (a kind mismatch).
  std::vector<Tensor> params{Tensor::ones({2, 3}, true), Tensor::ones({3}, true)};
  optim::Adam adam(params, {.lr = 0.01f});
  optim::StepLR scheduler(adam, 2, 0.5f);
  sum(params[0]).backward();
  adam.step();
  scheduler.step();
  optim::save(adam, (dir / "optim_load" / "adam.safetensors").string());
  optim::save(adam, scheduler, (dir / "optim_load" / "adam_steplr.safetensors").string());
  optim::SGD sgd(params, {.lr = 0.1f, .momentum = 0.9f});
  sgd.step();
  optim::save(sgd, (dir / "optim_load" / "sgd.safetensors").string());

  write_header_seed(dir / "nn_load" / "model_metadata.safetensors",
                    dir / "safetensors_header" / "model_metadata");
  write_header_seed(dir / "optim_load" / "adam_steplr.safetensors",
                    dir / "safetensors_header" / "adam_steplr");
  std::cout << "make_fuzz_seeds: wrote the seed corpora under " << dir << "\n";
  return 0;
}
