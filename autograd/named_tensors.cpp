#include "autograd/named_tensors.h"

#include <algorithm>

namespace tapegrad {

NamedTensors::const_iterator NamedTensors::find(std::string_view name) const {
  return std::find_if(begin(), end(), [name](const auto& entry) { return entry.first == name; });
}

NamedTensors::iterator NamedTensors::find(std::string_view name) {
  return std::find_if(begin(), end(), [name](const auto& entry) { return entry.first == name; });
}

const Tensor& NamedTensors::at(std::string_view name) const {
  const auto found = find(name);
  if (found == end()) {
    std::string names;
    for (const auto& [key, tensor] : *this) names += (names.empty() ? "'" : ", '") + key + "'";
    throw IndexError("NamedTensors::at: no tensor named '" + std::string(name) + "' among the " +
                     std::to_string(size()) + (names.empty() ? "" : ": " + names));
  }
  return found->second;
}

Tensor& NamedTensors::at(std::string_view name) {
  return const_cast<Tensor&>(std::as_const(*this).at(name));
}

}  // namespace tapegrad
