#include "nn/module.h"

#include <cxxabi.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <ostream>
#include <typeinfo>

#include "autograd/hook_list.h"

namespace tapegrad::nn {

// ---------------------------------------------------------------- registration

void Module::check_name(const char* what, const std::string& name) const {
  if (name.empty() || name.find('.') != std::string::npos) {
    throw ValueError(std::string(what) + ": a name must be non-empty and contain no '.', got \"" +
                     name + "\"");
  }
  const bool taken =
      std::any_of(parameters_.begin(), parameters_.end(),
                  [&](const auto& p) { return p.first == name; }) ||
      std::any_of(buffers_.begin(), buffers_.end(), [&](const Buffer& b) { return b.name == name; }) ||
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

Tensor Module::register_buffer(std::string name, Tensor value, bool persistent) {
  check_name("register_buffer", name);
  if (!value.defined()) {
    throw ValueError("register_buffer: the tensor for \"" + name + "\" is undefined");
  }
  // State, not a result: a buffer with history would keep a graph alive and grow it.
  if (!value.is_leaf()) {
    throw ValueError("register_buffer: \"" + name + "\" must be a leaf tensor (detach() it first)");
  }
  if (value.name().empty()) value.set_name(name);
  buffers_.push_back({std::move(name), value, persistent});
  return value;
}

// ---------------------------------------------------------------- traversal

// Each tensor once, under its first name (PyTorch's remove_duplicate=True).
namespace {
bool first_time(const Tensor& tensor, std::vector<const void*>& seen) {
  const void* key = tensor.impl();
  if (std::find(seen.begin(), seen.end(), key) != seen.end()) return false;
  seen.push_back(key);
  return true;
}
}  // namespace

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out,
                     std::vector<const void*>& seen) const {
  for (const auto& [name, tensor] : parameters_) {
    if (first_time(tensor, seen)) out.emplace_back(prefix + name, tensor);
  }
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out, seen);
}

void Module::collect_buffers(const std::string& prefix, bool persistent_only,
                             std::vector<std::pair<std::string, Tensor>>& out,
                             std::vector<const void*>& seen) const {
  for (const Buffer& buffer : buffers_) {
    if ((buffer.persistent || !persistent_only) && first_time(buffer.value, seen)) {
      out.emplace_back(prefix + buffer.name, buffer.value);
    }
  }
  for (const auto& [name, child] : children_) {
    child->collect_buffers(prefix + name + ".", persistent_only, out, seen);
  }
}

// PyTorch's _save_to_state_dict order: a module's parameters, its persistent buffers, then each
// child's.
void Module::collect_state(const std::string& prefix,
                           std::vector<std::pair<std::string, Tensor>>& out,
                           std::vector<const void*>& seen) const {
  for (const auto& [name, tensor] : parameters_) {
    if (first_time(tensor, seen)) out.emplace_back(prefix + name, tensor.detach());
  }
  for (const Buffer& buffer : buffers_) {
    if (buffer.persistent && first_time(buffer.value, seen)) {
      out.emplace_back(prefix + buffer.name, buffer.value.detach());
    }
  }
  for (const auto& [name, child] : children_) child->collect_state(prefix + name + ".", out, seen);
}

void Module::collect_modules(const std::string& prefix,
                             std::vector<std::pair<std::string, Module*>>& out) const {
  for (const auto& [name, child] : children_) {
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    out.emplace_back(path, child.get());
    child->collect_modules(path, out);
  }
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  std::vector<const void*> seen;
  collect("", out, seen);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, tensor] : named_parameters()) out.push_back(tensor);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  std::vector<const void*> seen;
  collect_buffers("", /*persistent_only=*/false, out, seen);
  return out;
}

std::vector<Tensor> Module::buffers() const {
  std::vector<Tensor> out;
  for (auto& [name, tensor] : named_buffers()) out.push_back(tensor);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  std::vector<const void*> seen;
  collect_state("", out, seen);
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

std::vector<Module*> Module::children() const {
  std::vector<Module*> out;
  for (const auto& [name, child] : children_) out.push_back(child.get());
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() const {
  // const_cast: the tree hands out mutable submodules from a const root, as named_children does.
  std::vector<std::pair<std::string, Module*>> out{{"", const_cast<Module*>(this)}};
  collect_modules("", out);
  return out;
}

std::vector<Module*> Module::modules() const {
  std::vector<Module*> out;
  for (auto& [name, module] : named_modules()) out.push_back(module);
  return out;
}

Module& Module::apply(const std::function<void(Module&)>& fn) {
  if (!fn) throw ValueError("Module::apply: the function is empty");
  for (auto& [name, child] : children_) child->apply(fn);
  fn(*this);
  return *this;
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

// ---------------------------------------------------------------- printout

std::string Module::type_name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && demangled ? demangled : mangled;
  std::free(demangled);
  // "tapegrad::nn::Linear" -> "Linear", "(anonymous namespace)::Model" -> "Model"; template
  // arguments keep their qualifiers.
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '<') ++depth;
    if (name[i] == '>') --depth;
    if (depth == 0 && name.compare(i, 2, "::") == 0) start = i + 2;
  }
  return name.substr(start);
}

