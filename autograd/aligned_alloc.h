#pragma once
// Internal: the one place that decides where float buffers come from (tensor storage and the
// matmul packing scratch): the caching allocator described in autograd/memory.h, backed by TBB's
// scalable allocator. With the CMake option TAPEGRAD_SYSTEM_ALLOCATOR it is backed by the C
// library's aligned_alloc instead and caches nothing unless asked, so that AddressSanitizer sees
// every allocation: tbbmalloc carves tensors out of its own pools, where ASan can see neither a
// heap overflow nor a use after free.
#include <cstddef>

namespace tapegrad::detail {

// 64-byte aligned (one cache line, one AVX-512 register); `bytes` > 0. Returns nullptr on failure
// (after emptying the cache and retrying once).
void* aligned_allocate(std::size_t bytes) noexcept;
// `bytes` must be what aligned_allocate was given for `pointer` (it picks the size class).
void aligned_free(void* pointer, std::size_t bytes) noexcept;

}  // namespace tapegrad::detail
