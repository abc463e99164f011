#pragma once
// optim::TrainingCheckpoint: everything a training run needs to continue exactly where it stopped,
// in one atomic safetensors file. PyTorch users save the model's, optimizer's and scheduler's
// state_dicts, the RNG states and their loop counters together in one torch.save; this is that,
// with every value checked on load:
//
//   std::int64_t epoch = 0, step = 0;
//   optim::TrainingCheckpoint checkpoint;
//   checkpoint.add_module("model", model)            // state_dict() and dropout generators
//       .add_optimizer("optimizer", adam)            // state and every group's options
//       .add_scheduler("scheduler", scheduler)
//       .add_generator("noise", noise_generator)
//       .add_loader("loader", loader)                // its epoch and position in it
//       .add_integer("epoch", epoch).add_integer("step", step)
//       .add_tensor("h", carried_state.h);           // a carried TBPTT state, maybe undefined
//   if (resume) checkpoint.load(path);               // every registered value takes the file's
//   ... checkpoint.save(path);                       // any time, e.g. every N steps
//
// The checkpoint holds references: everything registered must outlive it (or its last save/load).
// Entry names are unique, non-empty, and contain no '/' or ',' (they prefix the file's keys).
//
// load() validates everything before it changes anything: a file that is not a training
// checkpoint, one with other entries (a checkpoint of another model or run setup), a parameter
// or state tensor of another name or shape, another kind of optimizer or scheduler, param groups
// of other sizes, a malformed number or generator state, a loader position the loader refuses:
// each throws (ValueError; ShapeError for shapes, TypeError for dtypes) naming the file, the
// entry and the expected and actual values, and leaves every registered object as it was.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "autograd/generator.h"
#include "autograd/tensor.h"
#include "nn/module.h"
#include "optim/lr_scheduler.h"
#include "optim/optimizer.h"

namespace tapegrad::data {
class DataLoader;
}

namespace tapegrad::optim {

class TrainingCheckpoint {
 public:
  // The module's state_dict() (parameters and persistent buffers) and named_generators(), by
  // name and shape.
  TrainingCheckpoint& add_module(const std::string& name, nn::Module& module);
  TrainingCheckpoint& add_optimizer(const std::string& name, Optimizer& optimizer);
  TrainingCheckpoint& add_scheduler(const std::string& name, LRScheduler& scheduler);
  TrainingCheckpoint& add_scheduler(const std::string& name, ReduceLROnPlateau& scheduler);
  TrainingCheckpoint& add_generator(const std::string& name, Generator& generator);
  // A tensor the loop carries (a detached TBPTT state, a running statistic). On load the handle
  // is replaced by a new leaf with the file's values and shape; undefined round-trips as
  // undefined. A tensor that requires grad is refused at save: it belongs in a module.
  TrainingCheckpoint& add_tensor(const std::string& name, Tensor& tensor);
  // Loop counters and accumulators; doubles round-trip exactly (shortest round-trip text).
  TrainingCheckpoint& add_integer(const std::string& name, std::int64_t& value);
  TrainingCheckpoint& add_real(const std::string& name, double& value);
  // Everything the loader's state() holds (data::LoaderState: the shuffle generator, the epochs
  // begun and the batches yielded in the epoch in progress), restored through load_state(): a
  // run saved in the loop's body for batch k resumes at batch k+1 of the same epoch, in the same
  // order. A state the loader would refuse (e.g. more batches yielded than an epoch of this
  // loader has) fails the whole load, and so does a loader with another number of samples or
  // batches per epoch (its orders would differ; the data themselves are not compared). With a
  // sampler, restore the sampler's epoch too (it is the caller's, e.g. an add_integer counter).
  TrainingCheckpoint& add_loader(const std::string& name, data::DataLoader& loader);

  // Atomic (see save_safetensors): a crash mid-save leaves the previous checkpoint intact.
  void save(const std::string& path) const;
  void load(const std::string& path);

  // What an entry refers to; its kind is the alternative held.
  using Target = std::variant<nn::Module*, Optimizer*, LRScheduler*, ReduceLROnPlateau*,
                              Generator*, Tensor*, std::int64_t*, double*, data::DataLoader*>;
  struct Entry {
    std::string name;
    Target target;
  };

 private:
  TrainingCheckpoint& add(const std::string& name, Target target);
  std::vector<Entry> entries_;
};

}  // namespace tapegrad::optim
