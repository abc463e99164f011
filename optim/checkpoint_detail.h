#pragma once
// The pieces of an optimizer checkpoint (optim/checkpoint.h), shared by the optimizer's own file
// and the training checkpoint (optim/training_checkpoint.h), which stores the same metadata under
// an entry's prefix. Not part of the public API.
#include <map>
#include <string>
#include <vector>

#include "nn/serialize.h"
#include "optim/lr_scheduler.h"
#include "optim/optimizer.h"

namespace tapegrad::optim::detail {

using Metadata = std::map<std::string, std::string>;

// The optimizer's kind, its groups' sizes ("param_group.<g>.params", so a load can check which
// parameters are in which group: groups hold consecutive parameters) and every option of every
// group ("param_group.<g>.<option>").
Metadata optimizer_metadata(const Optimizer& optimizer);
// Checks the kind and the groups against `optimizer` and returns every group's options, changing
// nothing. Errors are ValueErrors starting with `where` (e.g. "optim::load: <path>").
std::vector<OptionsText> read_optimizer_metadata(const Metadata& metadata,
                                                 const Optimizer& optimizer,
                                                 const std::string& where);
// Puts in the options and the state; if the state is refused the options come back out, so the
// optimizer is unchanged when this throws.
void apply_optimizer_state(Optimizer& optimizer, const std::vector<OptionsText>& options,
                           const NamedTensors& state);

// A scheduler's kind ("scheduler") and state ("scheduler.<field>"), and back, checked.
Metadata scheduler_metadata(const LRScheduler& scheduler);
Metadata scheduler_metadata(const ReduceLROnPlateau& scheduler);
SchedulerState read_scheduler_state(const Metadata& metadata, const LRScheduler& scheduler,
                                    const std::string& where);
PlateauState read_scheduler_state(const Metadata& metadata, const ReduceLROnPlateau& scheduler,
                                  const std::string& where);

}  // namespace tapegrad::optim::detail
