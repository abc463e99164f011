// The schedulers of https://pytorch.org/docs/1.13/optim.html#how-to-adjust-learning-rate, each
// following 1.13's get_lr (the recursive form that step() uses, not _get_closed_form_lr).
// Scalars are computed in double as Python does; the optimizer stores the lr as float.
#include "optim/lr_scheduler.h"

#include <cmath>
#include <limits>
#include <numbers>

namespace tapegrad::optim {

namespace {

void require(bool ok, const std::string& owner, const std::string& option,
             const std::string& value, const std::string& expected) {
  if (!ok) {
    throw ValueError(owner + ": invalid " + option + ": " + value + " (expected " + expected + ")");
  }
}

std::vector<float> group_lrs(const Optimizer& optimizer) {
  std::vector<float> lrs;
  for (std::size_t g = 0; g < optimizer.num_param_groups(); ++g) lrs.push_back(optimizer.lr(g));
  return lrs;
}

// The one lr of a one-group list; ValueError naming the accessor otherwise.
float only_lr(const std::vector<float>& lrs, const std::string& owner, const char* accessor,
              const char* list_accessor) {
  if (lrs.size() != 1) {
    throw ValueError(owner + ": " + accessor + " is for one param group, but there are " +
                     std::to_string(lrs.size()) + "; use " + list_accessor);
  }
  return lrs.front();
}

void check_lrs(const std::vector<float>& lrs, const std::string& owner, const char* field) {
  require(!lrs.empty(), owner, std::string(field) + "s", "[]", "one lr per param group");
  for (std::size_t g = 0; g < lrs.size(); ++g) {
    require(lrs[g] >= 0.0f && !std::isinf(lrs[g]), owner, field,
            detail::format_number(lrs[g]) + " for param group " + std::to_string(g),
            std::string("finite ") + field + " >= 0");
  }
}

void check_group_count(std::size_t count, const Optimizer& optimizer, const std::string& owner) {
  if (count != optimizer.num_param_groups()) {
    throw ValueError(owner + ": has lrs for " + std::to_string(count) +
                     " param groups, but the optimizer has " +
                     std::to_string(optimizer.num_param_groups()) +
                     " (make the scheduler after add_param_group)");
  }
}

}  // namespace

// ---------------------------------------------------------------- LRScheduler

LRScheduler::LRScheduler(Optimizer& optimizer)
    : optimizer_(&optimizer), base_lrs_(group_lrs(optimizer)), last_lrs_(base_lrs_) {}

void SchedulerState::check(const std::string& owner) const {
  require(last_epoch >= 0, owner, "last_epoch", std::to_string(last_epoch), "last_epoch >= 0");
  check_lrs(base_lrs, owner, "base_lr");
  check_lrs(last_lrs, owner, "last_lr");
  require(base_lrs.size() == last_lrs.size(), owner, "last_lrs",
          std::to_string(last_lrs.size()) + " lrs",
          "as many as base_lrs (" + std::to_string(base_lrs.size()) + ")");
}

void LRScheduler::load_state(const SchedulerState& state) {
  const std::string owner = std::string(name()) + ".load_state";
  state.check(owner);
  check_group_count(state.base_lrs.size(), *optimizer_, owner);
  last_epoch_ = state.last_epoch;
  base_lrs_ = state.base_lrs;
  last_lrs_ = state.last_lrs;
}

float LRScheduler::get_last_lr() const {
  return only_lr(last_lrs_, name(), "get_last_lr()", "get_last_lrs()");
}

float LRScheduler::base_lr() const { return only_lr(base_lrs_, name(), "base_lr()", "base_lrs()"); }

void LRScheduler::step() {
  check_group_count(base_lrs_.size(), *optimizer_, std::string(name()) + ".step");
  ++last_epoch_;
  std::vector<float> lrs;
  for (std::size_t g = 0; g < base_lrs_.size(); ++g) {
    const auto lr = static_cast<float>(compute_lr(g));
    if (!(lr >= 0.0f)) {
      --last_epoch_;
      throw ValueError(std::string(name()) + ": computed lr " + detail::format_number(lr) +
                       " for param group " + std::to_string(g) + " at epoch " +
                       std::to_string(last_epoch_ + 1) + " (expected lr >= 0); nothing changed");
    }
    lrs.push_back(lr);
  }
  for (std::size_t g = 0; g < lrs.size(); ++g) optimizer_->set_lr(g, lrs[g]);
  last_lrs_ = std::move(lrs);
}

// ---------------------------------------------------------------- StepLR

StepLR::StepLR(Optimizer& optimizer, int step_size, float gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  require(step_size > 0, "StepLR", "step_size", std::to_string(step_size), "step_size > 0");
  require(gamma >= 0.0f, "StepLR", "gamma", detail::format_number(gamma), "gamma >= 0");
  initial_step();
}

double StepLR::compute_lr(std::size_t group) const {
  if (last_epoch() == 0 || last_epoch() % step_size_ != 0) return current_lr(group);
  return current_lr(group) * gamma_;
}

// ---------------------------------------------------------------- ExponentialLR

ExponentialLR::ExponentialLR(Optimizer& optimizer, float gamma)
    : LRScheduler(optimizer), gamma_(gamma) {
  require(gamma >= 0.0f, "ExponentialLR", "gamma", detail::format_number(gamma), "gamma >= 0");
  initial_step();
}

double ExponentialLR::compute_lr(std::size_t group) const {
  if (last_epoch() == 0) return current_lr(group);
  return current_lr(group) * gamma_;
}

// ---------------------------------------------------------------- CosineAnnealingLR

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int T_max, float eta_min)
    : LRScheduler(optimizer), T_max_(T_max), eta_min_(eta_min) {
  require(T_max > 0, "CosineAnnealingLR", "T_max", std::to_string(T_max), "T_max > 0");
  require(eta_min >= 0.0f, "CosineAnnealingLR", "eta_min", detail::format_number(eta_min),
          "eta_min >= 0");
  initial_step();
}

