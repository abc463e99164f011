#pragma once
// An optimizer's state (moments, step counts) and learning rate on disk, in the same safetensors
// format as model parameters, so a training run can stop and resume exactly. A learning-rate
// scheduler can ride along in the same file (its state as metadata), so that the lr schedule
// resumes with the optimizer it drives, as PyTorch users save scheduler.state_dict() next to
// optimizer.state_dict().
#include <string>

#include "optim/lr_scheduler.h"
#include "optim/optimizer.h"

namespace tapegrad::optim {

// Writes state_tensors() plus, as metadata, the optimizer's name, its param groups (how many, the
// number of parameters in each) and every option of every group (lr, weight_decay, betas, ...).
// Atomic (temp file + fsync + rename): a crash mid-save leaves the previous checkpoint intact.
void save(const Optimizer& optimizer, const std::string& path);
// Restores state and every group's options, as PyTorch's load_state_dict. Throws ValueError if
// the file was written by another kind of optimizer, or its param groups differ from the
// optimizer's in number or size (naming the group), and leaves the optimizer unchanged on any
// error (names, shapes, an unknown or invalid option, a malformed file). Scheduler state in the
// file, if any, is ignored. A file from before param groups (one "lr") loads into one group.
void load(Optimizer& optimizer, const std::string& path);

// The same, with the scheduler's kind and state() in the metadata.
void save(const Optimizer& optimizer, const LRScheduler& scheduler, const std::string& path);
void save(const Optimizer& optimizer, const ReduceLROnPlateau& scheduler, const std::string& path);
// Restores the optimizer and the scheduler (built with the same options, as in PyTorch). Throws
// ValueError if the file holds no scheduler state or another kind's, or a field is missing or
// invalid; on any error neither the optimizer nor the scheduler changes.
void load(Optimizer& optimizer, LRScheduler& scheduler, const std::string& path);
void load(Optimizer& optimizer, ReduceLROnPlateau& scheduler, const std::string& path);

}  // namespace tapegrad::optim
