#include "optim/checkpoint.h"

#include <cmath>
#include <cstdlib>

#include "nn/serialize.h"

namespace tapegrad::optim {

void save(const Optimizer& optimizer, const std::string& path) {
  save_safetensors(path, optimizer.state_tensors(),
                   {{"optimizer", optimizer.name()}, {"lr", detail::format_number(optimizer.lr())}});
}

void load(Optimizer& optimizer, const std::string& path) {
  std::map<std::string, std::string> metadata;
  NamedTensors state = load_safetensors(path, &metadata);
  const auto kind = metadata.find("optimizer");
  if (kind == metadata.end() || kind->second != optimizer.name()) {
    throw ValueError("optim::load: " + path + " holds the state of " +
                     (kind == metadata.end() ? std::string("no known optimizer") : kind->second) +
                     ", expected " + optimizer.name());
  }
  const auto lr_entry = metadata.find("lr");
  char* end = nullptr;
  const float lr = lr_entry == metadata.end() ? NAN : std::strtof(lr_entry->second.c_str(), &end);
  if (lr_entry == metadata.end() || *end != '\0' || !(lr >= 0.0f)) {
    throw ValueError("optim::load: " + path + " has no valid lr in its metadata");
  }
  optimizer.load_state_tensors(state);  // validates everything before changing anything
  optimizer.set_lr(lr);
}

}  // namespace tapegrad::optim
