#pragma once
// An optimizer's state (moments, step counts) and learning rate on disk, in the same safetensors
// format as model parameters, so a training run can stop and resume exactly.
#include <string>

#include "optim/optimizer.h"

namespace tapegrad::optim {

// Writes state_tensors() plus the optimizer's name and lr as metadata. Atomic (temp file + fsync +
// rename): a crash mid-save leaves the previous checkpoint intact.
void save(const Optimizer& optimizer, const std::string& path);
// Restores state and lr. Throws ValueError if the file was written by another kind of optimizer,
// and leaves the optimizer unchanged on any error (names, shapes, a malformed file).
void load(Optimizer& optimizer, const std::string& path);

}  // namespace tapegrad::optim
