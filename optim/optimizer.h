#pragma once
// tapegrad::optim::Optimizer: the base of SGD, Adam, AdamW, RMSprop and Adagrad.
//
// An optimizer holds Tensor handles, so its in-place updates are what the module sees.
// Per-parameter state (moments, step counts) lives in named slots that run parallel to the
// parameters; the slot names are PyTorch's state_dict keys ("exp_avg", "step", ...), so saved
// state reads the same.
// Parameters come in parameter groups, as torch.optim's param_groups: each group has its own
// options (lr, weight_decay, betas, momentum, ...), and options a group does not give take the
// optimizer's defaults. A one-list constructor makes one group. The groups' typed options live in
// GroupedOptimizer (optim/param_groups.h); this base keeps the parameters of all groups in one
// flat list, group after group (the numbering of state_tensors(), as PyTorch's state_dict).
//
// Rounding. The update rules reproduce PyTorch 1.13's float32 results bit for bit (checked against
// tests/fixtures/optim.json), by rounding where its tensor ops round:
//   - scalar factors (1 - beta, bias corrections, lr / bc) are computed in double, as Python does,
//     then rounded to float, as ATen does with a Python scalar;
//   - x.add(y, alpha=a) is fused: std::fma(a, y, x); x.addcmul(y, z, value=a) is
//     std::fma(a * y, z, x); x.addcdiv(y, z, value=a) is x + (a * y) / z, unfused; a division by a
//     scalar is a true division. (Measured on PyTorch's CPU kernels, vectorised and scalar tails.)
//   - optim/*.cpp is compiled with -ffp-contract=off, so the compiler fuses nothing else.
// Options are float32, so a default like alpha = 0.99f is 0.99000001 where PyTorch's Python default
// is the double 0.99; the fixtures pass every option rounded to float32 to compare like with like.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "autograd/named_tensors.h"
#include "autograd/tensor.h"

namespace tapegrad::optim {

using NamedTensors = tapegrad::NamedTensors;
// A param group's options as text, field name -> value ("lr" -> "0.01", "betas" -> "0.9,0.999",
// "nesterov" -> "true"), in the fields' declaration order: what checkpoints store.
using OptionsText = std::vector<std::pair<std::string, std::string>>;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Schedulers keep a pointer to their optimizer, so it never moves.
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  Optimizer(Optimizer&&) = delete;
  Optimizer& operator=(Optimizer&&) = delete;

  // One update of every parameter that has a gradient, under NoGradGuard. Parameters whose grad is
  // undefined are skipped, state included, as in PyTorch. Each updated parameter's version is
  // bumped once, so a graph that saved it before the step refuses to run backward.
  // With set_check_finite(true), a gradient holding NaN or +-inf makes step() throw instead (see
  // there) and change nothing. Every group's options are checked first too (param_groups() lets
  // any value be written): an invalid one throws ValueError naming the group and field, and the
  // step changes nothing.
  void step();

  // Opt-in guard against non-finite gradients; off by default, because PyTorch has no such check
  // and a NaN step then proceeds as it would there (a NaN gradient makes the weights NaN).
  // When on, step() first scans every gradient and, at the first NaN or infinity, throws
  // ValueError "<optimizer>: step refused: the gradient of parameter <i> '<tensor name>' <shape>
  // holds <value> at <index>; ..." before anything is written: no parameter, no state (moments,
  // step counts), no version counter and no lr changes, and a scheduler stepped after step()
  // never runs. Catch it to skip the batch, or stop training. The scan reads each gradient once;
  // when off, it costs one branch (plus the per-group option check above).
  void set_check_finite(bool check_finite) { check_finite_ = check_finite; }
  bool check_finite() const { return check_finite_; }

  // Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad();

  // The lr of the only param group. With several groups there is no single lr: both throw
  // ValueError naming the number of groups; use lr(group) / set_lr(group, lr) or param_groups().
  float lr() const;
  // Throws ValueError for a negative or NaN lr.
  void set_lr(float lr);
  // The lr of one group (what schedulers read and write); ValueError for a group that does not
  // exist, or a negative or NaN lr.
  float lr(std::size_t group) const;
  void set_lr(std::size_t group, float lr);

