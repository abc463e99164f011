#include "autograd/aligned_alloc.h"

#include <cstdlib>

#ifndef TAPEGRAD_SYSTEM_ALLOCATOR
#include <tbb/scalable_allocator.h>
#endif

namespace tapegrad::detail {

namespace {
constexpr std::size_t kAlignment = 64;
}

void* aligned_allocate(std::size_t bytes) noexcept {
#ifdef TAPEGRAD_SYSTEM_ALLOCATOR
  // aligned_alloc wants a size that is a multiple of the alignment.
  if (bytes > static_cast<std::size_t>(-1) - (kAlignment - 1)) return nullptr;
  const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  return std::aligned_alloc(kAlignment, rounded);
#else
  return scalable_aligned_malloc(bytes, kAlignment);
#endif
}

void aligned_free(void* pointer) noexcept {
#ifdef TAPEGRAD_SYSTEM_ALLOCATOR
  std::free(pointer);
#else
  scalable_aligned_free(pointer);
#endif
}

}  // namespace tapegrad::detail
