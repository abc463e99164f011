#include "optim/training_checkpoint.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <system_error>

#include "autograd/grad_mode.h"
#include "nn/serialize.h"
#include "optim/checkpoint_detail.h"

namespace tapegrad::optim {

namespace {

using detail::Metadata;

// The file's "format" value; a later layout gets a new one, so an old reader refuses it clearly.
constexpr const char* kFormat = "tapegrad.training_checkpoint.v1";

// Entry kinds, in the order of TrainingCheckpoint::Target's alternatives.
constexpr const char* kKinds[] = {"module",    "optimizer", "scheduler", "scheduler",
                                  "generator", "tensor",    "integer",   "real"};

std::string kind_of(const TrainingCheckpoint::Entry& entry) {
  // Two scheduler kinds: the file says which one by the scheduler's name, checked on load.
  return kKinds[entry.target.index()];
}

// "module:model,optimizer:adam,...": which entries the file holds, compared whole on load.
std::string entry_list(const std::vector<TrainingCheckpoint::Entry>& entries) {
  std::string list;
  for (const auto& entry : entries) {
    // Appended piece by piece: the one-expression form trips GCC 12's -Wrestrict (a false
    // positive that depends on inlining elsewhere in this file).
    if (!list.empty()) list += ',';
    list += kind_of(entry);
    list += ':';
    list += entry.name;
  }
  return list;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> items;
  for (std::size_t begin = 0; !text.empty();) {
    const std::size_t comma = text.find(',', begin);
    items.push_back(text.substr(begin, comma - begin));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return items;
}

std::string quoted(const std::string& text) { return "\"" + text + "\""; }

// The metadata under "<prefix>", with the prefix removed.
Metadata under(const Metadata& metadata, const std::string& prefix) {
  Metadata out;
  for (auto it = metadata.lower_bound(prefix);
       it != metadata.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.emplace(it->first.substr(prefix.size()), it->second);
  }
  return out;
}

const std::string& required(const Metadata& metadata, const std::string& key,
                            const std::string& where) {
  const auto found = metadata.find(key);
  if (found == metadata.end()) throw ValueError(where + ": the file has no " + quoted(key));
  return found->second;
}

template <typename T>
T parse_whole(const std::string& text, const std::string& key, const std::string& where) {
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    throw ValueError(where + ": " + quoted(key) + " is not a valid number: " +
                     quoted(text.substr(0, 40)));
  }
  return value;
}

std::string format_double(double value) {
  char buffer[64];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  (void)error;  // 64 characters hold any double's shortest form
  return std::string(buffer, end);
}

Generator parse_generator(const std::string& text, const std::string& where) {
  Generator generator;
  try {
    generator.load_state(text);
  } catch (const ValueError& error) {
    throw ValueError(where + ": " + error.what());
  }
  return generator;
}

// Parameters from the file against the module's, by name and shape: every problem listed at once,
// as load_into lists them.
void check_parameters(const NamedTensors& expected, const std::map<std::string, Tensor>& stored,
                      const std::string& where) {
  std::string missing, unexpected, mismatched, mistyped;
  const auto append = [](std::string& list, const std::string& item) {
    list += (list.empty() ? "" : ", ") + item;
  };
  std::map<std::string, bool> wanted;
  for (const auto& [name, tensor] : expected) {
    wanted.emplace(name, true);
    const auto found = stored.find(name);
    if (found == stored.end()) {
      append(missing, quoted(name));
    } else {
      if (found->second.shape() != tensor.shape()) {
        append(mismatched, quoted(name) + " expected " + format_shape(tensor.shape()) +
                               " (module), got " + format_shape(found->second.shape()) +
                               " (file)");
      }
      // Checked here: the copies run later, once every entry has passed.
      if (found->second.dtype() != tensor.dtype()) {
        append(mistyped, quoted(name) + " expected " + dtype_name(tensor.dtype()) +
                             " (module), got " + dtype_name(found->second.dtype()) + " (file)");
      }
    }
  }
  for (const auto& [name, tensor] : stored) {
    if (!wanted.count(name)) append(unexpected, quoted(name));
  }
  if (missing.empty() && unexpected.empty() && mismatched.empty() && mistyped.empty()) return;
  std::string message = where + " does not match the module";
  if (!missing.empty()) message += "; missing (not in the file): " + missing;
  if (!unexpected.empty()) message += "; unexpected (not in the module): " + unexpected;
  if (!mismatched.empty()) message += "; shape mismatches: " + mismatched;
  if (!mistyped.empty()) message += "; dtype mismatches: " + mistyped;
  if (!missing.empty() || !unexpected.empty()) throw ValueError(message);
  if (!mismatched.empty()) throw ShapeError(message);
  throw TypeError(message);
}

// One optimizer's load, prepared: applied first (it is the one step that can still refuse), with
// its previous options and state kept to undo it if a later optimizer refuses.
struct OptimizerLoad {
  Optimizer* optimizer;
  std::vector<OptionsText> options;
  NamedTensors state;
  std::string where;  // the file and the entry, to prefix the optimizer's own message
};

OptimizerLoad snapshot(Optimizer& optimizer) {
  OptimizerLoad previous{&optimizer, {}, optimizer.state_tensors(), ""};
  for (std::size_t g = 0; g < optimizer.num_param_groups(); ++g) {
    previous.options.push_back(optimizer.group_options_text(g));
  }
  return previous;
}

}  // namespace

TrainingCheckpoint& TrainingCheckpoint::add(const std::string& name, Target target) {
  const std::string where = "TrainingCheckpoint::add_" + std::string(kKinds[target.index()]);
  if (name.empty() || name.find_first_of("/,") != std::string::npos) {
    throw ValueError(where + ": expected a non-empty name without '/' or ',', got " +
                     quoted(name));
  }
  for (const Entry& entry : entries_) {
    if (entry.name == name) {
      const std::string kind = kind_of(entry);
      throw ValueError(where + ": the name " + quoted(name) + " is already taken (" +
                       (kind == "integer" || kind == "optimizer" ? "an " : "a ") + kind +
                       " entry)");
    }
  }
  const bool null = std::visit([](auto* pointer) { return pointer == nullptr; }, target);
  if (null) throw ValueError(where + ": " + quoted(name) + " refers to nothing");
  entries_.push_back({name, target});
  return *this;
}

TrainingCheckpoint& TrainingCheckpoint::add_module(const std::string& name, nn::Module& module) {
  return add(name, &module);
}
TrainingCheckpoint& TrainingCheckpoint::add_optimizer(const std::string& name,
                                                      Optimizer& optimizer) {
  return add(name, &optimizer);
}
TrainingCheckpoint& TrainingCheckpoint::add_scheduler(const std::string& name,
                                                      LRScheduler& scheduler) {
  return add(name, &scheduler);
}
TrainingCheckpoint& TrainingCheckpoint::add_scheduler(const std::string& name,
                                                      ReduceLROnPlateau& scheduler) {
  return add(name, &scheduler);
}
TrainingCheckpoint& TrainingCheckpoint::add_generator(const std::string& name,
                                                      Generator& generator) {
  return add(name, &generator);
}
TrainingCheckpoint& TrainingCheckpoint::add_tensor(const std::string& name, Tensor& tensor) {
  return add(name, &tensor);
}
TrainingCheckpoint& TrainingCheckpoint::add_integer(const std::string& name,
                                                    std::int64_t& value) {
  return add(name, &value);
}
TrainingCheckpoint& TrainingCheckpoint::add_real(const std::string& name, double& value) {
  return add(name, &value);
}

void TrainingCheckpoint::save(const std::string& path) const {
  NamedTensors tensors;
  Metadata metadata{{"format", kFormat}, {"entries", entry_list(entries_)}};
  const auto put_metadata = [&](const std::string& prefix, const Metadata& values) {
    for (const auto& [key, value] : values) metadata[prefix + key] = value;
  };
  for (const Entry& entry : entries_) {
    const std::string prefix = entry.name + "/";
    std::visit(
        [&](auto* target) {
          using T = std::remove_pointer_t<decltype(target)>;
          if constexpr (std::is_same_v<T, nn::Module>) {
            for (const auto& [name, value] : target->state_dict()) {
              tensors.emplace_back(prefix + name, value);
            }
            for (const auto& [name, generator] : target->named_generators()) {
              metadata[prefix + "generator." + name] = generator->state();
            }
          } else if constexpr (std::is_same_v<T, Optimizer>) {
            for (const auto& [name, state] : target->state_tensors()) {
              tensors.emplace_back(prefix + name, state);
            }
            put_metadata(prefix, detail::optimizer_metadata(*target));
          } else if constexpr (std::is_same_v<T, LRScheduler> ||
                               std::is_same_v<T, ReduceLROnPlateau>) {
            put_metadata(prefix, detail::scheduler_metadata(*target));
          } else if constexpr (std::is_same_v<T, Generator>) {
            metadata[prefix + "state"] = target->state();
          } else if constexpr (std::is_same_v<T, Tensor>) {
            if (target->defined() && target->requires_grad()) {
              throw ValueError("TrainingCheckpoint::save: tensor " + quoted(entry.name) +
                               " requires grad; register trainable tensors through their module");
            }
            metadata[prefix + "defined"] = target->defined() ? "1" : "0";
            if (target->defined()) tensors.emplace_back(entry.name, *target);
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            metadata[prefix + "value"] = std::to_string(*target);
          } else {
            metadata[prefix + "value"] = format_double(*target);
          }
        },
        entry.target);
  }
  save_safetensors(path, tensors, metadata);
}

void TrainingCheckpoint::load(const std::string& path) {
  const std::string where = "TrainingCheckpoint::load: " + path;
  Metadata metadata;
  const NamedTensors file_tensors = load_safetensors(path, &metadata);
  const auto format = metadata.find("format");
  if (format == metadata.end() || format->second != kFormat) {
    throw ValueError(where + ": expected a training checkpoint (format " + quoted(kFormat) +
                     "), got " +
                     (format == metadata.end() ? std::string("a file without a format")
                                               : "format " + quoted(format->second)));
  }
  // The same entries, or the file belongs to another setup: name what differs.
  const std::string expected_entries = entry_list(entries_);
  const std::string& file_entries = required(metadata, "entries", where);
  if (file_entries != expected_entries) {
    std::string missing, unexpected;
    const std::vector<std::string> have = split(file_entries), want = split(expected_entries);
    for (const std::string& item : want) {
      if (std::find(have.begin(), have.end(), item) == have.end()) missing += " " + item;
    }
    for (const std::string& item : have) {
      if (std::find(want.begin(), want.end(), item) == want.end()) unexpected += " " + item;
    }
    throw ValueError(where + ": the file's entries differ from this checkpoint's (another model "
                             "or training setup?): expected " +
                     quoted(expected_entries) + ", got " + quoted(file_entries) +
                     (missing.empty() ? "" : "; missing:" + missing) +
                     (unexpected.empty() ? "" : "; unexpected:" + unexpected));
  }
  // The file's tensors by entry: "<entry>/<name>" for modules and optimizers, "<entry>" alone
  // for a tensor entry.
  std::map<std::string, std::map<std::string, Tensor>> tensors_of;
  for (const auto& [name, tensor] : file_tensors) {
    const std::size_t slash = name.find('/');
    if (slash == std::string::npos) {
      tensors_of[name].emplace("", tensor);
    } else {
      tensors_of[name.substr(0, slash)].emplace(name.substr(slash + 1), tensor);
    }
  }

  // Everything is read and checked first; the changes wait in these until all entries passed.
  std::vector<OptimizerLoad> optimizer_loads;
  std::vector<std::function<void()>> changes;
  for (const Entry& entry : entries_) {
    const std::string entry_where = where + ": " + kind_of(entry) + " " + quoted(entry.name);
    const Metadata entry_metadata = under(metadata, entry.name + "/");
    const std::map<std::string, Tensor>& stored = tensors_of[entry.name];
    std::visit(
        [&](auto* target) {
          using T = std::remove_pointer_t<decltype(target)>;
          if constexpr (std::is_same_v<T, nn::Module>) {
            // Parameters and persistent buffers (a buffer's running count must resume too).
            const NamedTensors state = target->state_dict();
            check_parameters(state, stored, entry_where);
            std::vector<std::pair<Generator*, Generator>> generators;
            for (const auto& [name, generator] : target->named_generators()) {
              generators.emplace_back(
                  generator,
                  parse_generator(required(entry_metadata, "generator." + name, entry_where),
                                  entry_where + ": generator " + quoted(name)));
            }
            changes.push_back([state, &stored, generators] {
              NoGradGuard no_grad;
              for (const auto& [name, value] : state) {
                Tensor destination = value;  // a second handle: copy_ writes the storage
                destination.copy_(stored.at(name));
              }
              for (const auto& [destination, value] : generators) *destination = value;
            });
          } else if constexpr (std::is_same_v<T, Optimizer>) {
            NamedTensors state;
            for (const auto& [name, tensor] : stored) state.emplace_back(name, tensor);
            optimizer_loads.push_back(
                {target, detail::read_optimizer_metadata(entry_metadata, *target, entry_where),
                 std::move(state), entry_where});
          } else if constexpr (std::is_same_v<T, LRScheduler> ||
                               std::is_same_v<T, ReduceLROnPlateau>) {
            auto state = detail::read_scheduler_state(entry_metadata, *target, entry_where);
            changes.push_back([target, state] { target->load_state(state); });
          } else if constexpr (std::is_same_v<T, Generator>) {
            const Generator value =
                parse_generator(required(entry_metadata, "state", entry_where), entry_where);
            changes.push_back([target, value] { *target = value; });
          } else if constexpr (std::is_same_v<T, Tensor>) {
            const std::string& defined = required(entry_metadata, "defined", entry_where);
            const auto found = stored.find("");
            if (defined != "0" && defined != "1") {
              throw ValueError(entry_where + ": \"defined\" must be 0 or 1, got " +
                               quoted(defined));
            }
            if ((defined == "1") != (found != stored.end())) {
              throw ValueError(entry_where + ": the file says the tensor is " +
                               (defined == "1" ? "defined but holds no data for it"
                                               : "undefined but holds data for it"));
            }
            const Tensor value = defined == "1" ? found->second : Tensor();
            changes.push_back([target, value] { *target = value; });
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            const auto value = parse_whole<std::int64_t>(
                required(entry_metadata, "value", entry_where), "value", entry_where);
            changes.push_back([target, value] { *target = value; });
          } else {
            const auto value = parse_whole<double>(required(entry_metadata, "value", entry_where),
                                                   "value", entry_where);
            changes.push_back([target, value] { *target = value; });
          }
        },
        entry.target);
  }

  // Optimizers validate their state as they take it; undo the earlier ones if a later refuses.
  std::vector<OptimizerLoad> undo;
  for (const OptimizerLoad& load : optimizer_loads) {
    OptimizerLoad previous = snapshot(*load.optimizer);
    const auto undo_earlier = [&] {
      for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
        detail::apply_optimizer_state(*it->optimizer, it->options, it->state);
      }
    };
    try {
      detail::apply_optimizer_state(*load.optimizer, load.options, load.state);
    } catch (const ShapeError& error) {
      undo_earlier();
      throw ShapeError(load.where + ": " + error.what());
    } catch (const ValueError& error) {
      undo_earlier();
      throw ValueError(load.where + ": " + error.what());
    }
    undo.push_back(std::move(previous));
  }
  for (const auto& change : changes) change();
}

}  // namespace tapegrad::optim
