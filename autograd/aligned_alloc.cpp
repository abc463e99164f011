// The caching allocator behind every float buffer (see autograd/memory.h for what it promises).
// One process-wide instance, made on first use and never destroyed, so that tensors freed during
// static destruction still find it.
//
// Layout: buffers below kMinCachedBytes go straight to the backing allocator (tbbmalloc's
// per-thread slabs keep those without faulting). Larger ones are rounded up to a size class, 8
// per doubling from 8 KiB to 2^47 bytes (the largest tensor tapegrad makes, errors.h max_numel),
// and each class has a LIFO free list under its own mutex: the most recently freed block, still
// warm in cache, is handed out first, and threads freeing different sizes never contend. A
// request takes a block of its own class only; no splitting or merging, so a block's size is a
// pure function of the requested size and aligned_free needs nothing but that size.
// The gauges are relaxed atomics: counts, not synchronisation.
#include "autograd/aligned_alloc.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "autograd/errors.h"
#include "autograd/memory.h"

#ifndef TAPEGRAD_SYSTEM_ALLOCATOR
#include <tbb/scalable_allocator.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define TAPEGRAD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TAPEGRAD_ASAN 1
#endif
#endif
#ifdef TAPEGRAD_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace tapegrad {
namespace {

constexpr std::size_t kAlignment = 64;
constexpr int kMinCachedShift = 13;
constexpr std::size_t kMinCachedBytes = std::size_t{1} << kMinCachedShift;  // 8 KiB
constexpr int kMaxCachedShift = 47;
constexpr std::size_t kMaxCachedBytes = std::size_t{1} << kMaxCachedShift;
constexpr int kClassesPerDoubling = 8;
// Class 0 is 8 KiB; then 8 classes for each (2^e, 2^(e+1)], e = 13 .. 46.
constexpr int kClassCount = (kMaxCachedShift - kMinCachedShift) * kClassesPerDoubling + 1;

bool is_cached_size(std::size_t bytes) {
  return bytes >= kMinCachedBytes && bytes <= kMaxCachedBytes;
}

struct SizeClass {
  int index;
  std::size_t bytes;
};

// For kMinCachedBytes <= bytes <= kMaxCachedBytes: the smallest class holding `bytes`.
SizeClass size_class(std::size_t bytes) {
  if (bytes <= kMinCachedBytes) return {0, kMinCachedBytes};
  const int e = static_cast<int>(std::bit_width(bytes - 1)) - 1;  // 2^e < bytes <= 2^(e+1)
  const std::size_t base = std::size_t{1} << e;
  const std::size_t step = base / kClassesPerDoubling;
  const std::size_t k = (bytes - base + step - 1) / step;  // 1 .. 8
  return {(e - kMinCachedShift) * kClassesPerDoubling + static_cast<int>(k), base + k * step};
}

// ---- the backing allocator ----
void* system_allocate(std::size_t bytes) noexcept {
#ifdef TAPEGRAD_SYSTEM_ALLOCATOR
  // aligned_alloc wants a size that is a multiple of the alignment.
  if (bytes > static_cast<std::size_t>(-1) - (kAlignment - 1)) return nullptr;
  const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  return std::aligned_alloc(kAlignment, rounded);
#else
  return scalable_aligned_malloc(bytes, kAlignment);
#endif
}

void system_free(void* pointer) noexcept {
#ifdef TAPEGRAD_SYSTEM_ALLOCATOR
  std::free(pointer);
#else
  scalable_aligned_free(pointer);
#endif
}

// A block no one may touch (cached, or the part of a class beyond the request) is poisoned in
// ASan builds, so a stray access is still reported, as "use-after-poison".
void poison(const void* pointer, std::size_t bytes) noexcept {
#ifdef TAPEGRAD_ASAN
  ASAN_POISON_MEMORY_REGION(pointer, bytes);
#else
  (void)pointer;
  (void)bytes;
#endif
}
void unpoison(const void* pointer, std::size_t bytes) noexcept {
#ifdef TAPEGRAD_ASAN
  ASAN_UNPOISON_MEMORY_REGION(pointer, bytes);
#else
  (void)pointer;
  (void)bytes;
#endif
}

std::int64_t default_limit() {
#ifdef TAPEGRAD_SYSTEM_ALLOCATOR
  return 0;
#else
  const long pages = sysconf(_SC_PHYS_PAGES), page_bytes = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_bytes <= 0) return std::int64_t{4} << 30;  // unknown machine: 4 GiB
  return static_cast<std::int64_t>(pages) * page_bytes / 2;
#endif
}

