#pragma once
// The tensor memory cache: process state, like PyTorch's caching allocators (torch.cuda's
// memory_allocated / memory_reserved / empty_cache), and documented as such next to grad mode and
// the thread settings.
//
// Every float buffer (tensor storage, matmul packing scratch) comes from one process-wide cache.
// A buffer of 8 KiB or more is rounded up to a size class (8 per doubling, so at most 12.5% more
// than asked) and, when freed, is kept in its class's free list instead of going back to the OS;
// the next request of that class takes it. A training step that frees its tape is thus served
// from the cache by the next step, without mapping (and page-faulting) its memory afresh. Smaller
// buffers go to TBB's scalable allocator, whose per-thread pools already keep them.
//
// Memory goes back to the OS only
//   - on request: empty_cache();
//   - under pressure: an allocation the system refuses empties the cache and is retried once
//     (then it is an OutOfMemoryError naming the shape and the byte count);
//   - past the limit on held bytes (set_memory_cache_limit): a freed block is not kept, and a
//     request that would exceed it first returns cached blocks, largest first. The limit never
//     refuses an allocation; it caps what the cache keeps.
// Default limit: half the machine's physical memory. Builds with TAPEGRAD_SYSTEM_ALLOCATOR (the
// sanitizer builds) default to 0, i.e. no caching, so ASan sees every free; a limit set there
// caches with ASan-poisoned free blocks and size-class tails.
//
// Thread-safe: each size class has its own lock. The byte gauges cost the hot path no locked
// instruction: each thread keeps its own running count and adds it to the shared totals every
// 64 KiB of change or when it would raise a peak. Readers add up every thread's count, so the
// gauges are exact whenever no other thread is allocating; a peak may miss up to 64 KiB per
// thread other than the one that reached it, and the limit is checked against the shared totals.
#include <cstdint>

namespace tapegrad {

struct MemoryStats {
  std::int64_t allocated_bytes = 0;       // live buffers, as requested (memory_allocated)
  std::int64_t reserved_bytes = 0;        // held: live buffers at class size + cached (memory_reserved)
  std::int64_t cached_bytes = 0;          // free blocks kept for reuse
  std::int64_t peak_allocated_bytes = 0;  // since start or reset_peak_memory_stats()
  std::int64_t peak_reserved_bytes = 0;
  std::int64_t cache_hits = 0;            // requests served from a free block
  std::int64_t cache_misses = 0;          // requests of a cached size that went to the system
  std::int64_t alloc_retries = 0;         // system refusals that emptied the cache and retried
};

MemoryStats memory_stats();
std::int64_t memory_allocated();
std::int64_t memory_reserved();
std::int64_t max_memory_allocated();
std::int64_t max_memory_reserved();
// Peaks restart from the current values.
void reset_peak_memory_stats();

// Returns every cached block (and tbbmalloc's own caches) to the OS; live tensors are untouched.
void empty_cache();

// The most bytes held (memory_reserved) that the cache may keep; 0 disables caching. Lowering it
// returns cached blocks at once. ValueError if negative.
void set_memory_cache_limit(std::int64_t bytes);
std::int64_t memory_cache_limit();

}  // namespace tapegrad
