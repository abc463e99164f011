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
// The byte gauges are per-thread running counts published now and then (UnpublishedGauges).
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
constexpr int kClassesPerDoubling = 8;  // a power of two
static_assert(std::has_single_bit(unsigned{kClassesPerDoubling}));
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
  const int step_shift = e - std::countr_zero(unsigned{kClassesPerDoubling});
  const std::size_t k = (bytes - base + (std::size_t{1} << step_shift) - 1) >> step_shift;  // 1-8
  return {(e - kMinCachedShift) * kClassesPerDoubling + static_cast<int>(k),
          base + (k << step_shift)};
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

// A thread's changes to the byte gauges not yet added to the shared totals. A locked add costs
// about as much as a small allocation itself (30 ns per atomic read-modify-write measured on
// these VMs), so the hot path only adds here, written by its own thread alone (a relaxed load
// and store: no lock prefix), and publishes when it drifts past kPublishBytes, when it would
// raise a peak, or when the thread ends. Readers add every live thread's unpublished bytes, so
// the gauges are exact once threads are quiet; a peak can miss up to kPublishBytes per thread
// other than the one that reached it.
struct UnpublishedGauges {
  std::atomic<std::int64_t> allocated{0};  // bytes requested, every size
  std::atomic<std::int64_t> small{0};      // bytes of buffers under kMinCachedBytes (tbbmalloc's)
  bool registered = false;
  bool retired = false;  // the thread is ending: publish at once
};
void add_own(std::atomic<std::int64_t>& value, std::int64_t delta) noexcept {
  value.store(value.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}
constexpr std::int64_t kPublishBytes = 64 * 1024;
thread_local UnpublishedGauges unpublished;

class CachingAllocator {
 public:
  static CachingAllocator& instance() {
    static CachingAllocator* const the_instance = new CachingAllocator();
    return *the_instance;
  }

  void* allocate(std::size_t bytes) noexcept {
    const auto signed_bytes = static_cast<std::int64_t>(bytes);
    if (!is_cached_size(bytes)) {
      void* pointer = system_allocate_or_retry(bytes);
      if (pointer == nullptr) return nullptr;
      record_growth(signed_bytes, signed_bytes);
      return pointer;
    }
    const SizeClass size = size_class(bytes);
    void* pointer = take_cached(size);
    if (pointer != nullptr) {
      unpoison(pointer, bytes);  // the tail beyond `bytes` stays poisoned
    } else {
      const std::int64_t limit = limit_.load(std::memory_order_relaxed);
      const auto class_bytes = static_cast<std::int64_t>(size.bytes);
      if (reserved() + class_bytes > limit) release_cached(limit - class_bytes);
      pointer = system_allocate_or_retry(size.bytes);
      if (pointer == nullptr) return nullptr;
      poison(static_cast<char*>(pointer) + bytes, size.bytes - bytes);
      class_reserved_.fetch_add(class_bytes, std::memory_order_relaxed);
    }
    record_growth(signed_bytes, 0);
    return pointer;
  }

  void free(void* pointer, std::size_t bytes) noexcept {
    if (pointer == nullptr) return;
    const auto signed_bytes = static_cast<std::int64_t>(bytes);
    if (!is_cached_size(bytes)) {
      system_free(pointer);
      record_shrink(signed_bytes, signed_bytes);
      return;
    }
    record_shrink(signed_bytes, 0);
    const SizeClass size = size_class(bytes);
    // Keeping the block leaves the bytes held as they are, so it may be kept while they are
    // within the limit (checked without a lock: concurrent frees may overshoot it by a block
    // each, and other threads' unpublished small buffers are not seen).
    if (reserved() <= limit_.load(std::memory_order_relaxed) && keep_cached(size, pointer)) {
      return;
    }
    unpoison(pointer, size.bytes);
    system_free(pointer);
    class_reserved_.fetch_sub(static_cast<std::int64_t>(size.bytes), std::memory_order_relaxed);
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

  // The byte gauges and peaks, with every thread's unpublished changes.
  MemoryStats byte_gauges() noexcept {
    publish();
    MemoryStats s;
    const Totals now = totals();
    s.allocated_bytes = now.allocated;
    s.reserved_bytes = now.reserved;
    s.peak_allocated_bytes = peak_allocated_.load(std::memory_order_relaxed);
    s.peak_reserved_bytes = peak_reserved_.load(std::memory_order_relaxed);
    s.alloc_retries = retries_.load(std::memory_order_relaxed);
    return s;
  }

  // byte_gauges() plus what only the free lists know (locks each in turn).
  MemoryStats stats() noexcept {
    MemoryStats s = byte_gauges();
    for (int index = 0; index < kClassCount; ++index) {
      FreeList& list = free_lists_[static_cast<std::size_t>(index)];
      const std::lock_guard lock(list.mutex);
      s.cached_bytes += static_cast<std::int64_t>(list.blocks.size() * class_bytes_of(index));
      s.cache_hits += list.hits;
      s.cache_misses += list.misses;
    }
    return s;
  }

  void reset_peaks() noexcept {
    publish();
    const Totals now = totals();
    peak_allocated_.store(now.allocated, std::memory_order_relaxed);
    peak_reserved_.store(now.reserved, std::memory_order_relaxed);
  }

  // Adds the calling thread's unpublished changes to the shared totals and raises the peaks.
  void publish() noexcept {
    UnpublishedGauges& mine = unpublished;
    const std::int64_t delta = mine.allocated.load(std::memory_order_relaxed);
    const std::int64_t small_delta = mine.small.load(std::memory_order_relaxed);
    allocated_.fetch_add(delta, std::memory_order_relaxed);
    small_.fetch_add(small_delta, std::memory_order_relaxed);
    mine.allocated.store(0, std::memory_order_relaxed);
    mine.small.store(0, std::memory_order_relaxed);
    // From the full totals: the shared ones alone are off by what idle threads have not
    // published (a worker that freed a buffer the main thread made, say).
    const Totals now = totals();
    raise_peak(peak_allocated_, now.allocated);
    raise_peak(peak_reserved_, now.reserved);
  }

 private:
  // One size class's free blocks and counts, on a cache line of its own.
  struct alignas(64) FreeList {
    std::mutex mutex;
    std::vector<void*> blocks;  // the most recently freed last
    std::int64_t hits = 0, misses = 0;
  };

  CachingAllocator() : limit_(default_limit()) {}

  struct Totals {
    std::int64_t allocated, reserved;
  };
  // The shared totals plus every listed thread's unpublished changes.
  Totals totals() noexcept {
    Totals sum{allocated_.load(std::memory_order_relaxed), reserved()};
    const std::lock_guard lock(threads_mutex_);
    for (const UnpublishedGauges* thread : threads_) {
      sum.allocated += thread->allocated.load(std::memory_order_relaxed);
      sum.reserved += thread->small.load(std::memory_order_relaxed);
    }
    return sum;
  }

  // The shared totals only: what the hot path and the limit look at.
  std::int64_t reserved() const noexcept {
    return class_reserved_.load(std::memory_order_relaxed) +
           small_.load(std::memory_order_relaxed);
  }

  void record_growth(std::int64_t bytes, std::int64_t small_bytes) noexcept {
    UnpublishedGauges& mine = unpublished;
    if (!mine.registered) register_thread(mine);
    add_own(mine.allocated, bytes);
    add_own(mine.small, small_bytes);
    const std::int64_t allocated = mine.allocated.load(std::memory_order_relaxed);
    const std::int64_t small = mine.small.load(std::memory_order_relaxed);
    // Plain loads: publishing (two locked adds) happens only when a peak would move.
    if (mine.retired || allocated >= kPublishBytes || small >= kPublishBytes ||
        allocated_.load(std::memory_order_relaxed) + allocated >
            peak_allocated_.load(std::memory_order_relaxed) ||
        reserved() + small > peak_reserved_.load(std::memory_order_relaxed)) {
      publish();
    }
  }

  void record_shrink(std::int64_t bytes, std::int64_t small_bytes) noexcept {
    UnpublishedGauges& mine = unpublished;
    if (!mine.registered) register_thread(mine);
    add_own(mine.allocated, -bytes);
    add_own(mine.small, -small_bytes);
    if (mine.retired || mine.allocated.load(std::memory_order_relaxed) <= -kPublishBytes ||
        mine.small.load(std::memory_order_relaxed) <= -kPublishBytes) {
      publish();
    }
  }

  // Lists the thread's gauges for readers, and publishes and unlists them when the thread ends
  // (a thread_local with a destructor, made here once per thread; `unpublished` itself stays
  // trivially destructible, so reaching it on the hot path needs no initialisation check).
  void register_thread(UnpublishedGauges& mine) noexcept {
    mine.registered = true;
    try {
      const std::lock_guard lock(threads_mutex_);
      threads_.push_back(&mine);
    } catch (...) {
      mine.retired = true;  // unlisted: publish every change at once
      return;
    }
    struct Unlist {
      ~Unlist() {
        CachingAllocator& allocator = instance();
        UnpublishedGauges& gauges = unpublished;
        gauges.retired = true;
        allocator.publish();
        const std::lock_guard lock(allocator.threads_mutex_);
        std::erase(allocator.threads_, &gauges);
      }
    };
    thread_local Unlist unlist;
    (void)unlist;
  }

  void* take_cached(SizeClass size) noexcept {
    FreeList& list = free_lists_[static_cast<std::size_t>(size.index)];
    const std::lock_guard lock(list.mutex);
    if (list.blocks.empty()) {
      ++list.misses;
      return nullptr;
    }
    ++list.hits;
    void* pointer = list.blocks.back();
    list.blocks.pop_back();
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
    return true;
  }

  // Returns cached blocks to the system, largest class first (fewest calls for the most bytes),
  // until the bytes held are <= target or nothing is cached.
  void release_cached(std::int64_t target) noexcept {
    std::int64_t excess = reserved() - target;
    for (int index = kClassCount - 1; index >= 0 && excess > 0; --index) {
      FreeList& list = free_lists_[static_cast<std::size_t>(index)];
      const std::lock_guard lock(list.mutex);
      const std::size_t class_bytes = class_bytes_of(index);
      while (!list.blocks.empty() && excess > 0) {
        void* pointer = list.blocks.back();
        list.blocks.pop_back();
        unpoison(pointer, class_bytes);
        system_free(pointer);
        const auto released = static_cast<std::int64_t>(class_bytes);
        class_reserved_.fetch_sub(released, std::memory_order_relaxed);
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
  std::mutex threads_mutex_;
  std::vector<UnpublishedGauges*> threads_;  // of every thread that has allocated and not ended
  // Published totals: bytes requested (all sizes), bytes of live buffers under kMinCachedBytes,
  // and bytes of size-class blocks, live or cached (exact: changed only on a miss or a release).
  std::atomic<std::int64_t> allocated_{0}, small_{0}, class_reserved_{0};
  std::atomic<std::int64_t> peak_allocated_{0}, peak_reserved_{0}, retries_{0};
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
std::int64_t memory_allocated() { return CachingAllocator::instance().byte_gauges().allocated_bytes; }
std::int64_t memory_reserved() { return CachingAllocator::instance().byte_gauges().reserved_bytes; }
std::int64_t max_memory_allocated() {
  return CachingAllocator::instance().byte_gauges().peak_allocated_bytes;
}
std::int64_t max_memory_reserved() {
  return CachingAllocator::instance().byte_gauges().peak_reserved_bytes;
}
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
