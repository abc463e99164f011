#include "nn/module.h"
#include "nn/serialize.h"

namespace tapegrad::nn {

void save(const Module& module, const std::string& path,
          const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, module.state_dict(), metadata);
}

IncompatibleKeys load(Module& module, const std::string& path, bool strict) {
  return load_into(path, module.state_dict(), strict);
}

IncompatibleKeys Module::load_state_dict(const NamedTensors& state_dict, bool strict) {
  return load_into(state_dict, this->state_dict(), strict,
                   {.op = "load_state_dict", .source = "state dict", .destination = "module"});
}

}  // namespace tapegrad::nn
