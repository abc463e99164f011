#pragma once
// Internal (not installed): when a memory-bound pass over floats (a copy, column sums, a
// packing) is split over threads.
#include <cstdint>

namespace tapegrad::detail {

// 2^18 floats, 1 MB. Each pass that uses it was measured splitting well above it (the sine
// tutorial's 16 MB bias-gradient sums, a large layer's 4 MB bfloat16 weight packing and its
// 52 MB bias rows under bfloat16); below it a
// split was not measured, and the pass is left on one thread.
inline constexpr std::int64_t kParallelStreamFloats = std::int64_t{1} << 18;

}  // namespace tapegrad::detail
