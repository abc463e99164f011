#pragma once
// NamedTensors: tensors with their names, in order, and lookup by name. What a module's
// state_dict() and named_parameters() give, what load_safetensors returns, what optimizers'
// state_tensors() hold.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad {

// Tensors with their names, in order (a module's named_parameters() and state_dict(), what
// load_safetensors returns), plus lookup by name: state.at("lstm.weight_ih_l0"). A vector, so
// order, iteration and structured bindings work as before; lookups are linear (state dicts
// hold hundreds of entries, not millions).
class NamedTensors : public std::vector<std::pair<std::string, Tensor>> {
 public:
  using Base = std::vector<std::pair<std::string, Tensor>>;
  using Base::Base;
  NamedTensors() = default;
  // Implicit, so code holding the plain vector form passes it where NamedTensors is expected.
  NamedTensors(Base entries) : Base(std::move(entries)) {}

  using Base::at;  // by position
  // The tensor called `name` (the first, if several are); throws IndexError listing the names.
  const Tensor& at(std::string_view name) const;
  Tensor& at(std::string_view name);
  const_iterator find(std::string_view name) const;  // end() if absent
  iterator find(std::string_view name);
  bool contains(std::string_view name) const { return find(name) != end(); }
};

// What load_state_dict / load_into with strict=false leaves out (PyTorch's _IncompatibleKeys):
// names the destination has and the source lacks, and the reverse.
struct IncompatibleKeys {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
};

}  // namespace tapegrad
