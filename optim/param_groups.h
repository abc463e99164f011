#pragma once
// Parameter groups with typed options, as torch.optim's param_groups:
//   optim::AdamW adamw({{.params = weights}, {.params = biases_and_norms, .weight_decay = 0.0f}},
//                      {.lr = 1e-3f, .weight_decay = 0.01f});
//   adamw.param_groups()[1].options.lr = 1e-4f;       // read or change a group's options
//   adamw.add_param_group({.params = new_head, .lr = 1e-2f});
// Each optimizer has an options struct (SGDOptions, ...) and a group struct (SGDParamGroup, ...)
// whose std::optional fields override the optimizer's defaults; an option a group does not give
// takes the default, as in PyTorch. An option the optimizer does not have (momentum for Adam)
// does not compile; in a checkpoint it is a ValueError. A list of exactly one group must name its
// type, std::vector<AdamParamGroup>{{.params = ...}}, or it is ambiguous with the one-list form.
#include <array>
#include <cmath>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "optim/optimizer.h"

namespace tapegrad::optim {

// One group: its parameters (fixed; use add_param_group for more) and its options (free to change
// between steps; step() checks them first).
template <typename Options>
class ParamGroup {
 public:
  ParamGroup(std::vector<Tensor> params, const Options& options)
      : options(options), params_(std::move(params)) {}
  const std::vector<Tensor>& params() const { return params_; }
  Options options;

 private:
  std::vector<Tensor> params_;
};

namespace detail {

inline std::string option_text(float value) { return format_number(value); }
inline std::string option_text(bool value) { return value ? "true" : "false"; }
inline std::string option_text(const std::array<float, 2>& value) {
  return format_number(value[0]) + "," + format_number(value[1]);
}
// Options read from a file must be finite (no option of any optimizer is sensibly inf or NaN).
inline bool parse_option(const std::string& text, float& value) {
  return parse_number(text, value) && std::isfinite(value);
}
inline bool parse_option(const std::string& text, bool& value) {
  if (text != "true" && text != "false") return false;
  value = text == "true";
  return true;
}
inline bool parse_option(const std::string& text, std::array<float, 2>& value) {
  const auto comma = text.find(',');
  return comma != std::string::npos && parse_option(text.substr(0, comma), value[0]) &&
         parse_option(text.substr(comma + 1), value[1]);
}

}  // namespace detail

// The optimizers' common base for their groups. Options must have a float `lr` and a static
// for_each_field(options, visit) calling visit("name", field) for every field; Group must have
// `params` and `Options resolve(const Options& defaults) const`.
template <typename Options, typename Group>
class GroupedOptimizer : public Optimizer {
 public:
  std::span<ParamGroup<Options>> param_groups() { return groups_; }
  std::span<const ParamGroup<Options>> param_groups() const { return groups_; }
  // The options a group falls back to (PyTorch's optimizer.defaults).
  const Options& defaults() const { return defaults_; }
  // The options of a one-group optimizer; like lr(), a ValueError with several groups.
  const Options& options() const {
    if (groups_.size() != 1) {
      throw ValueError(name() + ": options() is ambiguous with " + std::to_string(groups_.size()) +
                       " param groups; use param_groups()[group].options");
    }
    return groups_.front().options;
  }

  // Adds a group after the others (PyTorch's add_param_group). Throws ValueError naming the
  // group's index for an empty group, a parameter already in a group, or an invalid option, and
  // then changes nothing.
  void add_param_group(Group group) {
    const std::size_t index = add_group(std::move(group));
    on_param_group_added(index);
  }

  OptionsText group_options_text(std::size_t group) const override {
    OptionsText text;
    Options options = groups_.at(group).options;
    Options::for_each_field(options, [&](const char* field, const auto& value) {
      text.emplace_back(field, detail::option_text(value));
    });
    return text;
  }

  void load_group_options_text(const std::vector<OptionsText>& groups) override {
    if (groups.size() != groups_.size()) {
      throw ValueError(name() + ": got options for " + std::to_string(groups.size()) +
                       " param groups, but the optimizer has " + std::to_string(groups_.size()));
    }
    std::vector<Options> parsed;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      Options options = groups_[g].options;
      for (const auto& entry : groups[g]) {
        // Named copies: clang-14 cannot capture structured bindings in the lambda below.
        const std::string& field = entry.first;
        const std::string& text = entry.second;
        bool known = false;
        bool valid = false;
        Options::for_each_field(options, [&](const char* name, auto& value) {
          if (field != name) return;
          known = true;
          valid = detail::parse_option(text, value);
        });
        if (!known) {
          throw ValueError(name() + ": param group " + std::to_string(g) + ": unknown option '" +
                           field + "' for " + name() + " (expected " + field_names() + ")");
        }
        if (!valid) {
          throw ValueError(name() + ": param group " + std::to_string(g) + ": option '" + field +
                           "' has a malformed value '" + text + "'");
        }
      }
      check_options_(name(), options, g);
      parsed.push_back(options);
    }
    for (std::size_t g = 0; g < groups_.size(); ++g) groups_[g].options = parsed[g];
  }

 protected:
  using CheckOptions = void (*)(const std::string& optimizer, const Options&, std::size_t group);

  // check_options throws ValueError for an invalid option of a group (detail::check_option).
  GroupedOptimizer(std::string name, std::vector<Group> groups, const Options& defaults,
                   CheckOptions check_options)
      : Optimizer(std::move(name)), defaults_(defaults), check_options_(check_options) {
    if (groups.empty()) throw ValueError(this->name() + ": got an empty list of param groups");
    for (Group& group : groups) add_group(std::move(group));
  }

  const Options& group_options(std::size_t group) const { return groups_[group].options; }
  // Called by add_param_group after the group is in place (Adagrad fills its state).
  virtual void on_param_group_added(std::size_t /*group*/) {}

 private:
  std::size_t add_group(Group group) {
    const std::size_t index = groups_.size();
    const Options options = group.resolve(defaults_);
    check_options_(name(), options, index);
    check_group_params(group.params, index);
    groups_.reserve(index + 1);  // nothing below fails half-way
    append_group_params(group.params);
    groups_.emplace_back(std::move(group.params), options);
    return index;
  }

  std::string field_names() const {
    std::string names;
    Options options = defaults_;
    Options::for_each_field(options, [&](const char* field, const auto&) {
      names += (names.empty() ? "" : ", ") + std::string(field);
    });
    return "one of {" + names + "}";
  }

  void check_param_groups() const override {
    for (std::size_t g = 0; g < groups_.size(); ++g) check_options_(name(), groups_[g].options, g);
  }
  float group_lr(std::size_t group) const override { return groups_[group].options.lr; }
  void store_group_lr(std::size_t group, float lr) override { groups_[group].options.lr = lr; }

  std::vector<ParamGroup<Options>> groups_;
  Options defaults_;
  CheckOptions check_options_;
};

}  // namespace tapegrad::optim
