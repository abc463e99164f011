#include "nn/module.h"

#include <algorithm>

namespace tapegrad::nn {

void Module::check_name(const char* what, const std::string& name) const {
  if (name.empty() || name.find('.') != std::string::npos) {
    throw ValueError(std::string(what) + ": a name must be non-empty and contain no '.', got \"" +
                     name + "\"");
  }
  const bool taken =
      std::any_of(parameters_.begin(), parameters_.end(),
                  [&](const auto& p) { return p.first == name; }) ||
      std::any_of(children_.begin(), children_.end(), [&](const auto& c) { return c.first == name; });
  if (taken) throw ValueError(std::string(what) + ": the name \"" + name + "\" is already registered");
}

Tensor Module::register_parameter(std::string name, Tensor value, bool requires_grad) {
  check_name("register_parameter", name);
  if (!value.defined()) {
    throw ValueError("register_parameter: the tensor for \"" + name + "\" is undefined");
  }
  if (!value.is_leaf()) {
    throw ValueError("register_parameter: \"" + name +
                     "\" must be a leaf tensor (detach() it first)");
  }
  value.requires_grad_(requires_grad);
  if (value.name().empty()) value.set_name(name);
  parameters_.emplace_back(std::move(name), value);
  return value;
}

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out,
                     std::vector<const void*>& seen) const {
  for (const auto& [name, tensor] : parameters_) {
    const void* key = tensor.impl();
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(key);
    out.emplace_back(prefix + name, tensor);
  }
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out, seen);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  std::vector<const void*> seen;
  collect("", out, seen);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, tensor] : named_parameters()) out.push_back(tensor);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_children() const {
  std::vector<std::pair<std::string, Module*>> out;
  for (const auto& [name, child] : children_) out.emplace_back(name, child.get());
  return out;
}

std::vector<std::pair<std::string, Generator*>> Module::named_generators() {
  std::vector<std::pair<std::string, Generator*>> out = own_generators();
  for (auto& [name, child] : children_) {
    for (auto& [child_name, generator] : child->named_generators()) {
      out.emplace_back(name + "." + child_name, generator);
    }
  }
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (Tensor& p : parameters()) p.zero_grad();
}

std::int64_t Module::num_parameters() const {
  std::int64_t total = 0;
  for (const Tensor& p : parameters()) total += p.numel();
  return total;
}

}  // namespace tapegrad::nn
