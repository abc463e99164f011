#include "optim/optimizer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "autograd/node.h"
#include "autograd/tensor_impl.h"

namespace tapegrad::optim {

namespace detail {

Tensor filled_state(const Shape& shape, float value) { return Tensor::full(shape, value); }

std::string format_number(float value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string format_number(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

bool parse_number(std::string_view text, float& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

void check_option(const std::string& optimizer, bool ok, std::size_t group,
                  std::string_view option, float value, std::string_view expected) {
  if (!ok) {
    throw ValueError(optimizer + ": invalid " + std::string(option) + ": " + format_number(value) +
                     " (expected " + std::string(expected) + ") in param group " +
                     std::to_string(group));
  }
}

}  // namespace detail

namespace {

constexpr std::string_view kStepSlot = "step";

// A step count must read back as a count: PyTorch stores it as a float tensor too.
bool is_step_count(float value) {
  return std::isfinite(value) && value >= 0.0f && value == std::floor(value);
}

}  // namespace

void Optimizer::check_group_params(const std::vector<Tensor>& params, std::size_t group) const {
  const std::string where = " (param group " + std::to_string(group) + ")";
  if (params.empty()) {
    throw ValueError(name_ + ": got an empty parameter list for param group " +
                     std::to_string(group));
  }
  for (std::size_t j = 0; j < params.size(); ++j) {
    const Tensor& param = params[j];
    const std::size_t i = params_.size() + j;  // its index in params() once added
    if (!param.defined()) {
      throw ValueError(name_ + ": parameter " + std::to_string(i) + where +
                       " is an undefined tensor");
    }
    if (!param.is_leaf()) {
      throw ValueError(name_ + ": can't optimize a non-leaf tensor (parameter " +
                       std::to_string(i) + where + " is the output of '" +
                       param.grad_fn()->name() + "'; use detach() first)");
    }
    auto shares_storage = [&](const Tensor& other) {
      return other.impl()->storage == param.impl()->storage;
    };
    std::size_t other = 0;
    const auto old = std::find_if(params_.begin(), params_.end(), shares_storage);
    if (old != params_.end()) {
      other = static_cast<std::size_t>(old - params_.begin());
    } else {
      const auto earlier = std::find_if(params.begin(), params.begin() + static_cast<std::ptrdiff_t>(j),
                                        shares_storage);
      if (earlier == params.begin() + static_cast<std::ptrdiff_t>(j)) continue;
      other = params_.size() + static_cast<std::size_t>(earlier - params.begin());
    }
    throw ValueError(name_ + ": parameter " + std::to_string(i) + where +
                     " shares its storage with parameter " + std::to_string(other) +
                     " (param group " + std::to_string(other < params_.size() ? group_of_param(other)
                                                                               : group) +
                     "; each parameter may appear in only one group and only once, or it would be "
                     "updated twice)");
  }
}

void Optimizer::append_group_params(const std::vector<Tensor>& params) {
  group_begin_.push_back(params_.size());
  params_.insert(params_.end(), params.begin(), params.end());
  state_.resize(params_.size(), std::vector<Tensor>(slot_names_.size()));
}

std::size_t Optimizer::param_end(std::size_t group) const {
  return group + 1 < group_begin_.size() ? group_begin_.at(group + 1) : params_.size();
}

std::size_t Optimizer::group_of_param(std::size_t param_index) const {
  const auto next = std::upper_bound(group_begin_.begin(), group_begin_.end(), param_index);
  return static_cast<std::size_t>(next - group_begin_.begin()) - 1;
}

float Optimizer::lr() const {
  if (num_param_groups() != 1) {
    throw ValueError(name_ + ": lr() is ambiguous with " + std::to_string(num_param_groups()) +
                     " param groups; use lr(group) or param_groups()[group].options.lr");
  }
  return group_lr(0);
}

void Optimizer::set_lr(float lr) {
  if (num_param_groups() != 1) {
    throw ValueError(name_ + ": set_lr(lr) is ambiguous with " +
                     std::to_string(num_param_groups()) +
                     " param groups; use set_lr(group, lr) or param_groups()[group].options.lr");
  }
  set_lr(0, lr);
}

float Optimizer::lr(std::size_t group) const {
  if (group >= num_param_groups()) {
    throw ValueError(name_ + ": no param group " + std::to_string(group) + " (there are " +
                     std::to_string(num_param_groups()) + ")");
  }
  return group_lr(group);
}

void Optimizer::set_lr(std::size_t group, float lr) {
  (void)this->lr(group);  // checks the index
  detail::check_option(name_, lr >= 0.0f, group, "lr", lr, "lr >= 0");
  store_group_lr(group, lr);
}

void Optimizer::step() {
  if (check_finite_) refuse_non_finite_grads();
  check_param_groups();
  update();
}

void Optimizer::refuse_non_finite_grads() const {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor grad = params_[i].grad();
    if (!grad.defined()) continue;  // skipped by the update too
    const float* values = grad.data();
    const std::int64_t n = grad.numel();
    std::int64_t bad = 0;
    while (bad < n && std::isfinite(values[bad])) ++bad;
    if (bad == n) continue;
    // The element's index in the gradient's shape, e.g. [2, 7], innermost dim last.
    const Shape& shape = grad.shape();
    Shape index(shape.size());
    std::int64_t rest = bad;
    for (std::size_t d = shape.size(); d-- > 0;) {
      index[d] = rest % shape[d];
      rest /= shape[d];
    }
    const std::string& tensor_name = params_[i].name();
    throw ValueError(name_ + ": step refused: the gradient of parameter " + std::to_string(i) +
                     (tensor_name.empty() ? "" : " '" + tensor_name + "'") + " " +
                     format_shape(shape) + " holds " + detail::format_number(values[bad]) +
                     " at index " + format_shape(index) +
                     "; no parameter or state was changed (set_check_finite(false) lets "
                     "non-finite steps through)");
  }
}

void Optimizer::zero_grad() {
  for (Tensor& param : params_) param.zero_grad();
}

std::size_t Optimizer::add_slot(std::string slot_name) {
  slot_names_.push_back(std::move(slot_name));
  for (auto& slots : state_) slots.emplace_back();
  return slot_names_.size() - 1;
}

bool Optimizer::has_state(std::size_t param_index) const {
  const auto& slots = state_[param_index];
  return !slots.empty() && slots.front().defined();
}

NamedTensors Optimizer::state_tensors() const {
  NamedTensors named;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    for (std::size_t s = 0; s < slot_names_.size(); ++s) {
      const Tensor& tensor = state_[i][s];
      if (!tensor.defined()) continue;
      Tensor copy = Tensor::empty(tensor.shape());
      std::copy_n(tensor.data(), tensor.numel(), copy.data());
      named.emplace_back(std::to_string(i) + "." + slot_names_[s], std::move(copy));
    }
  }
  return named;
}

void Optimizer::load_state_tensors(const NamedTensors& named) {
  const std::string where = name_ + ": load_state_tensors: ";
  // Pass 1: validate everything and note where each entry goes; nothing is modified yet.
  std::map<std::pair<std::size_t, std::size_t>, const Tensor*> incoming;
  for (const auto& [key, tensor] : named) {
    const auto dot = key.find('.');
    std::size_t index = 0;
    const char* index_end = key.data() + (dot == std::string::npos ? 0 : dot);
    const auto parsed = std::from_chars(key.data(), index_end, index);
    const std::string slot_name = dot == std::string::npos ? "" : key.substr(dot + 1);
    const auto slot_it = std::find(slot_names_.begin(), slot_names_.end(), slot_name);
    if (dot == std::string::npos || dot == 0 || parsed.ec != std::errc() ||
        parsed.ptr != index_end || index >= params_.size() || slot_it == slot_names_.end()) {
      std::string slots;
      for (const auto& s : slot_names_) slots += (slots.empty() ? "" : ", ") + s;
      throw ValueError(where + "unexpected state '" + key + "' (expected '<param index>.<slot>' " +
                       "with param index < " + std::to_string(params_.size()) +
                       " and slot one of {" + slots + "})");
    }
    const auto slot = static_cast<std::size_t>(slot_it - slot_names_.begin());
    if (!incoming.emplace(std::pair{index, slot}, &tensor).second) {
      throw ValueError(where + "state '" + key + "' is given twice");
    }
    if (!tensor.defined()) {
      throw ValueError(where + "state '" + key + "' is an undefined tensor");
    }
    // Checked here: pass 2 reads data(), which an int64 tensor (an I64 file entry) refuses.
    if (tensor.dtype() != Dtype::float32) {
      throw TypeError(where + "state '" + key + "' is " + dtype_name(tensor.dtype()) +
                      ", expected float32");
    }
    if (slot_name == kStepSlot) {
      if (tensor.numel() != 1) {
        throw ShapeError(where + "state '" + key + "' must hold one element (a step count), got "
                         "shape " + format_shape(tensor.shape()));
      }
      if (!is_step_count(tensor.data()[0])) {
        throw ValueError(where + "state '" + key +
                         "' must be a non-negative whole step count, got " +
                         detail::format_number(tensor.data()[0]));
      }
    } else if (tensor.shape() != params_[index].shape()) {
      throw ShapeError(where + "state '" + key + "' has shape " + format_shape(tensor.shape()) +
                       " but parameter " + std::to_string(index) + " has shape " +
                       format_shape(params_[index].shape()));
    }
  }
  // A partial state would silently mix fresh and trained moments (e.g. a step count of 0 with a
  // trained exp_avg breaks Adam's bias correction), so each parameter has all its slots or none.
  for (std::size_t i = 0; i < params_.size(); ++i) {
    std::string present;
    std::string missing;
    const std::size_t group = group_of_param(i);
    for (std::size_t s = 0; s < slot_names_.size(); ++s) {
      if (!group_uses_slot(group, s)) continue;
      std::string& list = incoming.count({i, s}) ? present : missing;
      list += (list.empty() ? "" : ", ") + slot_names_[s];
    }
    if (!present.empty() && !missing.empty()) {
      throw ValueError(where + "state of parameter " + std::to_string(i) + " (param group " +
                       std::to_string(group) + ") is incomplete: has {" + present + "} but not {" + missing + "}");
    }
  }
  // Pass 2: nothing can fail any more; replace the state.
  for (std::size_t i = 0; i < params_.size(); ++i) {
    for (std::size_t s = 0; s < slot_names_.size(); ++s) {
      const auto found = incoming.find({i, s});
      if (found == incoming.end()) {
        state_[i][s] = Tensor();
        continue;
      }
      const Tensor& source = *found->second;
      Tensor copy = Tensor::empty(slot_names_[s] == kStepSlot ? Shape{1} : params_[i].shape());
      std::copy_n(source.data(), source.numel(), copy.data());
      state_[i][s] = std::move(copy);
    }
  }
}

}  // namespace tapegrad::optim