namespace {

// Python's _addindent: every line after the first indented by `spaces`.
std::string indent_following_lines(const std::string& text, std::size_t spaces) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') out.append(spaces, ' ');
  }
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  if (text.empty()) return lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(text.substr(start, end - start));
  }
  lines.push_back(text.substr(start));
  return lines;
}

}  // namespace

// torch.nn.Module.__repr__: "Name(extra)" for a module with one line of settings and no
// children; otherwise the settings' lines and "(child): repr" lines, each on its own line
// indented by two.
std::string Module::to_string() const {
  const std::vector<std::string> extra_lines = split_lines(extra_repr());
  std::vector<std::string> child_lines;
  for (const auto& [name, child] : children_) {
    child_lines.push_back("(" + name + "): " + indent_following_lines(child->to_string(), 2));
  }
  std::string out = type_name() + "(";
  if (extra_lines.size() == 1 && child_lines.empty()) {
    out += extra_lines.front();
  } else if (!extra_lines.empty() || !child_lines.empty()) {
    for (const std::string& line : extra_lines) out += "\n  " + line;
    for (const std::string& line : child_lines) out += "\n  " + line;
    out += "\n";
  }
  return out + ")";
}

std::ostream& operator<<(std::ostream& out, const Module& module) {
  return out << module.to_string();
}

// Python's float repr: the shortest digits that round-trip (here of the float itself, so 0.2f
// prints "0.2"), positional for decimal exponents in [-4, 16), else d.ddde-XX.
std::string repr_float(float value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  const std::string scientific(buffer, result.ptr);  // "-1.2345e-05"
  const std::size_t e = scientific.find('e');
  const bool negative = scientific.front() == '-';
  std::string digits;
  for (std::size_t i = negative ? 1 : 0; i < e; ++i) {
    if (scientific[i] != '.') digits += scientific[i];
  }
  const int exponent = std::stoi(scientific.substr(e + 1));
  // Built by appending: GCC 12 reports a false -Wrestrict for "." + std::string (PR 105329).
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out.append("0.").append(static_cast<std::size_t>(-exponent - 1), '0').append(digits);
    } else {
      const auto integer_digits = static_cast<std::size_t>(exponent) + 1;
      if (digits.size() <= integer_digits) {
        out.append(digits).append(integer_digits - digits.size(), '0').append(".0");
      } else {
        out.append(digits, 0, integer_digits).append(1, '.').append(digits, integer_digits);
      }
    }
    return out;
  }
  out.append(digits, 0, 1);
  if (digits.size() > 1) out.append(1, '.').append(digits, 1);
  const std::string magnitude = std::to_string(std::abs(exponent));
  out.append(1, 'e').append(1, exponent < 0 ? '-' : '+');
  if (magnitude.size() < 2) out.append(1, '0');
  return out.append(magnitude);
}

std::string repr_bool(bool value) { return value ? "True" : "False"; }

// ---------------------------------------------------------------- forward hooks

struct Module::Hooks {
  HookList<ForwardPreHook> pre;
  HookList<ForwardHook> post;
};

RemovableHandle Module::register_forward_pre_hook(ForwardPreHook hook) {
  if (!hook) throw ValueError("register_forward_pre_hook: the hook is empty");
  if (!hooks_) hooks_ = std::make_shared<Hooks>();
  return hooks_->pre.add(hooks_, std::move(hook));
}

RemovableHandle Module::register_forward_hook(ForwardHook hook) {
  if (!hook) throw ValueError("register_forward_hook: the hook is empty");
  if (!hooks_) hooks_ = std::make_shared<Hooks>();
  return hooks_->post.add(hooks_, std::move(hook));
}

std::vector<Tensor> Module::call_with_hooks(
    std::vector<Tensor> inputs,
    const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& forward) const {
  if (!hooks_) return forward(inputs);
  // Snapshots of the lists: a hook may remove hooks (itself included) while they run.
  const std::shared_ptr<Hooks> hooks = hooks_;
  const auto pre = hooks->pre.snapshot();
  const std::size_t input_count = inputs.size();
  for (std::size_t i = 0; i < pre.size(); ++i) {
    pre[i](*this, inputs);
    if (inputs.size() != input_count) {
      throw ValueError(type_name() + ": forward pre-hook " + std::to_string(i) +
                       " changed the number of inputs from " + std::to_string(input_count) +
                       " to " + std::to_string(inputs.size()));
    }
  }
  std::vector<Tensor> outputs = forward(inputs);
  const auto post = hooks->post.snapshot();
  const std::size_t output_count = outputs.size();
  for (std::size_t i = 0; i < post.size(); ++i) {
    post[i](*this, inputs, outputs);
    if (outputs.size() != output_count) {
      throw ValueError(type_name() + ": forward hook " + std::to_string(i) +
                       " changed the number of outputs from " + std::to_string(output_count) +
                       " to " + std::to_string(outputs.size()));
    }
  }
  return outputs;
}

}  // namespace tapegrad::nn
