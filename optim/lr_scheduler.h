#pragma once
// Learning-rate schedulers, as torch.optim.lr_scheduler in PyTorch 1.13. Each holds a pointer to
// one optimizer (which must outlive it) and sets the lr of every param group, each from its own
// base lr (PyTorch's base_lrs), e.g. StepLR multiplies every group's lr by gamma. The single-value
// accessors (get_last_lr(), base_lr()) are for one group; with several they throw ValueError and
// get_last_lrs() / base_lrs() give one lr per group. A scheduler covers the groups the optimizer
// had when the scheduler was made: after add_param_group, step() throws. Construction
// performs PyTorch's initial step (epoch 0); then call step() once per epoch, after the epoch's
// optimizer steps:
//   optim::StepLR scheduler(sgd, /*step_size=*/30, /*gamma=*/0.1f);
//   for (int epoch = 0; epoch < 100; ++epoch) { train(...); scheduler.step(); }
// To stop and resume, save the scheduler with its optimizer (optim/checkpoint.h), or carry
// state() over by hand and load_state() it into a scheduler built with the same options.
#include <functional>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace tapegrad::optim {

// Where an epoch-driven scheduler stands: what PyTorch's state_dict holds besides the options
// (last_epoch, base_lrs, _last_lr). The options themselves come from the constructor.
struct SchedulerState {
  int last_epoch = 0;
  std::vector<float> base_lrs = {};  // one per param group
  std::vector<float> last_lrs = {};
  // ValueError "<owner>: invalid <field>: ..." for a negative epoch, lists of different or zero
  // length, or an lr that is negative, NaN or infinite (naming the field and the group).
  void check(const std::string& owner) const;
};

// The epoch-driven schedulers. Like PyTorch's get_lr, most compute the next lr from the
// optimizer's current lr (the recursive, "chainable" form), so the sequence matches PyTorch's and
// composes with other changes to the lr.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Advances one epoch and sets every group's lr. Throws ValueError, changing nothing, when the
  // optimizer's number of groups changed since the scheduler was made.
  void step();
  // The lr this scheduler set last in each group (PyTorch's get_last_lr()).
  const std::vector<float>& get_last_lrs() const { return last_lrs_; }
  // The same for a one-group optimizer (PyTorch's get_last_lr()[0]).
  float get_last_lr() const;
  // The epoch the current lr belongs to: 0 after construction.
  int last_epoch() const { return last_epoch_; }
  // Each group's lr when the scheduler was made (PyTorch's base_lrs), and that of the only group.
  const std::vector<float>& base_lrs() const { return base_lrs_; }
  float base_lr() const;
  // "StepLR", "CosineAnnealingLR", ...: the kind a checkpoint records and checks on load. A
  // scheduler of your own may override it to tell it apart from others in checkpoints.
  virtual const char* name() const { return "LRScheduler"; }

  SchedulerState state() const { return {last_epoch_, base_lrs_, last_lrs_}; }
  // Continues from a saved state. As PyTorch's load_state_dict, it leaves the optimizer's lr
  // alone (the optimizer's own checkpoint restores it). Checks the state first, including one lr
  // per param group of the optimizer (a ValueError names the field), and then changes nothing.
  void load_state(const SchedulerState& state);

 protected:
  explicit LRScheduler(Optimizer& optimizer);
  // Derived constructors call this last: PyTorch's constructor steps to epoch 0.
  void initial_step() { step(); }
  // The lr of `group` for last_epoch(), computed in double like Python does.
  virtual double compute_lr(std::size_t group) const = 0;
  // The optimizer's current lr of `group`.
  double current_lr(std::size_t group) const { return optimizer_->lr(group); }

 private:
  Optimizer* optimizer_;
  std::vector<float> base_lrs_;
  int last_epoch_ = -1;
  std::vector<float> last_lrs_;
};

// lr = lr * gamma every step_size epochs.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int step_size, float gamma = 0.1f);
  const char* name() const override { return "StepLR"; }

 private:
  double compute_lr(std::size_t group) const override;
  int step_size_;
  float gamma_;
};

// lr = lr * gamma every epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, float gamma);
  const char* name() const override { return "ExponentialLR"; }

 private:
  double compute_lr(std::size_t group) const override;
  float gamma_;
};

// Cosine annealing from the base lr down to eta_min over T_max epochs and back up over the next
// T_max (PyTorch's recursive form, not the SGDR restarts).
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int T_max, float eta_min = 0.0f);
  const char* name() const override { return "CosineAnnealingLR"; }

 private:
  double compute_lr(std::size_t group) const override;
  int T_max_;
  float eta_min_;
};

// lr = base_lr * lr_lambda(epoch), for every group with its own base_lr.
class LambdaLR : public LRScheduler {
 public:
  LambdaLR(Optimizer& optimizer, std::function<float(int epoch)> lr_lambda);
  const char* name() const override { return "LambdaLR"; }

 private:
  double compute_lr(std::size_t group) const override;
  std::function<float(int)> lr_lambda_;
};

enum class PlateauMode { min, max };
enum class ThresholdMode { rel, abs };

// torch.optim.lr_scheduler.ReduceLROnPlateau's options (defaults included).
struct ReduceLROnPlateauOptions {
  PlateauMode mode = PlateauMode::min;
  float factor = 0.1f;
  int patience = 10;
  float threshold = 1e-4f;
  ThresholdMode threshold_mode = ThresholdMode::rel;
  int cooldown = 0;
  float min_lr = 0.0f;
  float eps = 1e-8f;
};

// Where a ReduceLROnPlateau stands (PyTorch's state_dict without the options).
struct PlateauState {
  int last_epoch = 0;
  double best = 0.0;
  int num_bad_epochs = 0;
  int cooldown_counter = 0;
  std::vector<float> last_lrs = {};  // one per param group
  // ValueError "<owner>: invalid <field>: ..." for a negative count or epoch, a NaN best, no
  // last_lrs, or an lr that is negative, NaN or infinite.
  void check(const std::string& owner) const;
};

// Multiplies every group's lr by factor (never below min_lr) once the metric has not improved for
// more than `patience` epochs, then waits `cooldown` epochs before counting again. A group's
// reduction smaller than eps is skipped.
class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options = {});
  ReduceLROnPlateau(const ReduceLROnPlateau&) = delete;
  ReduceLROnPlateau& operator=(const ReduceLROnPlateau&) = delete;

  // One epoch with this validation metric (a NaN metric is never an improvement).
  void step(double metric);
  const std::vector<float>& get_last_lrs() const { return last_lrs_; }
  // For a one-group optimizer; ValueError with several.
  float get_last_lr() const;
  int last_epoch() const { return last_epoch_; }
  double best() const { return best_; }
  int num_bad_epochs() const { return num_bad_epochs_; }
  const char* name() const { return "ReduceLROnPlateau"; }

  PlateauState state() const {
    return {last_epoch_, best_, num_bad_epochs_, cooldown_counter_, last_lrs_};
  }
  // Continues from a saved state, leaving the optimizer's lr alone. Checks the state first (a
  // ValueError names the field) and then changes nothing.
  void load_state(const PlateauState& state);

 private:
  bool is_better(double metric) const;

  Optimizer* optimizer_;
  ReduceLROnPlateauOptions options_;
  double best_;
  int num_bad_epochs_ = 0;
  int cooldown_counter_ = 0;
  int last_epoch_ = 0;
  std::vector<float> last_lrs_;
};

}  // namespace tapegrad::optim
