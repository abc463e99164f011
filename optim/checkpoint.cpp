#include "optim/checkpoint.h"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <system_error>

#include "nn/serialize.h"
#include "optim/checkpoint_detail.h"

namespace tapegrad::optim {

namespace {

using detail::Metadata;

std::string group_key(std::size_t group, const std::string& field) {
  return "param_group." + std::to_string(group) + "." + field;
}

std::string join_lrs(const std::vector<float>& lrs) {
  std::string text;
  for (const float lr : lrs) {
    if (!text.empty()) text += ',';
    text += detail::format_number(lr);
  }
  return text;
}

// The value of `key`, parsed whole with std::from_chars (locale-free; no spaces, "+" or hex;
// subnormals are fine, overflow is not), or ValueError naming the file and the key.
template <typename T>
T read_number(const Metadata& metadata, const std::string& key, const std::string& where) {
  const auto entry = metadata.find(key);
  if (entry != metadata.end()) {
    const std::string& text = entry->second;
    T value{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error == std::errc() && end == text.data() + text.size()) return value;
  }
  throw ValueError(where + " has no valid " + key + " in its metadata");
}

// A comma-separated list of lrs ("0.1,0.01"). A file from before param groups has one lr under
// the singular key ("scheduler.base_lr" for "scheduler.base_lrs").
std::vector<float> read_lrs(const Metadata& metadata, const std::string& key,
                            const std::string& where) {
  auto entry = metadata.find(key);
  if (entry == metadata.end()) entry = metadata.find(key.substr(0, key.size() - 1));
  std::vector<float> lrs;
  bool valid = entry != metadata.end();
  for (std::size_t begin = 0; valid;) {
    const std::size_t comma = entry->second.find(',', begin);
    const std::size_t end = comma == std::string::npos ? entry->second.size() : comma;
    float lr = 0.0f;
    valid = detail::parse_number(std::string_view(entry->second).substr(begin, end - begin), lr);
    lrs.push_back(lr);
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  if (!valid) throw ValueError(where + " has no valid " + key + " in its metadata");
  return lrs;
}

// Every group's options from the metadata, after checking that the file's groups match the
// optimizer's in number and size. A file from before param groups holds one "lr".
std::vector<OptionsText> read_group_options(const Metadata& metadata, const Optimizer& optimizer,
                                            const std::string& where) {
  const std::size_t groups = optimizer.num_param_groups();
  if (!metadata.count("param_groups")) {
    if (groups != 1) {
      throw ValueError(where + " holds one param group, but the optimizer has " +
                       std::to_string(groups));
    }
    const float lr = read_number<float>(metadata, "lr", where);
    if (!(lr >= 0.0f) || std::isinf(lr)) {
      throw ValueError(where + " has no valid lr in its metadata");
    }
    return {{{"lr", metadata.at("lr")}}};
  }
  const auto saved_groups = read_number<std::size_t>(metadata, "param_groups", where);
  if (saved_groups != groups) {
    throw ValueError(where + " holds " + std::to_string(saved_groups) +
                     " param groups, but the optimizer has " + std::to_string(groups));
  }
  std::vector<OptionsText> options(groups);
  for (std::size_t g = 0; g < groups; ++g) {
    const auto saved_size = read_number<std::size_t>(metadata, group_key(g, "params"), where);
    const std::size_t size = optimizer.param_end(g) - optimizer.param_begin(g);
    if (saved_size != size) {
      throw ValueError(where + ": param group " + std::to_string(g) + " has " +
                       std::to_string(saved_size) + " parameters, but the optimizer's has " +
                       std::to_string(size));
    }
    const std::string prefix = group_key(g, "");
    for (auto it = metadata.lower_bound(prefix);
         it != metadata.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      const std::string field = it->first.substr(prefix.size());
      if (field != "params") options[g].emplace_back(field, it->second);
    }
  }
  return options;
}

void check_scheduler_kind(const Metadata& metadata, const char* expected,
                          const std::string& where) {
  const auto kind = metadata.find("scheduler");
  if (kind == metadata.end() || kind->second != expected) {
    throw ValueError(where + " holds " +
                     (kind == metadata.end() ? std::string("no scheduler state")
                                             : "the state of " + kind->second) +
                     ", expected " + expected);
  }
}

}  // namespace

namespace detail {

Metadata optimizer_metadata(const Optimizer& optimizer) {
  Metadata metadata{{"optimizer", optimizer.name()},
                    {"param_groups", std::to_string(optimizer.num_param_groups())}};
  for (std::size_t g = 0; g < optimizer.num_param_groups(); ++g) {
    metadata[group_key(g, "params")] =
        std::to_string(optimizer.param_end(g) - optimizer.param_begin(g));
    for (const auto& [field, text] : optimizer.group_options_text(g)) {
      metadata[group_key(g, field)] = text;
    }
  }
  return metadata;
}

std::vector<OptionsText> read_optimizer_metadata(const Metadata& metadata,
                                                 const Optimizer& optimizer,
                                                 const std::string& where) {
  const auto kind = metadata.find("optimizer");
  if (kind == metadata.end() || kind->second != optimizer.name()) {
    throw ValueError(where + " holds the state of " +
                     (kind == metadata.end() ? std::string("no known optimizer") : kind->second) +
                     ", expected " + optimizer.name());
  }
  return read_group_options(metadata, optimizer, where);
}

void apply_optimizer_state(Optimizer& optimizer, const std::vector<OptionsText>& options,
                           const NamedTensors& state) {
  // The state is checked against the options it will be used with (which slots each group
  // needs), so the options go in first and come back out if the state is refused.
  std::vector<OptionsText> previous_options;
  for (std::size_t g = 0; g < optimizer.num_param_groups(); ++g) {
    previous_options.push_back(optimizer.group_options_text(g));
  }
  optimizer.load_group_options_text(options);  // validates all groups before changing any
  try {
    optimizer.load_state_tensors(state);  // validates everything before changing anything
  } catch (...) {
    optimizer.load_group_options_text(previous_options);  // what it had: valid
    throw;
  }
}

Metadata scheduler_metadata(const LRScheduler& scheduler) {
  const SchedulerState state = scheduler.state();
  return {{"scheduler", scheduler.name()},
          {"scheduler.last_epoch", std::to_string(state.last_epoch)},
          {"scheduler.base_lrs", join_lrs(state.base_lrs)},
          {"scheduler.last_lrs", join_lrs(state.last_lrs)}};
}

Metadata scheduler_metadata(const ReduceLROnPlateau& scheduler) {
  const PlateauState state = scheduler.state();
  return {{"scheduler", scheduler.name()},
          {"scheduler.last_epoch", std::to_string(state.last_epoch)},
          {"scheduler.best", detail::format_number(state.best)},
          {"scheduler.num_bad_epochs", std::to_string(state.num_bad_epochs)},
          {"scheduler.cooldown_counter", std::to_string(state.cooldown_counter)},
          {"scheduler.last_lrs", join_lrs(state.last_lrs)}};
}

SchedulerState read_scheduler_state(const Metadata& metadata, const LRScheduler& scheduler,
                                    const std::string& where) {
  check_scheduler_kind(metadata, scheduler.name(), where);
  SchedulerState state{.last_epoch = read_number<int>(metadata, "scheduler.last_epoch", where),
                       .base_lrs = read_lrs(metadata, "scheduler.base_lrs", where),
                       .last_lrs = read_lrs(metadata, "scheduler.last_lrs", where)};
  state.check(where + ": " + scheduler.name());
  return state;
}

PlateauState read_scheduler_state(const Metadata& metadata, const ReduceLROnPlateau& scheduler,
                                  const std::string& where) {
  check_scheduler_kind(metadata, scheduler.name(), where);
  PlateauState state{
      .last_epoch = read_number<int>(metadata, "scheduler.last_epoch", where),
      .best = read_number<double>(metadata, "scheduler.best", where),
      .num_bad_epochs = read_number<int>(metadata, "scheduler.num_bad_epochs", where),
      .cooldown_counter = read_number<int>(metadata, "scheduler.cooldown_counter", where),
      .last_lrs = read_lrs(metadata, "scheduler.last_lrs", where)};
  state.check(where + ": " + scheduler.name());
  return state;
}

}  // namespace detail

namespace {

std::string where_of(const std::string& path) { return "optim::load: " + path; }

// Reads the file and checks the optimizer's part and, through read_scheduler, the scheduler's,
// then changes the optimizer: nothing changes unless all is valid.
template <typename ReadScheduler>
void load_checkpoint(Optimizer& optimizer, const std::string& path,
                     ReadScheduler read_scheduler) {
  detail::Metadata metadata;
  const NamedTensors state = load_safetensors(path, &metadata);
  const std::vector<OptionsText> options =
      detail::read_optimizer_metadata(metadata, optimizer, where_of(path));
  read_scheduler(metadata);
  detail::apply_optimizer_state(optimizer, options, state);
}

template <typename Scheduler>
void save_with_scheduler(const Optimizer& optimizer, const Scheduler& scheduler,
                         const std::string& path) {
  detail::Metadata metadata = detail::optimizer_metadata(optimizer);
  metadata.merge(detail::scheduler_metadata(scheduler));
  save_safetensors(path, optimizer.state_tensors(), metadata);
}

template <typename Scheduler>
void load_with_scheduler(Optimizer& optimizer, Scheduler& scheduler, const std::string& path) {
  decltype(scheduler.state()) state;
  load_checkpoint(optimizer, path, [&](const detail::Metadata& metadata) {
    state = detail::read_scheduler_state(metadata, scheduler, where_of(path));
  });
  scheduler.load_state(state);
}

}  // namespace

void save(const Optimizer& optimizer, const std::string& path) {
  save_safetensors(path, optimizer.state_tensors(), detail::optimizer_metadata(optimizer));
}

void load(Optimizer& optimizer, const std::string& path) {
  load_checkpoint(optimizer, path, [](const detail::Metadata&) {});
}

void save(const Optimizer& optimizer, const LRScheduler& scheduler, const std::string& path) {
  save_with_scheduler(optimizer, scheduler, path);
}

void load(Optimizer& optimizer, LRScheduler& scheduler, const std::string& path) {
  load_with_scheduler(optimizer, scheduler, path);
}

void save(const Optimizer& optimizer, const ReduceLROnPlateau& scheduler,
          const std::string& path) {
  save_with_scheduler(optimizer, scheduler, path);
}

void load(Optimizer& optimizer, ReduceLROnPlateau& scheduler, const std::string& path) {
  load_with_scheduler(optimizer, scheduler, path);
}

}  // namespace tapegrad::optim