void raise_peak(std::atomic<std::int64_t>& peak, std::int64_t value) noexcept {
  std::int64_t seen = peak.load(std::memory_order_relaxed);
  while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

class CachingAllocator {
 public:
  static CachingAllocator& instance() {
    static CachingAllocator* const the_instance = new CachingAllocator();
    return *the_instance;
  }

  void* allocate(std::size_t bytes) noexcept {
    if (!is_cached_size(bytes)) {
      void* pointer = system_allocate_or_retry(bytes);
      if (pointer == nullptr) return nullptr;
      add(reserved_, bytes, peak_reserved_);
      add(allocated_, bytes, peak_allocated_);
      return pointer;
    }
    const SizeClass size = size_class(bytes);
    void* pointer = take_cached(size);
    if (pointer != nullptr) {
      hits_.fetch_add(1, std::memory_order_relaxed);
      unpoison(pointer, bytes);  // the tail beyond `bytes` stays poisoned
    } else {
      misses_.fetch_add(1, std::memory_order_relaxed);
      const std::int64_t limit = limit_.load(std::memory_order_relaxed);
      const auto class_bytes = static_cast<std::int64_t>(size.bytes);
      if (reserved_.load(std::memory_order_relaxed) + class_bytes > limit) {
        release_cached(limit - class_bytes);
      }
      pointer = system_allocate_or_retry(size.bytes);
      if (pointer == nullptr) return nullptr;
      poison(static_cast<char*>(pointer) + bytes, size.bytes - bytes);
      add(reserved_, size.bytes, peak_reserved_);
    }
    add(allocated_, bytes, peak_allocated_);
    return pointer;
  }

  void free(void* pointer, std::size_t bytes) noexcept {
    if (pointer == nullptr) return;
    allocated_.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
    if (!is_cached_size(bytes)) {
      system_free(pointer);
      reserved_.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
      return;
    }
    const SizeClass size = size_class(bytes);
    // Keeping the block leaves reserved_ as it is, so it may be kept while reserved_ is within
    // the limit (checked without a lock: concurrent frees may overshoot it by a block each).
    if (reserved_.load(std::memory_order_relaxed) <= limit_.load(std::memory_order_relaxed) &&
        keep_cached(size, pointer)) {
      return;
    }
    unpoison(pointer, size.bytes);
    system_free(pointer);
    reserved_.fetch_sub(static_cast<std::int64_t>(size.bytes), std::memory_order_relaxed);
  }

  void empty() noexcept {
    release_cached(0);
#ifndef TAPEGRAD_SYSTEM_ALLOCATOR
    // tbbmalloc keeps freed large blocks in caches of its own; release those too.
    scalable_allocation_command(TBBMALLOC_CLEAN_ALL_BUFFERS, nullptr);
#endif
  }

  void set_limit(std::int64_t bytes) noexcept {
    limit_.store(bytes, std::memory_order_relaxed);
    release_cached(bytes);
  }
  std::int64_t limit() const noexcept { return limit_.load(std::memory_order_relaxed); }

  MemoryStats stats() const noexcept {
    MemoryStats s;
    s.allocated_bytes = allocated_.load(std::memory_order_relaxed);
    s.reserved_bytes = reserved_.load(std::memory_order_relaxed);
    s.cached_bytes = cached_.load(std::memory_order_relaxed);
    s.peak_allocated_bytes = peak_allocated_.load(std::memory_order_relaxed);
    s.peak_reserved_bytes = peak_reserved_.load(std::memory_order_relaxed);
    s.cache_hits = hits_.load(std::memory_order_relaxed);
    s.cache_misses = misses_.load(std::memory_order_relaxed);
    s.alloc_retries = retries_.load(std::memory_order_relaxed);
    return s;
  }

  void reset_peaks() noexcept {
    peak_allocated_.store(allocated_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    peak_reserved_.store(reserved_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }

 private:
  // One size class's free blocks, on a cache line of its own.
  struct alignas(64) FreeList {
    std::mutex mutex;
    std::vector<void*> blocks;  // the most recently freed last
  };

  CachingAllocator() : limit_(default_limit()) {}

  static void add(std::atomic<std::int64_t>& gauge, std::size_t bytes,
                  std::atomic<std::int64_t>& peak) noexcept {
    const auto delta = static_cast<std::int64_t>(bytes);
    raise_peak(peak, gauge.fetch_add(delta, std::memory_order_relaxed) + delta);
  }

  void* take_cached(SizeClass size) noexcept {
    FreeList& list = free_lists_[static_cast<std::size_t>(size.index)];
    const std::lock_guard lock(list.mutex);
    if (list.blocks.empty()) return nullptr;
    void* pointer = list.blocks.back();
    list.blocks.pop_back();
    cached_.fetch_sub(static_cast<std::int64_t>(size.bytes), std::memory_order_relaxed);
    return pointer;
  }

  // False if the free list could not grow (the block then goes back to the system).
  bool keep_cached(SizeClass size, void* pointer) noexcept {
    // Poisoned before it is listed: once listed, another thread may take and unpoison it.
    poison(pointer, size.bytes);
    FreeList& list = free_lists_[static_cast<std::size_t>(size.index)];
    const std::lock_guard lock(list.mutex);
    try {
      list.blocks.push_back(pointer);
    } catch (...) {
      return false;
    }
    cached_.fetch_add(static_cast<std::int64_t>(size.bytes), std::memory_order_relaxed);
    return true;
  }

  // Returns cached blocks to the system, largest class first (fewest calls for the most bytes),
  // until reserved_ <= target or nothing is cached.
  void release_cached(std::int64_t target) noexcept {
    std::int64_t excess = reserved_.load(std::memory_order_relaxed) - target;
    for (int index = kClassCount - 1; index >= 0 && excess > 0; --index) {
      if (cached_.load(std::memory_order_relaxed) == 0) return;
      FreeList& list = free_lists_[static_cast<std::size_t>(index)];
      const std::lock_guard lock(list.mutex);
      const std::size_t class_bytes = class_bytes_of(index);
      while (!list.blocks.empty() && excess > 0) {
        void* pointer = list.blocks.back();
        list.blocks.pop_back();
        unpoison(pointer, class_bytes);
        system_free(pointer);
        const auto released = static_cast<std::int64_t>(class_bytes);
        cached_.fetch_sub(released, std::memory_order_relaxed);
        reserved_.fetch_sub(released, std::memory_order_relaxed);
        excess -= released;
      }
      if (list.blocks.empty()) list.blocks.shrink_to_fit();
    }
  }

  static std::size_t class_bytes_of(int index) {
    if (index == 0) return kMinCachedBytes;
    const int e = kMinCachedShift + (index - 1) / kClassesPerDoubling;
    const int k = (index - 1) % kClassesPerDoubling + 1;
    const std::size_t base = std::size_t{1} << e;
    return base + static_cast<std::size_t>(k) * (base / kClassesPerDoubling);
  }

  // Under pressure: a refused allocation empties the cache and tries once more.
  void* system_allocate_or_retry(std::size_t bytes) noexcept {
    if (void* pointer = system_allocate(bytes)) return pointer;
    retries_.fetch_add(1, std::memory_order_relaxed);
    empty();
    return system_allocate(bytes);
  }

  std::array<FreeList, kClassCount> free_lists_;
  std::atomic<std::int64_t> allocated_{0}, reserved_{0}, cached_{0};
  std::atomic<std::int64_t> peak_allocated_{0}, peak_reserved_{0};
  std::atomic<std::int64_t> hits_{0}, misses_{0}, retries_{0};
  std::atomic<std::int64_t> limit_;
};

}  // namespace

namespace detail {

void* aligned_allocate(std::size_t bytes) noexcept {
  return CachingAllocator::instance().allocate(bytes);
}

void aligned_free(void* pointer, std::size_t bytes) noexcept {
  CachingAllocator::instance().free(pointer, bytes);
}

}  // namespace detail

MemoryStats memory_stats() { return CachingAllocator::instance().stats(); }
std::int64_t memory_allocated() { return memory_stats().allocated_bytes; }
std::int64_t memory_reserved() { return memory_stats().reserved_bytes; }
std::int64_t max_memory_allocated() { return memory_stats().peak_allocated_bytes; }
std::int64_t max_memory_reserved() { return memory_stats().peak_reserved_bytes; }
void reset_peak_memory_stats() { CachingAllocator::instance().reset_peaks(); }
void empty_cache() { CachingAllocator::instance().empty(); }

void set_memory_cache_limit(std::int64_t bytes) {
  if (bytes < 0) {
    throw ValueError("set_memory_cache_limit: expected a limit >= 0 bytes, got " +
                     std::to_string(bytes));
  }
  CachingAllocator::instance().set_limit(bytes);
}

std::int64_t memory_cache_limit() { return CachingAllocator::instance().limit(); }

}  // namespace tapegrad
