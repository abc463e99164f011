// libFuzzer target: loading a model checkpoint (nn::load, load_safetensors) from arbitrary bytes.
// Properties: no crash or sanitizer report; a load either succeeds or throws tapegrad::Error; a
// load that throws leaves every parameter bit-identical; one that succeeds in strict mode has set
// every parameter to the file's values.
#include <algorithm>
#include <cstdint>

#include "autograd/generator.h"
#include "fuzz_support.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/rnn.h"
#include "nn/serialize.h"

namespace {

using namespace tapegrad;

// The tutorial model at its smallest: LSTM(1 -> 2) and a Linear head.
struct TinyModel : nn::Module {
  explicit TinyModel(Generator& gen) {
    register_module("lstm", nn::LSTM({.input_size = 1, .hidden_size = 2}, gen));
    register_module("head", nn::Linear({.in_features = 2, .out_features = 1}, gen));
  }
};

TinyModel& model() {
  static Generator gen(0);
  static TinyModel instance(gen);
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = fuzz::scratch_path("nn_load");
  fuzz::write_file(path, data, size);
  TinyModel& target = model();
  const auto before = fuzz::snapshot(target.parameters());
  try {
    (void)load_safetensors(path);
  } catch (const Error&) {
  }
  for (bool strict : {true, false}) {
    try {
      nn::load(target, path, strict);
    } catch (const Error&) {
      if (!fuzz::same_bits(before, fuzz::snapshot(target.parameters()))) {
        fuzz::fail("a failed nn::load changed a parameter");
      }
      continue;
    }
    // Restore the reference values so every input starts from the same model.
    auto params = target.parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      std::copy(before[i].begin(), before[i].end(), params[i].data());
    }
  }
  return 0;
}
