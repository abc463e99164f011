#include "optim/checkpoint.h"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <system_error>

#include "nn/serialize.h"

namespace tapegrad::optim {

namespace {

using Metadata = std::map<std::string, std::string>;

Metadata optimizer_metadata(const Optimizer& optimizer) {
  return {{"optimizer", optimizer.name()}, {"lr", detail::format_number(optimizer.lr())}};
}

// The value of `key`, parsed whole with std::from_chars (locale-free; no spaces, "+" or hex;
// subnormals are fine, overflow is not), or ValueError naming the file and the key.
template <typename T>
T read_number(const Metadata& metadata, const std::string& key, const std::string& path) {
  const auto entry = metadata.find(key);
  if (entry != metadata.end()) {
    const std::string& text = entry->second;
    T value{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error == std::errc() && end == text.data() + text.size()) return value;
  }
  throw ValueError("optim::load: " + path + " has no valid " + key + " in its metadata");
}

// Reads and checks everything about the optimizer and, through `check_scheduler`, the scheduler,
// then changes the optimizer and calls `apply_scheduler`: nothing changes unless all is valid.
void load_checkpoint(Optimizer& optimizer, const std::string& path,
                     const std::function<void(const Metadata&)>& check_scheduler,
                     const std::function<void()>& apply_scheduler) {
  Metadata metadata;
  NamedTensors state = load_safetensors(path, &metadata);
  const auto kind = metadata.find("optimizer");
  if (kind == metadata.end() || kind->second != optimizer.name()) {
    throw ValueError("optim::load: " + path + " holds the state of " +
                     (kind == metadata.end() ? std::string("no known optimizer") : kind->second) +
                     ", expected " + optimizer.name());
  }
  const float lr = read_number<float>(metadata, "lr", path);
  if (!(lr >= 0.0f) || std::isinf(lr)) {
    throw ValueError("optim::load: " + path + " has no valid lr in its metadata");
  }
  check_scheduler(metadata);
  optimizer.load_state_tensors(state);  // validates everything before changing anything
  optimizer.set_lr(lr);
  apply_scheduler();
}

void check_scheduler_kind(const Metadata& metadata, const char* expected,
                          const std::string& path) {
  const auto kind = metadata.find("scheduler");
  if (kind == metadata.end() || kind->second != expected) {
    throw ValueError("optim::load: " + path + " holds " +
                     (kind == metadata.end() ? std::string("no scheduler state")
                                             : "the state of " + kind->second) +
                     ", expected " + expected);
  }
}

template <typename Scheduler>
void save_with_scheduler(const Optimizer& optimizer, const Scheduler& scheduler,
                         const std::string& path, const Metadata& scheduler_entries) {
  Metadata metadata = optimizer_metadata(optimizer);
  metadata["scheduler"] = scheduler.name();
  metadata.insert(scheduler_entries.begin(), scheduler_entries.end());
  save_safetensors(path, optimizer.state_tensors(), metadata);
}

// read_state(metadata) -> the scheduler's state; checked before anything changes.
template <typename Scheduler, typename ReadState>
void load_with_scheduler(Optimizer& optimizer, Scheduler& scheduler, const std::string& path,
                         ReadState read_state) {
  decltype(scheduler.state()) state;
  load_checkpoint(
      optimizer, path,
      [&](const Metadata& metadata) {
        check_scheduler_kind(metadata, scheduler.name(), path);
        state = read_state(metadata);
        state.check("optim::load: " + path + ": " + scheduler.name());
      },
      [&] { scheduler.load_state(state); });
}

}  // namespace

void save(const Optimizer& optimizer, const std::string& path) {
  save_safetensors(path, optimizer.state_tensors(), optimizer_metadata(optimizer));
}

void load(Optimizer& optimizer, const std::string& path) {
  load_checkpoint(optimizer, path, [](const Metadata&) {}, [] {});
}

void save(const Optimizer& optimizer, const LRScheduler& scheduler, const std::string& path) {
  const SchedulerState state = scheduler.state();
  save_with_scheduler(optimizer, scheduler, path,
                      {{"scheduler.last_epoch", std::to_string(state.last_epoch)},
                       {"scheduler.base_lr", detail::format_number(state.base_lr)},
                       {"scheduler.last_lr", detail::format_number(state.last_lr)}});
}

void load(Optimizer& optimizer, LRScheduler& scheduler, const std::string& path) {
  load_with_scheduler(optimizer, scheduler, path, [&](const Metadata& metadata) {
    return SchedulerState{.last_epoch = read_number<int>(metadata, "scheduler.last_epoch", path),
                          .base_lr = read_number<float>(metadata, "scheduler.base_lr", path),
                          .last_lr = read_number<float>(metadata, "scheduler.last_lr", path)};
  });
}

void save(const Optimizer& optimizer, const ReduceLROnPlateau& scheduler,
          const std::string& path) {
  const PlateauState state = scheduler.state();
  save_with_scheduler(optimizer, scheduler, path,
                      {{"scheduler.last_epoch", std::to_string(state.last_epoch)},
                       {"scheduler.best", detail::format_number(state.best)},
                       {"scheduler.num_bad_epochs", std::to_string(state.num_bad_epochs)},
                       {"scheduler.cooldown_counter", std::to_string(state.cooldown_counter)},
                       {"scheduler.last_lr", detail::format_number(state.last_lr)}});
}

void load(Optimizer& optimizer, ReduceLROnPlateau& scheduler, const std::string& path) {
  load_with_scheduler(optimizer, scheduler, path, [&](const Metadata& metadata) {
    return PlateauState{
        .last_epoch = read_number<int>(metadata, "scheduler.last_epoch", path),
        .best = read_number<double>(metadata, "scheduler.best", path),
        .num_bad_epochs = read_number<int>(metadata, "scheduler.num_bad_epochs", path),
        .cooldown_counter = read_number<int>(metadata, "scheduler.cooldown_counter", path),
        .last_lr = read_number<float>(metadata, "scheduler.last_lr", path)};
  });
}

}  // namespace tapegrad::optim
