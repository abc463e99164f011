#pragma once
// Internal: one list of hooks in registration order, each removable through the RemovableHandle
// that add() returns. Tensor hooks (TensorHooks in tensor_impl.h) and module forward hooks
// (nn/module.cpp) keep their hooks in these, so registering, removing and running work alike.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad {

template <typename Hook>
class HookList {
 public:
  // Appends `hook`. `owner` is the shared object this list lives in: the handle holds it weakly,
  // so it neither keeps the hooks alive nor fails once they are gone, and removing twice does
  // nothing.
  RemovableHandle add(const std::shared_ptr<void>& owner, Hook hook) {
    const std::uint64_t id = next_id_++;
    entries_.push_back({id, std::move(hook)});
    return RemovableHandle([weak = std::weak_ptr<void>(owner), this, id] {
      // `this` lives in the owner, so it is valid while the lock holds the owner.
      if (const std::shared_ptr<void> alive = weak.lock()) {
        std::erase_if(entries_, [id](const Entry& entry) { return entry.id == id; });
      }
    });
  }

  bool empty() const { return entries_.empty(); }
  // The hooks as they are now: callers run this copy, since a hook may remove hooks (itself
  // included) while they run.
  std::vector<Hook> snapshot() const {
    std::vector<Hook> hooks;
    hooks.reserve(entries_.size());
    for (const Entry& entry : entries_) hooks.push_back(entry.hook);
    return hooks;
  }

 private:
  struct Entry {
    std::uint64_t id;
    Hook hook;
  };
  std::vector<Entry> entries_;
  std::uint64_t next_id_ = 0;
};

}  // namespace tapegrad
