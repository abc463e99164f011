#pragma once
// Internal: the one place that decides where float buffers come from (tensor storage and the
// matmul packing scratch). Default: TBB's scalable allocator, which caches freed blocks so the
// tape's per-step temporaries are not page-faulted back in (see tensor_impl.h). With the CMake
// option TAPEGRAD_SYSTEM_ALLOCATOR it is the C library's aligned_alloc instead, so that AddressSanitizer
// sees every allocation: tbbmalloc carves tensors out of its own pools, where ASan can see neither
// a heap overflow nor a use after free.
#include <cstddef>

namespace tapegrad::detail {

// 64-byte aligned (one cache line, one AVX-512 register); `bytes` > 0. Returns nullptr on failure.
void* aligned_allocate(std::size_t bytes) noexcept;
void aligned_free(void* pointer) noexcept;

}  // namespace tapegrad::detail
