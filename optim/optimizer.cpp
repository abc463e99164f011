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

}  // namespace detail

namespace {

constexpr std::string_view kStepSlot = "step";

// A step count must read back as a count: PyTorch stores it as a float tensor too.
bool is_step_count(float value) {
  return std::isfinite(value) && value >= 0.0f && value == std::floor(value);
}

}  // namespace

Optimizer::Optimizer(std::string name, std::vector<Tensor> params, float lr)
    : params_(std::move(params)), name_(std::move(name)), lr_(lr), state_(params_.size()) {
  if (params_.empty()) {
    throw ValueError(name_ + ": got an empty parameter list");
  }
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& param = params_[i];
    if (!param.defined()) {
      throw ValueError(name_ + ": parameter " + std::to_string(i) + " is an undefined tensor");
    }
    if (!param.is_leaf()) {
      throw ValueError(name_ + ": can't optimize a non-leaf tensor (parameter " +
                       std::to_string(i) + " is the output of '" + param.grad_fn()->name() +
                       "'; use detach() first)");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (params_[j].impl()->storage == param.impl()->storage) {
        throw ValueError(name_ + ": parameter " + std::to_string(i) +
                         " shares its storage with parameter " + std::to_string(j) +
                         " (each parameter may appear only once, or it would be updated twice)");
      }
    }
  }
}

void Optimizer::step() {
  if (check_finite_) refuse_non_finite_grads();
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

void Optimizer::set_lr(float lr) {
  check_option(lr >= 0.0f, "lr", lr, "lr >= 0");
  lr_ = lr;
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

void Optimizer::check_option(bool ok, std::string_view option, float value,
                             std::string_view expected) const {
  if (!ok) {
    throw ValueError(name_ + ": invalid " + std::string(option) + ": " +
                     detail::format_number(value) + " (expected " + std::string(expected) + ")");
  }
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
    for (std::size_t s = 0; s < slot_names_.size(); ++s) {
      std::string& list = incoming.count({i, s}) ? present : missing;
      list += (list.empty() ? "" : ", ") + slot_names_[s];
    }
    if (!present.empty() && !missing.empty()) {
      throw ValueError(where + "state of parameter " + std::to_string(i) +
                       " is incomplete: has {" + present + "} but not {" + missing + "}");
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