  std::size_t num_param_groups() const { return group_begin_.size(); }
  // Group g's parameters are params()[param_begin(g)] .. params()[param_end(g) - 1].
  std::size_t param_begin(std::size_t group) const { return group_begin_.at(group); }
  std::size_t param_end(std::size_t group) const;
  // Every parameter of every group, group after group.
  const std::vector<Tensor>& params() const { return params_; }
  // "SGD", "Adam", ...: the prefix of every error message.
  const std::string& name() const { return name_; }

  // Copies of every state tensor that exists, named "<param index>.<slot>" in parameter order,
  // e.g. "0.step", "0.exp_avg", "0.exp_avg_sq", "1.step", ... Step counts are 1-element tensors.
  // State that is created lazily by the first step (Adam's moments, SGD's momentum buffer) is
  // absent before that step.
  NamedTensors state_tensors() const;

  // Replaces the whole state with copies of `state` (the format of state_tensors()). A parameter
  // with no entries gets fresh state. Validates every name, shape and step count first and throws
  // (ValueError for names, ShapeError for shapes) naming the offending entry, leaving the optimizer
  // unchanged on error. A parameter's entries must be complete: all of its slots or none.
  // Only the slots a parameter's group uses (e.g. max_exp_avg_sq only with amsgrad) must be
  // complete; an entry for a slot its group does not use is kept, as PyTorch keeps it.
  void load_state_tensors(const NamedTensors& state);

  // Every group's options as text, and back (for checkpoints). load_group_options_text parses and
  // validates all groups before it changes any: ValueError "<name>: param group <g>: ..." naming
  // the field for an unknown field, a malformed or invalid value, or a wrong number of groups. A
  // field that is absent keeps its current value.
  virtual OptionsText group_options_text(std::size_t group) const = 0;
  virtual void load_group_options_text(const std::vector<OptionsText>& groups) = 0;

 protected:
  explicit Optimizer(std::string name) : name_(std::move(name)) {}

  // The parameters of a new group `group`: not empty, every tensor defined, a leaf, and present
  // only once in the whole optimizer (two handles on one storage would be stepped twice). Throws
  // ValueError naming the group and the parameter.
  void check_group_params(const std::vector<Tensor>& params, std::size_t group) const;
  // Appends checked parameters as the next group, with empty state.
  void append_group_params(const std::vector<Tensor>& params);

  // The update rule of step(), run under step()'s guard. Subclasses implement it.
  virtual void update() = 0;
  // ValueError for the first invalid option of any group (step() calls it before updating, since
  // param_groups() lets a user write any value).
  virtual void check_param_groups() const = 0;
  virtual float group_lr(std::size_t group) const = 0;
  virtual void store_group_lr(std::size_t group, float lr) = 0;
  // Whether the parameters of `group` use state slot `slot` with the group's current options.
  virtual bool group_uses_slot(std::size_t /*group*/, std::size_t /*slot*/) const { return true; }
  std::size_t group_of_param(std::size_t param_index) const;

  // Registers a state slot for every parameter and returns its index. Called by constructors, in
  // the order state_tensors() lists the slots.
  std::size_t add_slot(std::string slot_name);
  Tensor& state(std::size_t param_index, std::size_t slot) { return state_[param_index][slot]; }
  // True when parameter i's slots exist (they are created together by the subclass's step).
  bool has_state(std::size_t param_index) const;


  std::vector<Tensor> params_;

 private:
  // Throws the step-refused ValueError for the first non-finite gradient element, if any.
  void refuse_non_finite_grads() const;

  std::string name_;
  std::vector<std::size_t> group_begin_;  // first parameter of each group
  bool check_finite_ = false;
  std::vector<std::string> slot_names_;
  std::vector<std::vector<Tensor>> state_;  // [param index][slot]
};

// Helpers shared by the update rules.
namespace detail {
// A new tensor of `shape` filled with `value`, for state slots.
Tensor filled_state(const Shape& shape, float value);
// Shortest text that reads back as the same float ("0.1", "1e-08", "inf").
std::string format_number(float value);
std::string format_number(double value);
// Reads the whole of `text` as a float (format_number's output, "nan", "inf"); false if it is not.
bool parse_number(std::string_view text, float& value);
// ValueError "<optimizer>: invalid <option>: <value> (expected <expected>) in param group <g>"
// unless ok.
void check_option(const std::string& optimizer, bool ok, std::size_t group,
                  std::string_view option, float value, std::string_view expected);
}  // namespace detail

}  // namespace tapegrad::optim
