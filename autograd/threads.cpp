#include "autograd/threads.h"

#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "autograd/errors.h"

namespace tapegrad {

namespace {

// The documented thread setting: the global_control that enforces it, replaced by each
// set_num_threads call.
struct ThreadSetting {
  std::mutex mutex;
  std::unique_ptr<tbb::global_control> limit;
  // Set once TAPEGRAD_NUM_THREADS has been applied, or overridden by set_num_threads.
  std::atomic<bool> settled{false};
};

ThreadSetting& thread_setting() {
  static ThreadSetting setting;
  return setting;
}

// Callers hold setting.mutex.
void apply_limit(ThreadSetting& setting, int n) {
  setting.limit.reset();  // one global_control of ours at a time, so the newest value rules
  setting.limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                        static_cast<std::size_t>(n));
}

}  // namespace

namespace detail {

int threads_from_environment(const char* value) {
  if (value == nullptr || *value == '\0') return 0;
  const std::string text(value);
  const bool digits = text.size() <= 4 && std::all_of(text.begin(), text.end(), [](char ch) {
                        return ch >= '0' && ch <= '9';
                      });
  const int n = digits ? std::stoi(text) : 0;
  if (!digits || text[0] == '0' || n > kMaxThreads) {
    throw ValueError("TAPEGRAD_NUM_THREADS: expected a whole number in [1, " +
                     std::to_string(kMaxThreads) + "], got \"" + text + "\"");
  }
  return n;
}

void apply_thread_settings() {
  ThreadSetting& setting = thread_setting();
  if (setting.settled.load(std::memory_order_acquire)) return;  // the hot path: one load
  const std::lock_guard<std::mutex> lock(setting.mutex);
  if (setting.settled.load(std::memory_order_relaxed)) return;
  // A bad value throws and leaves the setting unsettled: the next call throws again.
  const int n = threads_from_environment(std::getenv("TAPEGRAD_NUM_THREADS"));
  if (n > 0) apply_limit(setting, n);
  setting.settled.store(true, std::memory_order_release);
}

}  // namespace detail

void set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads) {
    throw ValueError("set_num_threads: expected a number of threads in [1, " +
                     std::to_string(kMaxThreads) + "], got " + std::to_string(n));
  }
  ThreadSetting& setting = thread_setting();
  const std::lock_guard<std::mutex> lock(setting.mutex);
  apply_limit(setting, n);
  setting.settled.store(true, std::memory_order_release);  // n overrides TAPEGRAD_NUM_THREADS
}

int num_threads() {
  detail::apply_thread_settings();
  const auto allowed = tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism);
  const int arena = tbb::this_task_arena::max_concurrency();
  return static_cast<int>(std::min<std::size_t>(allowed, static_cast<std::size_t>(arena)));
}

}  // namespace tapegrad
