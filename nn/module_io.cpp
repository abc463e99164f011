#include "nn/module.h"
#include "nn/serialize.h"

namespace tapegrad::nn {

void save(const Module& module, const std::string& path,
          const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, module.named_parameters(), metadata);
}

void load(Module& module, const std::string& path, bool strict) {
  load_into(path, module.named_parameters(), strict);
}

}  // namespace tapegrad::nn