// 1.13's recursive form: lr_t = eta_min + (lr_{t-1} - eta_min) * (1 + cos(pi t/T)) /
// (1 + cos(pi (t-1)/T)). At t = T + 1 (mod 2T) the denominator is 0, so that epoch instead adds
// the closed-form increment (base_lr - eta_min) * (1 - cos(pi/T)) / 2 to climb back up.
double CosineAnnealingLR::compute_lr(std::size_t group) const {
  const int t = last_epoch();
  const double eta_min = eta_min_;
  const double T = T_max_;
  constexpr double pi = std::numbers::pi;
  if (t == 0) return current_lr(group);
  if ((t - 1 - T_max_) % (2 * T_max_) == 0) {
    return current_lr(group) + (base_lrs()[group] - eta_min) * (1.0 - std::cos(pi / T)) / 2.0;
  }
  return (1.0 + std::cos(pi * t / T)) / (1.0 + std::cos(pi * (t - 1) / T)) *
             (current_lr(group) - eta_min) +
         eta_min;
}

// ---------------------------------------------------------------- LambdaLR

LambdaLR::LambdaLR(Optimizer& optimizer, std::function<float(int)> lr_lambda)
    : LRScheduler(optimizer), lr_lambda_(std::move(lr_lambda)) {
  if (!lr_lambda_) throw ValueError("LambdaLR: lr_lambda is empty");
  initial_step();
}

double LambdaLR::compute_lr(std::size_t group) const {
  return static_cast<double>(base_lrs()[group]) * lr_lambda_(last_epoch());
}

// ---------------------------------------------------------------- ReduceLROnPlateau

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options)
    : optimizer_(&optimizer), options_(options), last_lrs_(group_lrs(optimizer)) {
  const std::string owner = "ReduceLROnPlateau";
  require(options.factor < 1.0f && options.factor >= 0.0f, owner, "factor",
          detail::format_number(options.factor), "0 <= factor < 1");
  require(options.patience >= 0, owner, "patience", std::to_string(options.patience),
          "patience >= 0");
  require(options.cooldown >= 0, owner, "cooldown", std::to_string(options.cooldown),
          "cooldown >= 0");
  require(options.threshold >= 0.0f, owner, "threshold", detail::format_number(options.threshold),
          "threshold >= 0");
  require(options.min_lr >= 0.0f, owner, "min_lr", detail::format_number(options.min_lr),
          "min_lr >= 0");
  require(options.eps >= 0.0f, owner, "eps", detail::format_number(options.eps), "eps >= 0");
  constexpr double inf = std::numeric_limits<double>::infinity();
  best_ = options.mode == PlateauMode::min ? inf : -inf;
}

void PlateauState::check(const std::string& owner) const {
  require(last_epoch >= 0, owner, "last_epoch", std::to_string(last_epoch), "last_epoch >= 0");
  require(!std::isnan(best), owner, "best", "nan", "a number or +-inf");
  require(num_bad_epochs >= 0, owner, "num_bad_epochs", std::to_string(num_bad_epochs),
          "num_bad_epochs >= 0");
  require(cooldown_counter >= 0, owner, "cooldown_counter", std::to_string(cooldown_counter),
          "cooldown_counter >= 0");
  check_lrs(last_lrs, owner, "last_lr");
}

void ReduceLROnPlateau::load_state(const PlateauState& state) {
  state.check("ReduceLROnPlateau.load_state");
  check_group_count(state.last_lrs.size(), *optimizer_, "ReduceLROnPlateau.load_state");
  last_epoch_ = state.last_epoch;
  best_ = state.best;
  num_bad_epochs_ = state.num_bad_epochs;
  cooldown_counter_ = state.cooldown_counter;
  last_lrs_ = state.last_lrs;
}

float ReduceLROnPlateau::get_last_lr() const {
  return only_lr(last_lrs_, name(), "get_last_lr()", "get_last_lrs()");
}

bool ReduceLROnPlateau::is_better(double metric) const {
  const double threshold = options_.threshold;
  if (options_.mode == PlateauMode::min) {
    return options_.threshold_mode == ThresholdMode::rel ? metric < best_ * (1.0 - threshold)
                                                         : metric < best_ - threshold;
  }
  return options_.threshold_mode == ThresholdMode::rel ? metric > best_ * (threshold + 1.0)
                                                       : metric > best_ + threshold;
}

void ReduceLROnPlateau::step(double metric) {
  check_group_count(last_lrs_.size(), *optimizer_, "ReduceLROnPlateau.step");
  ++last_epoch_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs during cooldown do not count
  }
  if (num_bad_epochs_ > options_.patience) {
    for (std::size_t g = 0; g < optimizer_->num_param_groups(); ++g) {
      const double old_lr = optimizer_->lr(g);
      const double new_lr =
          std::max(old_lr * options_.factor, static_cast<double>(options_.min_lr));
      if (old_lr - new_lr > options_.eps) optimizer_->set_lr(g, static_cast<float>(new_lr));
    }
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
  last_lrs_ = group_lrs(*optimizer_);
}

}  // namespace tapegrad::optim
